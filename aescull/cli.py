"""The ``aescull`` command. Thin: options in, :func:`aescull.scoring.score_paths` rows out.

Rows go to stdout (or ``--output``); progress, warnings and the summary go to stderr, so
``aescull score ~/Photos > scores.csv`` keeps a clean file. Exit codes: 0 every file scored,
1 some files failed (their rows are still written), 2 usage or setup error (nothing scored).
Heavy imports (torch) happen inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, TextIO

import typer

from aescull import __version__

if TYPE_CHECKING:
    from aescull.scoring import ScoreRecord

app = typer.Typer(
    name="aescull",
    help="Score, rank and cull photos by technical quality, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("aescull")


class Format(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    table = "table"


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
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Photos per model call.")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", min=1, help="Decoding threads [default: CPU cores, at most 4].")]
CacheOpt = Annotated[Optional[Path], typer.Option("--cache", help="Score cache file (default: in the user cache folder).", dir_okay=False)]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the score cache.")]
WeightsOpt = Annotated[
    Optional[Path], typer.Option("--weights", help="Use this checkpoint instead of the bundled weights.", hidden=True, dir_okay=False)
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and decoder details on stderr.")]


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


def _warn(message: str) -> None:
    typer.echo(f"aescull: {message}", err=True)


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
    batch_size: int,
    workers: int | None,
    cache: Path | None,
    no_cache: bool,
    weights: Path | None,
    quiet: bool,
) -> Iterator[ScoreRecord]:
    """Load the model now (a bad --weights fails before any output), then stream the rows,
    warning about each failed file on stderr as it happens."""
    from aescull.cache import default_cache_path
    from aescull.scoring import score_paths
    from aescull.weights import WeightsError, load_model

    try:
        loaded = load_model(weights)
    except WeightsError as error:
        _warn(f"error: {error}")
        raise typer.Exit(2) from error
    cache_file = None if no_cache else (cache or default_cache_path())
    records = score_paths(
        [str(path) for path in (paths or [Path(".")])],
        model=loaded,
        max_side=max_side,
        batch_size=batch_size,
        recursive=recursive,
        cache_file=cache_file,
        **({} if workers is None else {"workers": workers}),
    )
    return _reported(_with_progress(records, show=not quiet and sys.stderr.isatty()))


def _reported(records: Iterator[ScoreRecord]) -> Iterator[ScoreRecord]:
    for record in records:
        if record.error:
            _warn(f"warning: {record.path}: {record.error}")
        yield record


def _write(records: Iterable[ScoreRecord], fmt: Format, output: Path | None) -> None:
    from aescull.writers import open_writer

    with ExitStack() as stack:
        stream: TextIO = stack.enter_context(open(output, "w", encoding="utf-8", newline="")) if output else sys.stdout
        writer = open_writer(fmt.value, stream)
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


@contextmanager
def _guard(debug: bool) -> Iterator[None]:
    """Unexpected errors become one line (a traceback only with --debug); Ctrl-C exits 130."""
    _setup_logging(debug)
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        _warn("interrupted")
        raise typer.Exit(130) from None
    except BrokenPipeError:  # `aescull score | head`: the reader left; that is not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # silence the final flush
        raise typer.Exit(0) from None
    except Exception as error:
        if debug:
            raise
        _warn(f"error: {error} (run with --debug for the traceback)")
        raise typer.Exit(1) from None


@app.command()
def score(
    paths: PathsArg = None,
    fmt: FormatOpt = Format.csv,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    recursive: RecursiveOpt = True,
    max_side: MaxSideOpt = None,
    batch_size: BatchOpt = 8,
    workers: WorkersOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    weights: WeightsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Score photos: one row per file (CSV on stdout by default), in a stable order."""
    started = time.monotonic()
    with _guard(debug):
        tally = _Tally()
        records = _run(paths, recursive=recursive, max_side=max_side, batch_size=batch_size, workers=workers,
                       cache=cache, no_cache=no_cache, weights=weights, quiet=quiet)
        _write(tally.count(records), fmt, output)
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
    batch_size: BatchOpt = 8,
    workers: WorkersOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    weights: WeightsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Rank photos best first (or worst first with --bottom); failed files are listed last."""
    if top is not None and bottom is not None:
        raise typer.BadParameter("use --top or --bottom, not both")
    started = time.monotonic()
    with _guard(debug):
        tally = _Tally()
        records = list(tally.count(_run(paths, recursive=recursive, max_side=max_side, batch_size=batch_size,
                                        workers=workers, cache=cache, no_cache=no_cache, weights=weights, quiet=quiet)))
        _write(order_by_score(records, top=top, bottom=bottom), fmt, output)
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
