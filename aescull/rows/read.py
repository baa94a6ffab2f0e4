"""Rows saved by ``aescull score`` (csv or jsonl, a file or a pipe), read back into records.

The other half of :mod:`aescull.rows.columns`: every column written there is parsed here, so
``cull --from`` and ``report --from`` act on exactly what the user saw.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aescull.rows.record import ScoreRecord
from aescull.judge.thresholds import CHECK_REASONS, FACE_REASONS, VERDICT_REASONS
from aescull.judge.verdict import VERDICTS
from aescull.rows.columns import REASON_COLUMN, REASON_SEPARATOR

if TYPE_CHECKING:  # aescull.judge.checks pulls numpy in, which `aescull --help` does not need
    from aescull.judge.checks import Checks
    from aescull.judge.faces import FaceVerdict


class RowsError(ValueError):
    """Saved rows that cannot be read: the message says which row and why."""


def read_score_rows(text: str) -> list[ScoreRecord]:
    """Rows of ``aescull score --format csv`` or ``--format jsonl`` (told apart by the first character)."""
    return [_record_from(record, number) for number, record in enumerate(read_row_dicts(text), start=1)]


def read_row_dicts(text: str) -> list[dict]:
    """The rows as plain dicts, every column kept (the report shows columns cull does not use); each has a path."""
    stripped = text.lstrip()
    if not stripped:
        return []
    if stripped.startswith("{"):
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise RowsError(f"score rows: line {number} is not JSON: {error}") from None
    else:
        records = list(csv.DictReader(io.StringIO(text)))
        if records and "path" not in records[0]:
            raise RowsError("score rows: expected the csv or jsonl of `aescull score` (no 'path' column found)")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not record.get("path"):
            raise RowsError(f"score rows: row {number} has no path")
    return records


def _record_from(record: dict, number: int) -> ScoreRecord:
    """One row dict (with a path: :func:`read_row_dicts` checked) as the record it was written from."""

    def field_of(name: str) -> str | None:
        value = record.get(name)
        return None if value is None or value == "" else str(value)

    path = str(record["path"])

    def number_of(name: str, kind: type) -> int | float | None:
        value = field_of(name)
        return None if value is None else kind(value)

    pair = field_of("pair")
    try:
        return ScoreRecord(
            path=Path(path),
            score=number_of("score", float),
            width=number_of("width", int),
            height=number_of("height", int),
            taken=field_of("taken"),
            camera=field_of("camera"),
            error=field_of("error"),
            pair=None if pair is None else Path(pair),
            size=number_of("size", int),
            mtime_ns=number_of("mtime_ns", int),
            group=field_of("group"),
            rank_in_group=number_of("rank_in_group", int),
            set_kind=field_of("set"),
            set_id=field_of("set_id"),
            checks=_checks_from(record, number_of),
            faces=_faces_from(record, number_of),
            verdict=_verdict_from(record, path),
            verdict_reasons=_verdict_reasons_from(record),
        )
    except ValueError as error:
        raise RowsError(f"score rows: row {number} ({path}) has a malformed number: {error}") from None


def _verdict_from(record: dict, path: str) -> str | None:
    """The row's verdict; a value aescull never writes is refused, so a cull never guesses what it meant."""
    verdict = record.get("verdict") or None
    if verdict is not None and verdict not in VERDICTS:
        raise RowsError(f"score rows: {path} has verdict {verdict!r}; expected one of {', '.join(VERDICTS)}")
    return verdict


def _verdict_reasons_from(record: dict) -> tuple[str, ...] | None:
    if "verdict_reasons" not in record or not record.get("verdict"):
        return None
    return _reasons_in(record, VERDICT_REASONS, "verdict_reasons")


def _reasons_in(record: dict, known: tuple[str, ...], column: str = REASON_COLUMN) -> tuple[str, ...]:
    """The row's reasons (in ``column``) that are among ``known`` (the checks', the faces' or the verdict's), in their order."""
    reasons = record.get(column) or []
    if isinstance(reasons, str):
        reasons = [reason for reason in reasons.split(REASON_SEPARATOR) if reason]
    return tuple(reason for reason in known if reason in reasons)


def _checks_from(record: dict, number_of: Callable[[str, type], int | float | None]) -> Checks | None:
    """The columns of ``score --checks``; None when the row has none, or its file failed."""
    exposure = number_of("exposure", float)
    if exposure is None or REASON_COLUMN not in record:
        return None
    from aescull.judge.checks import Checks

    return Checks(
        sharpness=number_of("sharpness", float),
        exposure=float(exposure),
        clipped=float(number_of("clipped", float) or 0.0),
        noise=number_of("noise", float),
        reasons=_reasons_in(record, CHECK_REASONS),
    )


def _faces_from(record: dict, number_of: Callable[[str, type], int | float | None]) -> FaceVerdict | None:
    """The columns of ``score --faces`` (the counts, not each face); None when the row has none, or its file failed."""
    count = number_of("faces", int)
    if count is None or REASON_COLUMN not in record:
        return None
    from aescull.judge.faces import FaceVerdict

    closed = number_of("eyes_closed", int) or 0
    return FaceVerdict(int(count), int(closed), number_of("face_sharpness", float), _reasons_in(record, FACE_REASONS), ())
