"""Rows out: CSV and JSON lines for pipelines (one row flushed at a time, so an interrupted
run still ends at a row boundary), a rich table for people.

The columns of ``--checks`` are only written when the checks ran, so the default output keeps
its shape. ``reasons`` is ``blurry;dark`` in CSV and a list in JSON lines; both are empty for a
photo that passed every check, and empty/null for a row whose file failed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the writers must not pull torch in just to print rows
    from aescull.scoring import ScoreRecord

COLUMNS = ("path", "score", "width", "height", "taken", "camera", "error", "pair", "size", "mtime_ns")
CHECK_COLUMNS = ("sharpness", "exposure", "clipped", "noise", "reasons")
REASON_SEPARATOR = ";"
FORMATS = ("csv", "jsonl", "table")


def _score_text(score: float | None) -> str:
    return "" if score is None else f"{score:.4f}"


def _as_dict(record: ScoreRecord) -> dict[str, object]:
    return {
        "path": str(record.path),
        "score": None if record.score is None else round(record.score, 4),
        "width": record.width,
        "height": record.height,
        "taken": record.taken,
        "camera": record.camera,
        "error": record.error,
        "pair": None if record.pair is None else str(record.pair),
        "size": record.size,
        "mtime_ns": record.mtime_ns,
    }


def _checks_dict(record: ScoreRecord) -> dict[str, object]:
    checks = record.checks
    if checks is None:
        return dict.fromkeys(CHECK_COLUMNS)
    return {
        "sharpness": checks.sharpness,
        "exposure": checks.exposure,
        "clipped": round(checks.clipped, 4),
        "noise": checks.noise,
        "reasons": list(checks.reasons),
    }


class CsvWriter:
    def __init__(self, stream: TextIO, checks: bool = False) -> None:
        self.stream = stream
        self.checks = checks
        self.columns = COLUMNS + (CHECK_COLUMNS if checks else ())
        self.writer = csv.writer(stream, lineterminator="\n")
        self.writer.writerow(self.columns)
        stream.flush()

    def write(self, record: ScoreRecord) -> None:
        row = _as_dict(record)
        row["score"] = _score_text(record.score)
        if self.checks:
            row.update(_checks_dict(record))
            if row["reasons"] is not None:
                row["reasons"] = REASON_SEPARATOR.join(row["reasons"])  # type: ignore[arg-type]
        self.writer.writerow(["" if row[name] is None else row[name] for name in self.columns])
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class JsonlWriter:
    def __init__(self, stream: TextIO, checks: bool = False) -> None:
        self.stream = stream
        self.checks = checks

    def write(self, record: ScoreRecord) -> None:
        row = _as_dict(record) | (_checks_dict(record) if self.checks else {})
        self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class TableWriter:
    """A table needs every row to size its columns, so it prints on close."""

    def __init__(self, stream: TextIO, checks: bool = False) -> None:
        self.stream = stream
        self.checks = checks
        self.records: list[ScoreRecord] = []

    def write(self, record: ScoreRecord) -> None:
        self.records.append(record)

    def close(self) -> None:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, header_style="bold")
        columns = [("path", "left"), ("score", "right"), ("size", "right"), ("taken", "left"), ("camera", "left"), ("error", "left")]
        if self.checks:
            columns[-1:-1] = [(name, "left" if name == "reasons" else "right") for name in CHECK_COLUMNS]
        for name, justify in columns:
            table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for record in self.records:
            size = f"{record.width}×{record.height}" if record.width else ""
            cells: list[str | Text] = [Text(str(record.path)), _score_text(record.score), size, record.taken or "", Text(record.camera or "")]
            if self.checks:
                checks = _checks_dict(record)
                cells += ["" if checks[name] is None else str(checks[name]) for name in CHECK_COLUMNS[:-1]]
                cells.append(Text(", ".join(checks["reasons"] or ()), style="yellow"))  # type: ignore[arg-type]
            table.add_row(*cells, Text(record.error or "", style="red"))
        Console(file=self.stream, soft_wrap=False, width=None if self.stream.isatty() else 200).print(table)
        self.stream.flush()


WRITERS: dict[str, Callable[[TextIO, bool], CsvWriter | JsonlWriter | TableWriter]] = {
    "csv": CsvWriter,
    "jsonl": JsonlWriter,
    "table": TableWriter,
}


def open_writer(fmt: str, stream: TextIO, checks: bool = False) -> CsvWriter | JsonlWriter | TableWriter:
    """``checks`` adds the columns of :data:`CHECK_COLUMNS`."""
    return WRITERS[fmt](stream, checks)
