"""Rows out: CSV and JSON lines for pipelines (one row flushed at a time, so an interrupted
run still ends at a row boundary), Parquet for data tools, a rich table for people."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

if TYPE_CHECKING:  # the writers must not pull torch in just to print rows
    from aescull.scoring import ScoreRecord

COLUMNS = ("path", "score", "width", "height", "taken", "camera", "error", "pair", "size", "mtime_ns")
FORMATS = ("csv", "jsonl", "table", "parquet")


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


class ParquetWriter:
    """The same columns and values as the CSV, typed, in row groups so memory stays bounded on a
    library of millions; needs pyarrow (part of the ``ray`` extra). The file is complete on close."""

    ROWS_PER_GROUP = 50_000

    def __init__(self, stream: BinaryIO) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        text, integer = pa.string(), pa.int64()
        types = {"score": pa.float64(), "width": integer, "height": integer, "size": integer, "mtime_ns": integer}
        self.schema = pa.schema([(name, types.get(name, text)) for name in COLUMNS])
        self.writer = pq.ParquetWriter(stream, self.schema)
        self.rows: list[dict[str, object]] = []

    def write(self, record: ScoreRecord) -> None:
        self.rows.append(_as_dict(record))
        if len(self.rows) >= self.ROWS_PER_GROUP:
            self._flush()

    def close(self) -> None:
        self._flush()
        self.writer.close()

    def _flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []


WRITERS: dict[str, Callable[[Any], CsvWriter | JsonlWriter | TableWriter | ParquetWriter]] = {
    "csv": CsvWriter,
    "jsonl": JsonlWriter,
    "table": TableWriter,
    "parquet": ParquetWriter,
}


def open_writer(fmt: str, stream: TextIO | BinaryIO) -> CsvWriter | JsonlWriter | TableWriter | ParquetWriter:
    return WRITERS[fmt](stream)
