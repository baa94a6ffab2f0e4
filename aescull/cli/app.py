"""The ``aescull`` command. Thin: options in, :func:`aescull.pipeline.local.score_paths` rows out.

Rows go to stdout (or ``--output``); progress, warnings and the summary go to stderr, so
``aescull score ~/Photos > scores.csv`` keeps a clean file. Exit codes: 0 every file scored,
1 some files failed (their rows are still written), 2 usage or setup error (nothing scored).
Heavy imports (torch) happen inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, Optional, TextIO, TypeVar

import typer

from aescull import __version__

from aescull.library import plan as actions
from aescull.judge.groups import DEFAULT_BURST_WINDOW, DEFAULT_SIMILARITY
from aescull.report.render import EMBED_LIMIT

if TYPE_CHECKING:
    from aescull.pipeline.decode import Thumbnail
    from aescull.rows.record import ScoreRecord
    from aescull.pipeline.local import ThumbnailCallback
    from aescull.model.checkpoint import LoadedModel

app = typer.Typer(
    name="aescull",
    help="Score, rank and cull photos by technical quality, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("aescull")
Row = TypeVar("Row")


class Format(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    table = "table"
    parquet = "parquet"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


PathsArg = Annotated[
    Optional[list[Path]], typer.Argument(help="Photos or folders to score (default: the current folder).", show_default=False)
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write rows to FILE instead of stdout.", dir_okay=False)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary (failures are still reported).")]
RecursiveOpt = Annotated[bool, typer.Option("--recursive/--no-recursive", help="Walk into subfolders.")]
MaxSideOpt = Annotated[
    Optional[int],
    typer.Option("--max-side", min=0, help="Longest side the photo is scaled down to before scoring (default: the model's); 0 = native pixels."),
]
FullDecodeOpt = Annotated[
    bool,
    typer.Option(
        "--full-decode",
        help="Decode JPEGs at full size before scaling them down: slower on large JPEGs, and scores equal a full-resolution "
        "decode's (the default DCT-domain draft decode moves them by up to ~0.01).",
    ),
]
BatchOpt = Annotated[
    Optional[int], typer.Option("--batch-size", min=1, help="Photos of the same shape per model call [default: 1].")
]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", min=1, help="Decoding threads [default: CPU cores, at most 4].")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", min=1, help="Model threads [default: half the CPU cores].")]
CacheOpt = Annotated[Optional[Path], typer.Option("--cache", help="Score cache file (default: in the user cache folder).", dir_okay=False)]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the score cache.")]
WeightsOpt = Annotated[
    Optional[Path], typer.Option("--weights", help="Use this checkpoint instead of the bundled weights.", hidden=True, dir_okay=False)
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and decoder details on stderr.")]
GroupsOpt = Annotated[bool, typer.Option("--groups", help="Find bursts and near-duplicates: add the group and rank_in_group columns.")]
BurstWindowOpt = Annotated[
    float, typer.Option("--burst-window", min=0.0, metavar="S", help="Photos of one moment are taken at most S seconds apart (with --groups).")
]
SimilarityOpt = Annotated[
    float,
    typer.Option(
        "--similarity", min=-1.0, max=1.0,
        help="How alike photos of one moment must look, -1..1: correlation of 8×8 thumbnails minus a colour difference (with --groups).",
    ),
]
DuplicatesOpt = Annotated[
    bool, typer.Option("--duplicates", help="Also group near-identical photos (copies, exports) whatever their capture times (with --groups).")
]
ChecksOpt = Annotated[
    bool,
    typer.Option(
        "--checks",
        help="Also measure focus, exposure and noise at native resolution: columns sharpness, exposure, clipped, noise "
        "and reasons (blurry, dark, bright, noisy). Costs a full-size decode of each JPEG.",
    ),
]
ScoreFormatOpt = Annotated[
    Optional[Format],
    typer.Option("--format", "-f", help="Output format (default: from the --output extension, .jsonl or .parquet, else csv).", show_default=False),
]
EngineOpt = Annotated[
    Engine, typer.Option("--engine", help="local: this machine's cores; ray: a Ray cluster (pip install 'aescull\\[ray]').")
]
AddressOpt = Annotated[
    Optional[str],
    typer.Option("--address", help="Ray cluster address, as `ray start --head` prints it (default: a private Ray on this machine, 127.0.0.1 only)."),
]
ActorsOpt = Annotated[
    Optional[int],
    typer.Option("--actors", min=1, help="Model copies on the Ray cluster (default: its CPUs, less a reserve for reading files)."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aescull {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
) -> None:
    """Score, rank and cull photos by technical quality, offline."""


# A file name may hold a newline or a terminal escape: on stderr it is shown escaped, one line per message.
_CONTROL_CHARACTERS = {code: f"\\x{code:02x}" for code in (*range(32), 127)} | {ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"}


def _warn(message: str) -> None:
    typer.echo(f"aescull: {message.translate(_CONTROL_CHARACTERS)}", err=True)


class _StderrHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        _warn(("warning: " if record.levelno >= logging.WARNING else "") + self.format(record))


def _setup_logging(debug: bool) -> None:
    log.handlers[:] = [_StderrHandler()]
    log.setLevel(logging.DEBUG if debug else logging.WARNING)
    log.propagate = False


def _with_progress(records: Iterator[ScoreRecord], show: bool) -> Iterator[ScoreRecord]:
    """A progress bar on stderr, only when a person is watching it."""
    if not show:
        yield from records
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("scoring", total=None)
        for record in records:
            progress.advance(task)
            yield record


def _run(
    paths: list[Path] | None,
    *,
    recursive: bool,
    max_side: int | None,
    batch_size: int | None,
    workers: int | None,
    full_decode: bool = False,
    threads: int | None,
    cache: Path | None,
    no_cache: bool,
    weights: Path | None,
    quiet: bool,
    loaded: LoadedModel | None = None,
    on_thumbnail: ThumbnailCallback | None = None,
    signatures: bool = False,
    checks: bool = False,
    engine: Engine = Engine.local,
    address: str | None = None,
    actors: int | None = None,
) -> Iterator[ScoreRecord]:
    """Load the model now (a bad --weights fails before any output), then stream the rows,
    warning about each failed file on stderr as it happens."""
    import torch

    from aescull.pipeline.cache import default_cache_path
    from aescull.pipeline.local import DEFAULT_THREADS, score_paths

    torch.set_num_threads(threads or DEFAULT_THREADS)
    loaded = loaded or _load(weights)
    cache_file = None if no_cache else (cache or default_cache_path())
    targets = [str(path) for path in (paths or [Path(".")])]
    if engine is Engine.ray:
        records = _ray_records(targets, loaded, max_side, batch_size, recursive, cache_file, address, actors, full_decode)
    else:
        records = score_paths(
            targets,
            model=loaded,
            max_side=max_side,
            full_decode=full_decode,
            recursive=recursive,
            cache_file=cache_file,
            on_thumbnail=on_thumbnail,
            signatures=signatures,
            checks=checks,
            **({} if batch_size is None else {"batch_size": batch_size}),
            **({} if workers is None else {"workers": workers}),
        )
    return _reported(_with_progress(records, show=not quiet and sys.stderr.isatty()))


def _reported(records: Iterator[ScoreRecord]) -> Iterator[ScoreRecord]:
    for record in records:
        if record.error:
            _warn(f"warning: {record.path}: {record.error}")
        yield record


def _ray_records(
    targets: list[str], loaded: LoadedModel, max_side: int | None, batch_size: int | None, recursive: bool,
    cache_file: Path | None, address: str | None, actors: int | None, full_decode: bool,
) -> Iterator[ScoreRecord]:
    """Ray is reached before any output, so a missing extra or a wrong --address exits 2 with no rows."""
    from aescull.pipeline.ray import EngineError, connect, score_paths_ray
    from aescull.pipeline.local import DEFAULT_BATCH_SIZE

    try:
        connect(address)
    except EngineError as error:
        _warn(f"error: {error}")
        raise typer.Exit(2) from error
    return score_paths_ray(targets, model=loaded, max_side=max_side, batch_size=batch_size or DEFAULT_BATCH_SIZE, recursive=recursive,
                           cache_file=cache_file, address=address, actors=actors, full_decode=full_decode)


def _load(weights: Path | None) -> LoadedModel:
    from aescull.model.checkpoint import WeightsError, load_model

    try:
        return load_model(weights)
    except WeightsError as error:
        _warn(f"error: {error}")
        raise typer.Exit(2) from error


def _output_format(fmt: Format | None, output: Path | None) -> Format:
    """An explicit --format wins; else the --output extension decides. Parquet is binary: a file only."""
    suffix = output.suffix.lower() if output else ""
    chosen = fmt or {".parquet": Format.parquet, ".jsonl": Format.jsonl}.get(suffix, Format.csv)
    if chosen is Format.parquet:
        import importlib.util

        if output is None:
            raise typer.BadParameter("parquet output needs --output FILE.parquet", param_hint="--format")
        if importlib.util.find_spec("pyarrow") is None:
            raise typer.BadParameter("parquet output needs pyarrow: pip install pyarrow (aescull[ray] includes it)", param_hint="--format")
    return chosen


def _write(records: Iterable[ScoreRecord], fmt: Format, output: Path | None, groups: bool = False, checks: bool = False) -> None:
    from aescull.rows.write import open_writer

    with ExitStack() as stack:
        if fmt is Format.parquet:
            stream: TextIO | BinaryIO = stack.enter_context(open(output, "wb"))  # type: ignore[arg-type]
        else:
            stream = (
                stack.enter_context(open(output, "w", encoding="utf-8", errors="surrogateescape", newline="")) if output else sys.stdout
            )
        writer = open_writer(fmt.value, stream, groups=groups, checks=checks)
        for record in records:
            writer.write(record)
        writer.close()


class _Tally:
    """Counts rows as they stream past, for the summary line and the exit code."""

    def __init__(self) -> None:
        self.total = self.failed = self.cached = 0

    def count(self, records: Iterable[ScoreRecord]) -> Iterator[ScoreRecord]:
        for record in records:
            self.total += 1
            self.failed += record.error is not None
            self.cached += record.cached
            yield record

    def finish(self, started: float, quiet: bool) -> None:
        if not quiet:
            _warn(
                f"{self.total - self.failed} of {self.total} files scored"
                + (f", {self.failed} failed" if self.failed else "")
                + (f", {self.cached} from cache" if self.cached else "")
                + f" in {time.monotonic() - started:.1f} s"
            )
        if self.failed:
            raise typer.Exit(1)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that the same clean-up runs (the cache commits,
    the lock is released, a half-written temp file is removed)."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def _undecodable_names_pass_through(stream: object) -> None:
    """A file name that is not valid UTF-8 (Latin-1 from an old backup) is written as its own
    bytes, as ``ls`` does, instead of killing the run with a UnicodeEncodeError."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="surrogateescape")


@contextmanager
def _guard(debug: bool) -> Iterator[None]:
    """Unexpected errors become one line (a traceback only with --debug); Ctrl-C exits 130, SIGTERM 143."""
    _setup_logging(debug)
    _undecodable_names_pass_through(sys.stdout)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt as interruption:
        terminated = isinstance(interruption, _Terminated)
        _warn("terminated" if terminated else "interrupted")
        raise typer.Exit(128 + (signal.SIGTERM if terminated else signal.SIGINT)) from None
    except BrokenPipeError:  # `aescull score | head`: the reader left; that is not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # silence the final flush
        raise typer.Exit(0) from None
    except Exception as error:
        if debug:
            raise
        _warn(f"error: {error} (run with --debug for the traceback)")
        raise typer.Exit(1) from None
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@app.command()
def score(
    paths: PathsArg = None,
    fmt: ScoreFormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    recursive: RecursiveOpt = True,
    max_side: MaxSideOpt = None,
    full_decode: FullDecodeOpt = False,
    batch_size: BatchOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    weights: WeightsOpt = None,
    debug: DebugOpt = False,
    groups: GroupsOpt = False,
    burst_window: BurstWindowOpt = DEFAULT_BURST_WINDOW,
    similarity: SimilarityOpt = DEFAULT_SIMILARITY,
    duplicates: DuplicatesOpt = False,
    checks: ChecksOpt = False,
    engine: EngineOpt = Engine.local,
    address: AddressOpt = None,
    actors: ActorsOpt = None,
) -> None:
    """Score photos: one row per file (CSV on stdout by default), in a stable order.

    With --groups, photos of one moment (taken within --burst-window seconds and alike, or with --duplicates near-identical at any time) share a `group` id, and `rank_in_group` 1 is the best of each; rows are printed once all are scored.

    With --engine ray the same rows, in the same order, come from a Ray cluster (--address), or from a private Ray on this machine.
    """
    if engine is Engine.local and (address is not None or actors is not None):
        raise typer.BadParameter("--address and --actors need --engine ray")
    if engine is Engine.ray and (groups or checks):
        raise typer.BadParameter("--groups and --checks run on the local engine only, not with --engine ray")
    fmt = _output_format(fmt, output)
    started = time.monotonic()
    with _guard(debug):
        tally = _Tally()
        records = _run(paths, recursive=recursive, max_side=max_side, full_decode=full_decode, batch_size=batch_size, workers=workers, threads=threads,
                       cache=cache, no_cache=no_cache, weights=weights, quiet=quiet, signatures=groups, checks=checks,
                       engine=engine, address=address, actors=actors)
        if groups:
            from aescull.judge.groups import group_records

            records = iter(group_records(list(records), burst_window, similarity, duplicates))
        _write(tally.count(records), fmt, output, groups=groups, checks=checks)
        tally.finish(started, quiet)


@app.command()
def rank(
    paths: PathsArg = None,
    top: Annotated[Optional[int], typer.Option("--top", min=1, help="Only the N best photos.")] = None,
    bottom: Annotated[Optional[int], typer.Option("--bottom", min=1, help="Only the N worst photos, worst first.")] = None,
    fmt: FormatOpt = Format.csv,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    recursive: RecursiveOpt = True,
    max_side: MaxSideOpt = None,
    full_decode: FullDecodeOpt = False,
    batch_size: BatchOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    weights: WeightsOpt = None,
    debug: DebugOpt = False,
    groups: GroupsOpt = False,
    burst_window: BurstWindowOpt = DEFAULT_BURST_WINDOW,
    similarity: SimilarityOpt = DEFAULT_SIMILARITY,
    duplicates: DuplicatesOpt = False,
    checks: ChecksOpt = False,
) -> None:
    """Rank photos best first (or worst first with --bottom); failed files are listed last.

    With --groups, whole groups are ranked by their best photo, each group best first; --top/--bottom then count groups.
    """
    if top is not None and bottom is not None:
        raise typer.BadParameter("use --top or --bottom, not both")
    started = time.monotonic()
    with _guard(debug):
        tally = _Tally()
        records = list(tally.count(_run(paths, recursive=recursive, max_side=max_side, full_decode=full_decode, batch_size=batch_size, workers=workers,
                                        threads=threads, cache=cache, no_cache=no_cache, weights=weights, quiet=quiet,
                                        signatures=groups, checks=checks)))
        if groups:
            from aescull.judge.groups import group_records, order_by_group

            ordered = order_by_group(group_records(records, burst_window, similarity, duplicates), top=top, bottom=bottom)
        else:
            ordered = order_by_score(records, top=top, bottom=bottom)
        _write(ordered, fmt, output, groups=groups, checks=checks)
        tally.finish(started, quiet)


def order_by_score(records: list[ScoreRecord], top: int | None = None, bottom: int | None = None) -> list[ScoreRecord]:
    """Best first; with ``bottom`` worst first. Ties keep discovery order. Failures go last and
    are left out of a ``--top``/``--bottom`` selection (they were warned about already)."""
    scored = [record for record in records if record.score is not None]
    failed = [record for record in records if record.score is None]
    worst_first = bottom is not None
    scored.sort(key=lambda record: record.score if worst_first else -record.score)  # type: ignore[operator]
    if top is not None:
        return scored[:top]
    if bottom is not None:
        return scored[:bottom]
    return scored + failed


# ---------------------------------------------------------------- cull, tag, undo


class SidecarStyle(str, Enum):
    ext = "ext"
    stem = "stem"


SidecarStyleOpt = Annotated[
    SidecarStyle, typer.Option("--sidecar-style", help="IMG.jpg.xmp (ext: darktable, digiKam) or IMG.xmp (stem: Lightroom, Capture One).")
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the plan on stdout and change nothing.")]
JournalOpt = Annotated[
    Optional[Path], typer.Option("--journal", help="Journal file (default: <library root>/.aescull-journal.jsonl).", dir_okay=False)
]
ActPathsArg = Annotated[Optional[list[Path]], typer.Argument(help="Photos or folders to score and act on.", show_default=False)]
FromOpt = Annotated[Optional[str], typer.Option("--from", help="Read rows of `aescull score` (csv or jsonl) from FILE, or - for stdin.")]


def _score_rows(paths: list[Path], grouping: tuple[float, float, bool] | None = None, **scoring: object) -> tuple[list[ScoreRecord], int]:
    """Score ``paths`` now (and group them, given (window, similarity, duplicates)); rows with
    errors were already warned about, so they are counted, not kept."""
    records: Iterable[ScoreRecord] = _run(paths, signatures=grouping is not None, **scoring)  # type: ignore[arg-type]
    if grouping is not None:
        from aescull.judge.groups import group_records

        records = group_records(list(records), *grouping)
    rows, failed = [], 0
    for record in records:
        if record.error:
            failed += 1
            continue
        rows.append(record)
    return rows, failed


def _rows_source(paths: list[Path] | None, from_file: str | None) -> str | None:
    """Where saved rows come from (``-`` for a pipe), or None to score PATH...; never a guess."""
    if paths and from_file is not None:
        raise typer.BadParameter("give PATH... or --from, not both")
    if not paths and from_file is None:
        if sys.stdin.isatty():
            raise typer.BadParameter("give PATH... to score, --from FILE, or pipe in the rows of `aescull score`")
        return "-"
    return from_file


def _parse_reject(text: str | None) -> frozenset[str]:
    """``blurry,dark`` -> the reasons; an unknown name is a usage error, not a silent no-op."""
    if text is None:
        return frozenset()
    from aescull.judge.checks import REASONS

    reasons = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = sorted(reasons - set(REASONS))
    if unknown or not reasons:
        raise typer.BadParameter(
            f"unknown reason {', '.join(unknown) or repr(text)}; choose from {', '.join(REASONS)}", param_hint="--reject"
        )
    return reasons


def _rows_from(source: str, parse: Callable[[str], list[Row]] = actions.read_score_rows) -> list[Row]:  # type: ignore[assignment]
    if source == "-":
        _undecodable_names_pass_through(sys.stdin)
        text = sys.stdin.read()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as error:
            raise typer.BadParameter(f"cannot read score rows from {source}: {error.strerror}", param_hint="--from") from None
    try:
        rows = parse(text)
    except actions.ActionError as error:
        raise typer.BadParameter(str(error), param_hint="--from") from None
    if not rows:
        raise typer.BadParameter(f"no score rows in {'stdin' if source == '-' else source}", param_hint="--from")
    return rows


def _report(plan: actions.Plan, outcome: actions.Outcome | None) -> None:
    for message in plan.refused + (outcome.failures if outcome else []):
        _warn(f"warning: {message}")


def _print_plan(plan: actions.Plan) -> None:
    for operation in plan.operations:
        typer.echo(operation.describe())


@app.command()
def cull(
    paths: ActPathsArg = None,
    below: Annotated[Optional[float], typer.Option("--below", help="Cull shots scoring below T (0..1).")] = None,
    bottom: Annotated[Optional[str], typer.Option("--bottom", help="Cull the N lowest shots, or the lowest P% (e.g. 10%).")] = None,
    keep_best: Annotated[
        Optional[int], typer.Option("--keep-best", min=1, help="Cull all but the N best shots of each burst or near-duplicate group (with --below: and those below T too).")
    ] = None,
    reject: Annotated[
        Optional[str],
        typer.Option(
            "--reject",
            help="Also cull shots flagged for any of these reasons (comma-separated: blurry, dark, bright, noisy); "
            "scores with --checks, or needs rows of `aescull score --checks`.",
        ),
    ] = None,
    per_folder: Annotated[bool, typer.Option("--per-folder", help="Apply --bottom in each folder separately.")] = False,
    move_to: Annotated[Optional[Path], typer.Option("--move-to", help="Move culled shots here (default: <library root>/_culled).", file_okay=False)] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Copy culled shots instead of moving them.")] = False,
    tag: Annotated[bool, typer.Option("--tag", help="Mark culled photos rejected in their sidecars instead of moving.")] = False,
    list_only: Annotated[bool, typer.Option("--list", help="Only print the culled rows (csv/jsonl/table on stdout).")] = False,
    dry_run: DryRunOpt = False,
    from_file: FromOpt = None,
    sidecar_style: SidecarStyleOpt = SidecarStyle.ext,
    journal: JournalOpt = None,
    fmt: FormatOpt = Format.csv,
    quiet: QuietOpt = False,
    recursive: RecursiveOpt = True,
    max_side: MaxSideOpt = None,
    full_decode: FullDecodeOpt = False,
    batch_size: BatchOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    weights: WeightsOpt = None,
    debug: DebugOpt = False,
    burst_window: BurstWindowOpt = DEFAULT_BURST_WINDOW,
    similarity: SimilarityOpt = DEFAULT_SIMILARITY,
    duplicates: DuplicatesOpt = False,
) -> None:
    """Move (or copy, tag, list) the weakest shots; a RAW+JPEG pair, its sidecars and companions go together.

    Rows come from scoring PATH..., or from --from FILE, or from stdin when no PATH is given and stdin is not a terminal (`aescull score ~/Photos | aescull cull --below 0.4`). Saved rows whose file changed since scoring are refused. Every change is journaled: `aescull undo` reverts it.

    --keep-best N keeps the N best shots of each moment (bursts found as by `score --groups`, with --burst-window, --similarity, --duplicates; saved rows must come from `aescull score --groups`).

    --reject blurry,dark culls the shots flagged for those reasons, alone or on top of --below/--bottom (a shot is culled when either picks it).
    """
    from aescull.judge.decide import CullRule, parse_bottom

    if below is not None and bottom is not None:
        raise typer.BadParameter("give one of --below T or --bottom N|P%, not both")
    if keep_best is not None and bottom is not None:
        raise typer.BadParameter("--keep-best combines with --below, not with --bottom")
    if below is None and bottom is None and reject is None and keep_best is None:
        raise typer.BadParameter("give --below T, --bottom N|P%, --reject REASONS or --keep-best N")
    rejected = _parse_reject(reject)
    try:
        if below is not None:
            rule: CullRule | None = CullRule(below=below, reject=rejected)
        elif bottom is not None:
            rule = replace(parse_bottom(bottom), reject=rejected)
        else:
            rule = CullRule(reject=rejected) if rejected else None
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if copy + tag + list_only > 1 or (move_to is not None and (tag or list_only)):
        raise typer.BadParameter("choose one action: --move-to/--copy (move or copy), --tag or --list")
    from_file = _rows_source(paths, from_file)
    action = "copy" if copy else "tag" if tag else "list" if list_only else "move"
    started = time.monotonic()
    saved_rows = None if from_file is None else _rows_from(from_file)
    if saved_rows is not None and keep_best is not None and any(row.error is None and row.group is None for row in saved_rows):
        raise typer.BadParameter("--keep-best needs the rows' group column: save them with `aescull score --groups`", param_hint="--from")
    if rejected and saved_rows is not None and any(row.checks is None and row.error is None for row in saved_rows):
        raise typer.BadParameter("--reject needs rows with reasons: score them with `aescull score --checks`", param_hint="--from")
    with _guard(debug):
        if saved_rows is not None:
            rows, failed = saved_rows, 0
            root = actions.library_root([row.path for row in rows])
        else:
            assert paths is not None
            grouping = None if keep_best is None else (burst_window, similarity, duplicates)
            rows, failed = _score_rows(paths, grouping, recursive=recursive, max_side=max_side, full_decode=full_decode, batch_size=batch_size, workers=workers,
                                       threads=threads, cache=cache, no_cache=no_cache, weights=weights, quiet=quiet,
                                       checks=bool(rejected))
            root = actions.library_root(paths)
        destination = (move_to or root / actions.CULLED_FOLDER).absolute()

        def make_plan() -> actions.Plan:
            return actions.plan_cull(rows, rule, root, action, destination, per_folder=per_folder,
                                     check_staleness=from_file is not None, sidecar_style=sidecar_style.value, keep_best=keep_best)

        outcome = None
        if action == "list" or dry_run:
            plan = make_plan()
            if action == "list":
                listed = [row for shot in plan.culled for row in shot.rows]
                _write(listed, fmt, None, groups=keep_best is not None, checks=any(row.checks is not None for row in rows))  # type: ignore[arg-type]
            else:
                _print_plan(plan)
        else:
            journal_file = journal or root / actions.JOURNAL_NAME
            with _library_lock(root):
                plan = make_plan()
                outcome = actions.execute(plan.operations, actions.Journal(journal_file), "cull")
        _report(plan, outcome)
        if not quiet:
            if action == "list":
                where = f"{sum(len(shot.rows) for shot in plan.culled)} photos listed"
            else:
                n_files = sum(operation.kind != "mkdir" for operation in plan.operations)
                where = {
                    "move": f"{n_files} files {'to move' if dry_run else 'moved'} to {destination}",
                    "copy": f"{n_files} files {'to copy' if dry_run else 'copied'} to {destination}",
                    "tag": f"{n_files} sidecars {'to mark' if dry_run else 'marked'} rejected",
                }[action]
            summary = f"kept {len(plan.kept)} shots, culled {len(plan.culled)} ({where})"
            if dry_run and action != "list":
                summary += "; dry run: nothing changed"
            elif outcome is not None and outcome.done:
                summary += f" in {time.monotonic() - started:.1f} s; undo with: aescull undo {_undo_hint(root, journal)}"
            _warn(summary)
        if failed or plan.refused or (outcome and outcome.failures):
            raise typer.Exit(1)


@app.command()
def tag(
    paths: ActPathsArg = None,
    reject_below: Annotated[Optional[float], typer.Option("--reject-below", help="Rate photos scoring below T as rejected (-1).")] = None,
    pick_labels: Annotated[bool, typer.Option("--pick-labels", help="Also write digiKam:PickLabel (1 rejected, 3 accepted).")] = False,
    sidecar_style: SidecarStyleOpt = SidecarStyle.ext,
    dry_run: DryRunOpt = False,
    journal: JournalOpt = None,
    quiet: QuietOpt = False,
    recursive: RecursiveOpt = True,
    max_side: MaxSideOpt = None,
    full_decode: FullDecodeOpt = False,
    batch_size: BatchOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    weights: WeightsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Write each photo's rating into its XMP sidecar (merged, never clobbered; undo with `aescull undo`).

    Stars are equal-width bins of the score: 0-0.2 is 1 star ... 0.8-1 is 5 stars; -1 (rejected) below --reject-below. The raw score and the model go into the aescull: namespace.
    """
    if not paths:
        raise typer.BadParameter("give the photos or folders to tag (e.g. `aescull tag .`)")
    started = time.monotonic()
    with _guard(debug):
        loaded = _load(weights)
        rows, failed = _score_rows(paths, recursive=recursive, max_side=max_side, full_decode=full_decode, batch_size=batch_size, workers=workers, threads=threads,
                                   cache=cache, no_cache=no_cache, weights=weights, quiet=quiet, loaded=loaded)
        root = actions.library_root(paths)

        def make_plan() -> actions.Plan:
            return actions.plan_tag(rows, reject_below=reject_below, pick_labels=pick_labels, sidecar_style=sidecar_style.value,
                                    model_name=loaded.name, model_version=loaded.version)

        outcome = None
        if dry_run:
            plan = make_plan()
            _print_plan(plan)
        else:
            with _library_lock(root):
                plan = make_plan()
                outcome = actions.execute(plan.operations, actions.Journal(journal or root / actions.JOURNAL_NAME), "tag")
        _report(plan, outcome)
        if not quiet:
            summary = f"{len(plan.operations)} sidecars {'to write' if dry_run else 'written'}"
            summary += f", {len(plan.refused)} refused" if plan.refused else ""
            if dry_run:
                summary += "; dry run: nothing changed"
            elif outcome is not None and outcome.done:
                summary += f" in {time.monotonic() - started:.1f} s; undo with: aescull undo {_undo_hint(root, journal)}"
            _warn(summary)
        if failed or plan.refused or (outcome and outcome.failures):
            raise typer.Exit(1)


@app.command()
def undo(
    path: Annotated[Optional[Path], typer.Argument(help="The library root the run worked in (default: the current folder).", show_default=False)] = None,
    journal: JournalOpt = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Revert every run in the journal, newest first.")] = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Revert the last cull or tag run: files back to their exact paths, sidecars to their exact bytes."""
    root = (path or Path(".")).absolute()
    journal_file = journal or root / actions.JOURNAL_NAME
    with _guard(debug):
        if not journal_file.exists():
            _warn(f"nothing to undo: no journal at {journal_file}")
            return
        with _library_lock(root):
            outcomes = actions.undo(actions.Journal(journal_file), all_runs)
        for outcome in outcomes:
            for message in outcome.failures:
                _warn(f"warning: {message}")
            if not quiet:
                state = "partly undone (run undo again once the above is resolved)" if outcome.failures else "undone"
                _warn(f"run {outcome.run} {state}: {outcome.done} changes reverted")
        if not outcomes and not quiet:
            _warn(f"nothing to undo in {journal_file}")
        if any(outcome.failures for outcome in outcomes):
            raise typer.Exit(1)


@contextmanager
def _library_lock(root: Path) -> Iterator[None]:
    try:
        with actions.library_lock(root):
            yield
    except actions.LibraryLocked as error:
        _warn(f"error: {error}")
        raise typer.Exit(2) from None


def _undo_hint(root: Path, journal: Path | None) -> str:
    return f"{root}" + (f" --journal {journal}" if journal else "")


# ---------------------------------------------------------------- report


class ThumbnailPlace(str, Enum):
    auto = "auto"
    embed = "embed"
    folder = "folder"


def _report_rows(text: str) -> list[dict]:
    rows = actions.read_row_dicts(text)
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not row.get("path"):
            raise actions.ActionError(f"score rows: row {number} has no path")
    return rows


@app.command()
def report(
    paths: ActPathsArg = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.", dir_okay=False, show_default=False)] = ...,  # type: ignore[assignment]
    from_file: FromOpt = None,
    below: Annotated[
        Optional[float], typer.Option("--below", min=0.0, max=1.0, help="Draw the cull line at T and dim the photos scoring below it.")
    ] = None,
    thumbnails: Annotated[
        ThumbnailPlace,
        typer.Option("--thumbnails", help=f"Embed thumbnails in the page, or write them to a <report>_thumbs/ folder beside it (auto: embed up to {EMBED_LIMIT:,} photos)."),
    ] = ThumbnailPlace.auto,
    title: Annotated[Optional[str], typer.Option("--title", help="Page title (default: what was scored).")] = None,
    checks: ChecksOpt = False,
    quiet: QuietOpt = False,
    recursive: RecursiveOpt = True,
    max_side: MaxSideOpt = None,
    full_decode: FullDecodeOpt = False,
    batch_size: BatchOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    weights: WeightsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Write a contact sheet: one offline HTML page with every photo best first, a histogram of scores and the cull line.

    Rows come from scoring PATH..., from --from FILE, or from stdin when no PATH is given and stdin is not a terminal. Thumbnails are cut from the scoring decode; photos not decoded in this run (cache hits, saved rows) are opened once more in draft mode. Open the page in any browser, offline.
    """
    from aescull.report import render as sheet
    from aescull.pipeline.local import DEFAULT_WORKERS, THUMBNAIL_SIDE

    from_file = _rows_source(paths, from_file)
    started = time.monotonic()
    saved_rows = None if from_file is None else _rows_from(from_file, _report_rows)
    with _guard(debug):
        try:
            writer = sheet.ReportWriter(output)
        except sheet.ReportError as error:
            _warn(f"error: {error}")
            raise typer.Exit(2) from None
        with writer:
            if saved_rows is not None:
                rows = saved_rows
            else:
                assert paths is not None

                def keep(path: Path, thumbnail: Thumbnail) -> None:
                    writer.spool.add(str(path), thumbnail)

                records = _run(paths, recursive=recursive, max_side=max_side, full_decode=full_decode, batch_size=batch_size, workers=workers, threads=threads,
                               cache=cache, no_cache=no_cache, weights=weights, quiet=quiet, on_thumbnail=keep, checks=checks)
                rows = [sheet.record_row(record) for record in records]
            tiles = sheet.ordered(sheet.tile_of(row) for row in rows)
            pairs = {str(row["path"]): str(row["pair"]) for row in rows if row.get("pair")}
            no_preview = sheet.fill_missing_thumbnails(tiles, pairs, writer.spool, THUMBNAIL_SIDE, workers or DEFAULT_WORKERS,
                                                       lambda message: _warn(f"warning: {message}"))
            embed = thumbnails == ThumbnailPlace.embed or (thumbnails == ThumbnailPlace.auto and len(tiles) <= sheet.EMBED_LIMIT)
            sources = f"rows from {'stdin' if from_file == '-' else from_file}" if from_file else " ".join(str(path) for path in paths or [])
            try:
                folder = writer.write(tiles, below, title or f"aescull report: {sources}", sources, embed)
            except sheet.ReportError as error:
                _warn(f"error: {error}")
                raise typer.Exit(2) from None
        failed = sum(tile.error is not None for tile in tiles)
        if not quiet:
            where = f"thumbnails in {folder}" if folder else "thumbnails embedded"
            _warn(
                f"report {output}: {len(tiles)} photos" + (f", {failed} failed" if failed else "")
                + (f", {no_preview} without preview" if no_preview else "")
                + f", {where}, {output.stat().st_size / 1e6:.1f} MB in {time.monotonic() - started:.1f} s"
            )
        if failed or no_preview:
            raise typer.Exit(1)
