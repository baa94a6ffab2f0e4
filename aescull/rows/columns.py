"""The row contract: which columns ``aescull score`` writes, in which order, and each value's form.

Written by :mod:`aescull.rows.write`, read back by :mod:`aescull.rows.read`, shown by the report:
one definition, so a column added here reaches all of them. The columns of ``--groups``,
``--checks`` and ``--faces`` are only written when asked for, so the default output keeps its shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the rows must not pull torch or numpy in just to print
    from aescull.rows.record import ScoreRecord

COLUMNS = ("path", "score", "width", "height", "taken", "camera", "error", "pair", "size", "mtime_ns")
GROUP_COLUMNS = ("group", "rank_in_group")  # appended by --groups (aescull.judge.groups)
# Also appended by --groups (aescull.judge.sets): the kind of set a photo is part of (bracket,
# stack, panorama; empty for none) and the set's id. Two columns, as group and rank_in_group:
# filtering on a kind needs no parsing, and both read the same in CSV, JSON lines and Parquet.
SET_COLUMNS = ("set", "set_id")
CHECK_COLUMNS = ("sharpness", "exposure", "clipped", "noise")  # appended by --checks
FACE_COLUMNS = ("faces", "eyes_closed", "face_sharpness")  # appended by --faces (aescull.judge.faces)
REASON_COLUMN = "reasons"  # what the checks and the faces flagged, after their columns
VERDICT_COLUMNS = ("verdict", "verdict_reasons")  # appended by --verdict (aescull.judge.verdict), last
REASON_SEPARATOR = ";"  # between reasons in CSV; JSON lines and Parquet hold a list


def columns_for(groups: bool = False, checks: bool = False, faces: bool = False, verdict: bool = False) -> tuple[str, ...]:
    """The columns of a run: the default ones, then those of ``--groups`` (groups and sets),
    ``--checks`` and ``--faces``, the reasons when either of those two ran, and the verdict."""
    judged = (CHECK_COLUMNS if checks else ()) + (FACE_COLUMNS if faces else ()) + ((REASON_COLUMN,) if checks or faces else ())
    return COLUMNS + (GROUP_COLUMNS + SET_COLUMNS if groups else ()) + judged + (VERDICT_COLUMNS if verdict else ())


def row_values(record: ScoreRecord) -> dict[str, object]:
    """Every column a record can fill, as the writers print them (score and clipped to 4 decimals)."""
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
        "group": record.group,
        "rank_in_group": record.rank_in_group,
        "set": record.set_kind,
        "set_id": record.set_id,
    } | check_values(record) | face_values(record) | {
        REASON_COLUMN: None if record.reasons is None else list(record.reasons),
        "verdict": record.verdict,
        "verdict_reasons": None if record.verdict_reasons is None else list(record.verdict_reasons),
    }


def check_values(record: ScoreRecord) -> dict[str, object]:
    checks = record.checks
    if checks is None:
        return dict.fromkeys(CHECK_COLUMNS)
    return {"sharpness": checks.sharpness, "exposure": checks.exposure, "clipped": round(checks.clipped, 4), "noise": checks.noise}


def face_values(record: ScoreRecord) -> dict[str, object]:
    faces = record.faces
    if faces is None:
        return dict.fromkeys(FACE_COLUMNS)
    return {"faces": faces.faces, "eyes_closed": faces.eyes_closed, "face_sharpness": faces.face_sharpness}
