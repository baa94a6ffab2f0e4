"""Rows out: CSV and JSON lines for pipelines (one row flushed at a time, so an interrupted
run still ends at a row boundary), Parquet for data tools, a rich table for people.

The columns of ``--checks`` are only written when the checks ran, so the default output keeps
its shape. ``reasons`` is ``blurry;dark`` in CSV and a list in JSON lines and Parquet; both are
empty for a photo that passed every check, and empty/null for a row whose file failed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from aescull.rows.columns import (
    CHECK_COLUMNS,
    COLUMNS,
    FACE_COLUMNS,
    GROUP_COLUMNS,
    REASON_COLUMN,
    REASON_SEPARATOR,
    VERDICT_COLUMNS,
    columns_for,
    row_values,
)

if TYPE_CHECKING:  # the writers must not pull torch in just to print rows
    from rich.text import Text

    from aescull.rows.record import ScoreRecord

FORMATS = ("csv", "jsonl", "table", "parquet")


def _score_text(score: float | None) -> str:
    return "" if score is None else f"{score:.4f}"


class CsvWriter:
    def __init__(self, stream: TextIO, columns: tuple[str, ...] = COLUMNS) -> None:
        self.stream = stream
        self.columns = columns
        self.writer = csv.writer(stream, lineterminator="\n")
        self.writer.writerow(columns)
        stream.flush()

    def write(self, record: ScoreRecord) -> None:
        row = row_values(record)
        row["score"] = _score_text(record.score)
        for name in (REASON_COLUMN, "verdict_reasons"):
            if row[name] is not None:
                row[name] = REASON_SEPARATOR.join(row[name])  # type: ignore[arg-type]
        self.writer.writerow(["" if row[name] is None else row[name] for name in self.columns])
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class JsonlWriter:
    def __init__(self, stream: TextIO, columns: tuple[str, ...] = COLUMNS) -> None:
        self.stream = stream
        self.columns = columns

    def write(self, record: ScoreRecord) -> None:
        row = row_values(record)
        self.stream.write(json.dumps({name: row[name] for name in self.columns}, ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class TableWriter:
    """A table needs every row to size its columns, so it prints on close. With the group
    columns, a rule separates consecutive groups, so ``rank --groups`` reads as one block per
    moment, and a set's kind and id share one column; the verdict and its reasons share one too."""

    def __init__(self, stream: TextIO, columns: tuple[str, ...] = COLUMNS) -> None:
        self.stream = stream
        self.grouped = all(name in columns for name in GROUP_COLUMNS)
        self.judged = tuple(name for name in columns if name in (*CHECK_COLUMNS, *FACE_COLUMNS, REASON_COLUMN))  # reasons last
        self.verdict = VERDICT_COLUMNS[0] in columns
        self.records: list[ScoreRecord] = []

    def write(self, record: ScoreRecord) -> None:
        self.records.append(record)

    def close(self) -> None:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        from rich import box

        table = Table(box=box.SIMPLE_HEAD if self.grouped else None, header_style="bold")
        columns = [("path", "left"), ("score", "right"), ("size", "right"), ("taken", "left"), ("camera", "left"), ("error", "left")]
        if self.grouped:
            columns[:0] = [("group", "left"), ("rank", "right")]
            columns[-1:-1] = [("set", "left")]
        columns[-1:-1] = [(name, "left" if name == REASON_COLUMN else "right") for name in self.judged]
        if self.verdict:
            columns[-1:-1] = [("verdict", "left")]
        for name, justify in columns:
            table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for position, record in enumerate(self.records):
            size = f"{record.width}×{record.height}" if record.width else ""
            following = self.records[position + 1] if position + 1 < len(self.records) else None
            cells: list[str | Text] = []
            if self.grouped:
                cells += [record.group or "", "" if record.rank_in_group is None else str(record.rank_in_group)]
            cells += [Text(str(record.path)), _score_text(record.score), size, record.taken or "", Text(record.camera or "")]
            if self.grouped:
                cells.append(f"{record.set_kind} {record.set_id or ''}".strip() if record.set_kind else "")
            if self.judged:
                values = row_values(record)
                cells += ["" if values[name] is None else str(values[name]) for name in self.judged[:-1]]
                cells.append(Text(", ".join(record.reasons or ()), style="yellow"))
            if self.verdict:
                cells.append(_verdict_text(record))
            table.add_row(
                *cells,
                Text(record.error or "", style="red"),
                end_section=self.grouped and following is not None and following.group != record.group,
            )
        Console(file=self.stream, soft_wrap=False, width=None if self.stream.isatty() else 200).print(table)
        self.stream.flush()


_VERDICT_STYLES = {"pick": "green", "keep": "", "reject": "red"}


def _verdict_text(record: ScoreRecord) -> Text:
    from rich.text import Text

    if record.verdict is None:
        return Text("")
    reasons = f" ({', '.join(record.verdict_reasons)})" if record.verdict_reasons else ""
    return Text(record.verdict + reasons, style=_VERDICT_STYLES.get(record.verdict, ""))


class ParquetWriter:
    """The same columns and values as the CSV, typed, in row groups so memory stays bounded on a
    library of millions; needs pyarrow (part of the ``ray`` extra). The file is complete on close."""

    ROWS_PER_GROUP = 50_000

    def __init__(self, stream: BinaryIO, columns: tuple[str, ...] = COLUMNS) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.columns = columns
        text, integer, real = pa.string(), pa.int64(), pa.float64()
        types = {
            "score": real, "width": integer, "height": integer, "size": integer, "mtime_ns": integer, "rank_in_group": integer,
            "sharpness": real, "exposure": real, "clipped": real, "noise": real, "reasons": pa.list_(text), "verdict_reasons": pa.list_(text),
            **dict.fromkeys(FACE_COLUMNS[:2], integer), "face_sharpness": real,
        }
        self.schema = pa.schema([(name, types.get(name, text)) for name in columns])
        self.writer = pq.ParquetWriter(stream, self.schema)
        self.rows: list[dict[str, object]] = []

    def write(self, record: ScoreRecord) -> None:
        row = row_values(record)
        self.rows.append({name: row[name] for name in self.columns})
        if len(self.rows) >= self.ROWS_PER_GROUP:
            self._flush()

    def close(self) -> None:
        self._flush()
        self.writer.close()

    def _flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []


WRITERS: dict[str, Callable[[Any, tuple[str, ...]], CsvWriter | JsonlWriter | TableWriter | ParquetWriter]] = {
    "csv": CsvWriter,
    "jsonl": JsonlWriter,
    "table": TableWriter,
    "parquet": ParquetWriter,
}


def open_writer(
    fmt: str, stream: TextIO | BinaryIO, groups: bool = False, checks: bool = False, faces: bool = False, verdict: bool = False
) -> CsvWriter | JsonlWriter | TableWriter | ParquetWriter:
    """The columns of :func:`aescull.rows.columns.columns_for`: those of ``--groups``, ``--checks``,
    ``--faces`` and ``--verdict`` when they ran."""
    return WRITERS[fmt](stream, columns_for(groups, checks, faces, verdict))
