"""``aescull report``: one offline HTML contact sheet; it changes no photo."""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from aescull.cli.errors import ExitCode, UsageError, counted, guard, warn
from aescull.cli.options import (
    ActPathsArg,
    ChecksOpt,
    DebugOpt,
    FaceOptions,
    FromOpt,
    GroupingOptions,
    QuietOpt,
    ScoringOptions,
    VerdictOpt,
    VerdictOptions,
    takes,
)
from aescull.cli.run import face_search, judged, scored
from aescull.cli.streams import read_rows, rows_source

if TYPE_CHECKING:
    from aescull.pipeline.decode import Thumbnail

# Up to this many photos the thumbnails are embedded; above it they go to a sibling folder,
# because a 5,000-photo page of data URIs is over 100 MB of HTML to parse before anything shows.
EMBED_LIMIT = 1000


class ThumbnailPlace(str, Enum):
    auto = "auto"
    embed = "embed"
    folder = "folder"


@takes(scoring=ScoringOptions, face_options=FaceOptions, grouping=GroupingOptions, verdict_options=VerdictOptions)
def report(
    paths: ActPathsArg = None,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="The HTML file to write.", dir_okay=False, show_default=False)] = ...,  # type: ignore[assignment]
    from_file: FromOpt = None,
    below: Annotated[
        Optional[float], typer.Option("--below", min=0.0, max=1.0, metavar="T", help="Draw the cull line at T and dim the photos scoring below it.")
    ] = None,
    thumbnails: Annotated[
        ThumbnailPlace,
        typer.Option("--thumbnails", metavar="auto|embed|folder", help=f"Embed thumbnails in the page, or write them to a <report>_thumbs/ folder beside it (auto: embed up to {EMBED_LIMIT:,} photos)."),
    ] = ThumbnailPlace.auto,
    title: Annotated[Optional[str], typer.Option("--title", metavar="TEXT", help="Page title (default: what was scored).")] = None,
    checks: ChecksOpt = False,
    verdict: VerdictOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    *,
    scoring: ScoringOptions,
    face_options: FaceOptions,
    grouping: GroupingOptions,
    verdict_options: VerdictOptions,
) -> None:
    """Write a contact sheet: one offline HTML page with every photo best first, a histogram of scores and the cull line.

    Rows come from scoring PATH... (default: the current folder), from --from FILE, or from stdin when no PATH is given and stdin is not a terminal. Thumbnails are cut from the scoring decode; photos not decoded in this run (cache hits, saved rows) are opened once more in draft mode. Open the page in any browser, offline.

    With --verdict (or rows of `aescull score --verdict`), the picks come first, then the keeps, then the rejects, each tile with its verdict and reasons.
    """
    from aescull.pipeline.local import DEFAULT_WORKERS, THUMBNAIL_SIDE
    from aescull.report.thumbnails import fill_missing_thumbnails
    from aescull.report.tiles import ordered, tile_of
    from aescull.report.write import ReportError, ReportWriter
    from aescull.rows.columns import row_values
    from aescull.rows.read import read_row_dicts

    if not paths and from_file is None and sys.stdin.isatty():
        paths = [Path(".")]  # as `aescull score`: the current folder
    from_file = rows_source(paths, from_file)
    if verdict and from_file is not None:
        raise typer.BadParameter("--verdict judges the photos it scores: saved rows of `aescull score --verdict` show their verdicts as they are")
    started = time.monotonic()
    saved_rows = None if from_file is None else read_rows(from_file, read_row_dicts)
    with guard(debug):
        try:
            writer = ReportWriter(output)
        except ReportError as error:
            raise UsageError(str(error)) from None
        with writer:
            if saved_rows is not None:
                rows = saved_rows
            else:
                assert paths is not None

                def keep(path: Path, thumbnail: Thumbnail) -> None:
                    writer.spool.add(str(path), thumbnail)

                faces = face_search(face_options, verdict, quiet)
                records = scored(paths, scoring, quiet=quiet, on_thumbnail=keep, checks=checks or verdict, faces=faces, signatures=verdict)
                rows = [row_values(record) for record in (judged(records, grouping, verdict_options) if verdict else records)]
            tiles = ordered(tile_of(row) for row in rows)
            pairs = {str(row["path"]): str(row["pair"]) for row in rows if row.get("pair")}
            no_preview = fill_missing_thumbnails(tiles, pairs, writer.spool, THUMBNAIL_SIDE, scoring.workers or DEFAULT_WORKERS,
                                                 lambda message: warn(f"warning: {message}"))
            embed = thumbnails == ThumbnailPlace.embed or (thumbnails == ThumbnailPlace.auto and len(tiles) <= EMBED_LIMIT)
            sources = f"rows from {'stdin' if from_file == '-' else from_file}" if from_file else " ".join(str(path) for path in paths or [])
            try:
                folder = writer.write(tiles, below, title or f"aescull report: {sources}", sources, embed)
            except ReportError as error:
                raise UsageError(str(error)) from None
        failed = sum(tile.error is not None for tile in tiles)
        if not quiet:
            where = f"thumbnails in {folder}" if folder else "thumbnails embedded"
            warn(
                f"report {output}: {counted(len(tiles), 'photo')}" + (f", {failed} failed" if failed else "")
                + (f", {no_preview} without preview" if no_preview else "")
                + f", {where}, {output.stat().st_size / 1e6:.1f} MB in {time.monotonic() - started:.1f} s"
            )
        if failed or no_preview:
            raise typer.Exit(ExitCode.FILES_FAILED)
