"""``aescull review``: the library in the browser, where each shot is confirmed or overridden with a key.

It scores first (the cache first), then serves one page on 127.0.0.1 until Ctrl-C; the server,
its refusals and the page are in :mod:`aescull.review`. Nothing is written until a key is
pressed; then the decision goes into the shot's sidecars as ``aescull tag`` writes them, journaled.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from aescull.cli.errors import ExitCode, UsageError, counted, guard, warn
from aescull.cli.options import (
    ChecksOpt,
    DebugOpt,
    FaceOptions,
    GroupingOptions,
    JournalOpt,
    PathsArg,
    QuietOpt,
    ScoringOptions,
    SidecarStyle,
    SidecarStyleOpt,
    VerdictOpt,
    VerdictOptions,
    takes,
)
from aescull.cli.run import load_weights, score_rows, verdict_rows


@takes(scoring=ScoringOptions, grouping=GroupingOptions, verdict_options=VerdictOptions)
def review(
    paths: PathsArg = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, metavar="N", help="Port on 127.0.0.1 to serve on [default: a free one].", show_default=False)] = 0,
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open a browser: only print the address on stderr.")] = False,
    checks: ChecksOpt = False,
    verdict: VerdictOpt = False,
    sidecar_style: SidecarStyleOpt = SidecarStyle.ext,
    journal: JournalOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    *,
    scoring: ScoringOptions,
    grouping: GroupingOptions,
    verdict_options: VerdictOptions,
) -> None:
    """Review the photos in the browser: P pick, X reject, U unflag, 1-5 stars, Z loupe at 100 %, C compare a burst.

    With --verdict each shot shows its verdict and reasons (docs/verdict.md), and the page can group and filter by it; nothing is written until a key is pressed.

    Scores PATH... (the cache first) and finds its bursts (--burst-window, --similarity, --duplicates), then serves one page on 127.0.0.1 only, behind a secret token in the address it prints on stderr, and opens it in the browser (--no-open: only prints it). Ctrl-C stops it.

    A decision applies to the whole shot (RAW+JPEG): it is written at once into every sidecar of the shot, merged and journaled as `aescull tag` writes them (reject: xmp:Rating -1 and digiKam:PickLabel 1; pick: PickLabel 3; unflag: PickLabel 0; stars: xmp:Rating). The page can also move the rejected shots to _culled as `aescull cull` does. `aescull undo` reverts the review. Nothing is written before a key is pressed.
    """
    from aescull.library.plan import CULLED_FOLDER, is_inside, library_root
    from aescull.library.preflight import Refused, check_writable, existing_paths, typed_root
    from aescull.pipeline.local import DEFAULT_WORKERS, THUMBNAIL_SIDE
    from aescull.review.catalog import Catalog
    from aescull.review.images import Images
    from aescull.review.server import ReviewServer
    from aescull.review.session import Review

    paths = paths or [Path(".")]
    started = time.monotonic()
    with guard(debug):
        try:
            existing_paths(paths)
            root = library_root(paths)
            check_writable("tag", root, None)
        except Refused as error:
            raise UsageError(str(error)) from None
        loaded = load_weights(scoring)
        images = Images(root, THUMBNAIL_SIDE, scoring.workers or DEFAULT_WORKERS)
        try:
            if verdict:
                rows, failed = verdict_rows(paths, scoring, grouping, verdict_options, FaceOptions(), quiet=quiet, loaded=loaded,
                                            on_thumbnail=images.keep)
            else:
                rows, failed = score_rows(paths, scoring, grouping, quiet=quiet, loaded=loaded, checks=checks, on_thumbnail=images.keep)
            catalog = Catalog([row for row in rows if not is_inside(row.path, root / CULLED_FOLDER)], root)
            for path in catalog.outside:
                warn(f"warning: {path}: its file lies outside {root} (a symbolic link); left out of the review")
            if not len(catalog):
                warn(f"nothing to review in {' '.join(str(path) for path in paths)}")
                raise typer.Exit(ExitCode.FILES_FAILED if failed else ExitCode.OK)
            session = Review(catalog, sidecar_style.value, journal, loaded.name, loaded.version, can_apply=typed_root(paths) is not None)
            title = f"aescull review: {' '.join(str(path) for path in paths)}"
            try:
                server = ReviewServer(session, images, title, port)
            except OSError as error:
                raise UsageError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None
            try:
                if not quiet:
                    warn(f"{counted(len(catalog), 'shot')} to review" + (f", {failed} files could not be read" if failed else "")
                         + f", scored in {time.monotonic() - started:.1f} s")
                warn(f"review at {server.url} (Ctrl-C stops it)")
                if not no_open:
                    import webbrowser

                    webbrowser.open(server.url)
                server.serve_forever()
            finally:
                server.server_close()  # nothing listens from here on
                session.close()
                if not quiet:
                    done = f"{counted(session.changes, 'sidecar change')}, {counted(session.moved, 'shot')} moved"
                    warn(f"review stopped: {done}" + (f"; undo with: aescull undo {root}" + (f" --journal {journal}" if journal else "") if session.changes or session.moved else ""))
        finally:
            images.close()
