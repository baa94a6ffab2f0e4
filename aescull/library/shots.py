"""Shots: the files that are one picture (RAW+JPEG, sidecars, a Live Photo's video), culled or kept together."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aescull.rows.record import ScoreRecord

# Files that describe another file rather than being one: IMG.jpg.xmp belongs to the shot IMG.
SIDECAR_EXTENSIONS = frozenset({".xmp", ".dop", ".pp3", ".on1"})


def shot_stem(name: str) -> str:
    """The name shared by every file of a shot: IMG.CR2, IMG.jpg, IMG.xmp, IMG.jpg.xmp, IMG.mov → IMG."""
    base, extension = os.path.splitext(name)
    if extension.lower() in SIDECAR_EXTENSIONS:
        name = base
    return os.path.splitext(name)[0]


def shot_files(photo: Path) -> list[Path]:
    """The photo and every regular, visible file of the same stem beside it, sorted by name."""
    stem = shot_stem(photo.name)
    with os.scandir(photo.parent) as entries:
        names = [
            entry.name
            for entry in entries
            if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False) and shot_stem(entry.name) == stem
        ]
    return [photo.parent / name for name in sorted(names)]


@dataclass
class Shot:
    """Files that are one picture (RAW+JPEG, sidecars, Live Photo video): culled or kept together.

    A shot scores as its best scored file, so a good JPEG is never moved away for its weaker twin.
    """

    folder: Path
    stem: str
    rows: list[ScoreRecord] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        scores = [row.score for row in self.rows if row.score is not None]
        return max(scores) if scores else None

    @property
    def path(self) -> str:
        return str(min(row.path for row in self.rows))

    @property
    def group(self) -> str | None:
        """The burst the shot belongs to (its files share one: a RAW follows its JPEG)."""
        return min((row.group for row in self.rows if row.group is not None), default=None)

    @property
    def rank_in_group(self) -> int | None:
        return min((row.rank_in_group for row in self.rows if row.rank_in_group is not None), default=None)

    @property
    def reasons(self) -> frozenset[str] | None:
        """Reasons every checked file of the shot shares: a sharp JPEG keeps its soft twin's shot."""
        checked = [frozenset(row.checks.reasons) for row in self.rows if row.checks is not None]
        return frozenset.intersection(*checked) if checked else None


def group_shots(rows: Iterable[ScoreRecord]) -> list[Shot]:
    shots: dict[tuple[Path, str], Shot] = {}
    for row in rows:
        key = (row.path.parent, shot_stem(row.path.name))
        shots.setdefault(key, Shot(*key)).rows.append(row)
    return list(shots.values())
