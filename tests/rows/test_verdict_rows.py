"""The verdict's columns written and read back: what cull --from acts on is what the user saw."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from aescull.rows.read import RowsError, read_score_rows
from aescull.rows.record import ScoreRecord
from aescull.rows.write import open_writer

RECORDS = [
    ScoreRecord(Path("a.jpg"), 0.31, group="g1", rank_in_group=2, verdict="reject", verdict_reasons=("weak", "duplicate")),
    ScoreRecord(Path("b.jpg"), 0.72, group="g1", rank_in_group=1, verdict="pick", verdict_reasons=()),
    ScoreRecord(Path("broken.jpg"), None, error="cannot decode"),
]


def written(fmt: str) -> str:
    stream = io.StringIO()
    writer = open_writer(fmt, stream, groups=True, verdict=True)
    for record in RECORDS:
        writer.write(record)
    writer.close()
    return stream.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_verdicts_survive_a_round_trip(fmt: str) -> None:
    read = read_score_rows(written(fmt))
    assert [(record.verdict, record.verdict_reasons) for record in read] == [("reject", ("weak", "duplicate")), ("pick", ()), (None, None)]


def test_csv_lists_the_reasons_as_the_checks_reasons_are_listed() -> None:
    header, first, *_ = written("csv").splitlines()
    assert header.endswith("verdict,verdict_reasons") and first.endswith("reject,weak;duplicate")


def test_a_verdict_aescull_never_writes_is_refused() -> None:
    with pytest.raises(RowsError, match="maybe"):
        read_score_rows("path,score,verdict,verdict_reasons\na.jpg,0.5,maybe,\n")


def test_the_default_columns_keep_their_shape_without_the_verdict() -> None:
    stream = io.StringIO()
    open_writer("csv", stream).close()
    assert "verdict" not in stream.getvalue()
