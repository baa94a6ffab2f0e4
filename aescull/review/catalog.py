"""The shots a review shows: scored rows grouped into shots, each with a number the page names it by.

The page never names a file: every request says a shot's number, and only the files of that shot
(found here, at start) are ever opened. A shot whose file lies outside the library's folder (a
symbolic link out of it) is left out of the review, so nothing outside the library is served.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aescull.judge.ranking import best_first
from aescull.library.shots import Shot, group_shots
from aescull.pipeline.discover import is_raw
from aescull.rows.columns import row_values
from aescull.rows.record import ScoreRecord, capture_time

# Columns a tile shows in their own place, or that say nothing to a person; the rest go in its tooltip.
_SHOWN = frozenset({"path", "score", "error", "group", "rank_in_group", "reasons", "verdict", "cached", "size", "mtime_ns", "pair"})


@dataclass(frozen=True)
class ReviewShot:
    """One shot of the review: ``number`` is how the page names it; ``shown`` is the file the grid
    and the loupe show (the JPEG of a RAW+JPEG pair); ``moment`` is its burst, when the burst has
    other shots too."""

    number: int
    shot: Shot
    shown: ScoreRecord
    columns: Mapping[str, object]
    moment: str | None

    @property
    def score(self) -> float:
        assert self.shot.score is not None
        return self.shot.score

    @property
    def photos(self) -> list[Path]:
        return sorted(row.path for row in self.shot.rows)

    def summary(self, root: Path, moment_sizes: Mapping[str, int]) -> dict[str, object]:
        """What the page knows of the shot from the start (its decision comes apart, it changes)."""
        reasons = self.columns.get("reasons")
        folder = os.path.relpath(self.shown.path.absolute().parent, root)
        details = [f"{name}: {value}" for name, value in self.columns.items() if name not in _SHOWN and value not in (None, "")]
        return {
            "id": self.number,
            "name": self.shown.path.name,
            "folder": "" if folder == "." else folder,
            "files": [path.name for path in self.photos],
            "score": round(self.score, 4),
            "reasons": list(reasons) if isinstance(reasons, (list, tuple)) else [],
            "moment": self.moment,
            "moment_size": moment_sizes.get(self.moment, 1) if self.moment else 1,
            "rank": self.shot.rank_in_group,
            "time": capture_time(self.shown.taken, self.shown.mtime_ns),
            "verdict": self.columns.get("verdict"),
            "details": "\n".join([str(self.shown.path), *details]),
        }


class Catalog:
    """The scored shots of the library, best first, each burst kept together at its best shot's place."""

    def __init__(self, rows: Sequence[ScoreRecord], root: Path, columns: Callable[[ScoreRecord], Mapping[str, object]] = row_values) -> None:
        """``rows``: scored rows without errors. ``columns``: a row's columns as ``aescull score`` prints them."""
        self.root = root.absolute()
        real_root = self.root.resolve()
        self.outside: list[Path] = []
        inside = []
        for row in rows:
            if row.path.resolve().is_relative_to(real_root):
                inside.append(row)
            else:
                self.outside.append(row.path)
        shots = group_shots(inside)
        per_group: dict[str, int] = {}
        for shot in shots:
            if shot.group is not None:
                per_group[shot.group] = per_group.get(shot.group, 0) + 1
        self.moment_sizes = {group: size for group, size in per_group.items() if size > 1}

        def moment_of(shot: Shot) -> str | None:
            return shot.group if shot.group in self.moment_sizes else None

        ordered = best_first(shots, lambda shot: shot.score, group_of=moment_of, within=lambda shot: (shot.rank_in_group or 0, shot.path),
                             tiebreak=lambda group: group or "")
        self.shots: list[ReviewShot] = []
        for number, shot in enumerate(ordered):
            shown = min(shot.rows, key=lambda row: (is_raw(row.path), row.path.name))
            self.shots.append(ReviewShot(number, shot, shown, columns(shown), moment_of(shot)))
        self.checked = any(row.checks is not None for row in inside)

    def __len__(self) -> int:
        return len(self.shots)

    def get(self, number: int) -> ReviewShot | None:
        return self.shots[number] if 0 <= number < len(self.shots) else None
