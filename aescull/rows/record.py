"""One row of ``aescull score``: what scoring yields and what cull, tag and the writers read back.

A single torch-free type, so rows scored now and rows read from a saved csv or jsonl are the
same thing, and reading saved rows (``cull --from``) never imports the model's dependencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

_TAKEN = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?([+-]\d{2}:\d{2})?$")

if TYPE_CHECKING:  # both pull numpy in, which `aescull --help` does not need
    import numpy as np

    from aescull.judge.checks import Checks
    from aescull.judge.faces import FaceVerdict
    from aescull.judge.sets import SetClues


@dataclass(frozen=True)
class ScoreRecord:
    """One output row. ``score`` is None exactly when ``error`` says why.

    ``size`` and ``mtime_ns`` identify the file version that was scored, so later steps (cull
    from a saved CSV) can tell that a file changed since. ``pair`` names the other file of a
    RAW+JPEG shot: the JPEG is scored and the RAW row carries the same score. ``signature`` is
    what :mod:`aescull.judge.groups` compares to find bursts (only when asked for), and
    ``group``/``rank_in_group`` are filled by :func:`aescull.judge.groups.group_records`;
    ``clues`` is what :mod:`aescull.judge.sets` compares to find exposure brackets, focus stacks
    and panoramas (only when signatures are asked for), and ``set_kind``/``set_id`` name the set a photo is part of,
    filled by :func:`aescull.judge.sets.mark_sets` or read back from saved rows. ``checks``
    holds the native-resolution measurements and the reasons a photo was flagged, when they
    were asked for, and ``faces`` what :mod:`aescull.judge.faces` found (``--faces``); read back
    from saved rows, their reasons are the ones written in the row, not re-judged, so cull acts
    on what the user saw. ``verdict`` (pick, keep, reject) and ``verdict_reasons`` are filled by
    :func:`aescull.judge.verdict.judge_verdicts` (``--verdict``) or read back from saved rows.
    """

    path: Path
    score: float | None
    width: int | None = None
    height: int | None = None
    taken: str | None = None
    camera: str | None = None
    error: str | None = None
    pair: Path | None = None
    size: int | None = None
    mtime_ns: int | None = None
    cached: bool = False
    group: str | None = None
    rank_in_group: int | None = None
    signature: np.ndarray | None = field(default=None, repr=False, compare=False)
    checks: Checks | None = None
    faces: FaceVerdict | None = None
    set_kind: str | None = None
    set_id: str | None = None
    clues: SetClues | None = field(default=None, repr=False, compare=False)
    verdict: str | None = None
    verdict_reasons: tuple[str, ...] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def reasons(self) -> tuple[str, ...] | None:
        """What the checks and the faces flagged, in that order; None when neither was looked at."""
        if self.checks is None and self.faces is None:
            return None
        return (self.checks.reasons if self.checks else ()) + (self.faces.reasons if self.faces else ())


def capture_time(taken: str | None, mtime_ns: int | None) -> float | None:
    """Seconds since the epoch: EXIF ``taken`` (with its fraction) when readable, else the file time.

    A ``taken`` without a UTC offset is read as UTC: photos from one camera stay comparable,
    which is all a burst needs.
    """
    match = _TAKEN.match(taken or "")
    try:
        stamp = datetime.fromisoformat(match[1] + (match[3] or "+00:00")) if match else None
    except ValueError:  # a field out of range
        stamp = None
    if stamp is not None and match is not None:
        return stamp.astimezone(timezone.utc).timestamp() + (float(f"0.{match[2]}") if match[2] else 0.0)
    return None if mtime_ns is None else mtime_ns / 1e9
