from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from aescull.rows.record import ScoreRecord
from aescull.rows.columns import COLUMNS
from aescull.rows.write import open_writer

RECORDS = [
    ScoreRecord(Path("a, b/ü.jpg"), 0.123456, 4000, 3000, "2023-05-01T14:03:22", "Canon EOS R5", None, Path("a, b/ü.CR2"), 10, 20),
    ScoreRecord(Path("bad.jpg"), None, error="truncated file: image data ends early", size=0, mtime_ns=5),
]


def render(fmt: str) -> str:
    stream = io.StringIO()
    writer = open_writer(fmt, stream)
    for record in RECORDS:
        writer.write(record)
    writer.close()
    return stream.getvalue()


def test_csv_header_four_decimals_and_quoting() -> None:
    rows = list(csv.reader(io.StringIO(render("csv"))))
    assert tuple(rows[0]) == COLUMNS
    assert rows[0][:7] == ["path", "score", "width", "height", "taken", "camera", "error"]
    assert rows[1] == ["a, b/ü.jpg", "0.1235", "4000", "3000", "2023-05-01T14:03:22", "Canon EOS R5", "", "a, b/ü.CR2", "10", "20"]
    assert rows[2] == ["bad.jpg", "", "", "", "", "", "truncated file: image data ends early", "", "0", "5"]


def test_jsonl_one_object_per_line_with_nulls() -> None:
    lines = [json.loads(line) for line in render("jsonl").splitlines()]
    assert lines[0]["score"] == 0.1235 and lines[0]["path"] == "a, b/ü.jpg"
    assert lines[1]["score"] is None and lines[1]["error"].startswith("truncated")
    assert list(lines[0]) == list(COLUMNS)


def test_table_lists_every_row() -> None:
    text = render("table")
    assert "0.1235" in text and "4000×3000" in text and "bad.jpg" in text and "truncated" in text
    assert "\x1b[" not in text  # no colour codes when not writing to a terminal
