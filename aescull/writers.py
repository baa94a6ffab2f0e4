"""Rows out: CSV and JSON lines for pipelines (one row flushed at a time, so an interrupted
run still ends at a row boundary), a rich table for people."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the writers must not pull torch in just to print rows
    from aescull.scoring import ScoreRecord

COLUMNS = ("path", "score", "width", "height", "taken", "camera", "error", "pair", "size", "mtime_ns")
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


class CsvWriter:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.writer = csv.writer(stream, lineterminator="\n")
        self.writer.writerow(COLUMNS)
        stream.flush()

    def write(self, record: ScoreRecord) -> None:
        row = _as_dict(record)
        row["score"] = _score_text(record.score)
        self.writer.writerow(["" if row[name] is None else row[name] for name in COLUMNS])
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class JsonlWriter:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, record: ScoreRecord) -> None:
        self.stream.write(json.dumps(_as_dict(record), ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class TableWriter:
    """A table needs every row to size its columns, so it prints on close."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.records: list[ScoreRecord] = []

    def write(self, record: ScoreRecord) -> None:
        self.records.append(record)

    def close(self) -> None:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, header_style="bold")
        for name, justify in (("path", "left"), ("score", "right"), ("size", "right"), ("taken", "left"), ("camera", "left"), ("error", "left")):
            table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for record in self.records:
            size = f"{record.width}×{record.height}" if record.width else ""
            table.add_row(
                Text(str(record.path)),
                _score_text(record.score),
                size,
                record.taken or "",
                Text(record.camera or ""),
                Text(record.error or "", style="red"),
            )
        Console(file=self.stream, soft_wrap=False, width=None if self.stream.isatty() else 200).print(table)
        self.stream.flush()


WRITERS: dict[str, Callable[[TextIO], CsvWriter | JsonlWriter | TableWriter]] = {
    "csv": CsvWriter,
    "jsonl": JsonlWriter,
    "table": TableWriter,
}


def open_writer(fmt: str, stream: TextIO) -> CsvWriter | JsonlWriter | TableWriter:
    return WRITERS[fmt](stream)
