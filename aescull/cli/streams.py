"""Where rows go (stdout or ``--output``, in a format) and where saved rows come from (``--from``, a pipe)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO, TypeVar

import typer

from aescull.cli.errors import undecodable_names_pass_through
from aescull.cli.options import Format

if TYPE_CHECKING:
    from aescull.rows.record import ScoreRecord

Row = TypeVar("Row")


def output_format(fmt: Format | None, output: Path | None) -> Format:
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


def write_rows(
    records: Iterable[ScoreRecord],
    fmt: Format,
    output: Path | None,
    groups: bool = False,
    checks: bool = False,
    faces: bool = False,
    verdict: bool = False,
) -> None:
    from aescull.rows.write import open_writer

    with ExitStack() as stack:
        if fmt is Format.parquet:
            stream: TextIO | BinaryIO = stack.enter_context(open(output, "wb"))  # type: ignore[arg-type]
        else:
            stream = (
                stack.enter_context(open(output, "w", encoding="utf-8", errors="surrogateescape", newline="")) if output else sys.stdout
            )
        writer = open_writer(fmt.value, stream, groups=groups, checks=checks, faces=faces, verdict=verdict)
        for record in records:
            writer.write(record)
        writer.close()


def rows_source(paths: list[Path] | None, from_file: str | None) -> str | None:
    """Where saved rows come from (``-`` for a pipe), or None to score PATH...; never a guess."""
    if paths and from_file is not None:
        raise typer.BadParameter("give PATH... or --from, not both")
    if not paths and from_file is None:
        if sys.stdin.isatty():
            raise typer.BadParameter("give PATH... to score, --from FILE, or pipe in the rows of `aescull score`")
        return "-"
    return from_file


def read_rows(source: str, parse: Callable[[str], list[Row]]) -> list[Row]:
    """Saved rows from a file or stdin, parsed; a missing file or a malformed row is a usage error."""
    from aescull.rows.read import RowsError

    if source == "-":
        undecodable_names_pass_through(sys.stdin)
        text = sys.stdin.read()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as error:
            raise typer.BadParameter(f"cannot read score rows from {source}: {error.strerror}", param_hint="--from") from None
    try:
        rows = parse(text)
    except RowsError as error:
        raise typer.BadParameter(str(error), param_hint="--from") from None
    if not rows:
        raise typer.BadParameter(f"no score rows in {'stdin' if source == '-' else source}", param_hint="--from")
    return rows
