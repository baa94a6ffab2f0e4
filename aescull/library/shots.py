"""Shots: the files that are one picture (RAW+JPEG, sidecars, a Live Photo's video), culled or kept
together; and units: the shots of one set (a bracket, a stack, a panorama), culled or kept together."""

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
        checked = [frozenset(row.reasons) for row in self.rows if row.reasons is not None]
        return frozenset.intersection(*checked) if checked else None

    @property
    def set_id(self) -> str | None:
        """The set (bracket, stack, panorama) the shot is part of (a RAW is in its JPEG's)."""
        return min((row.set_id for row in self.rows if row.set_id is not None), default=None)


def group_shots(rows: Iterable[ScoreRecord]) -> list[Shot]:
    shots: dict[tuple[Path, str], Shot] = {}
    for row in rows:
        key = (row.path.parent, shot_stem(row.path.name))
        shots.setdefault(key, Shot(*key)).rows.append(row)
    return list(shots.values())


@dataclass
class Unit:
    """What a cull keeps or culls whole: one shot, or every shot of a set (the frames of an
    exposure bracket, a focus stack or a panorama are worthless apart).

    A unit scores as its best shot, and is flagged only for the reasons all its shots share (and
    not at all when one of them was not checked): a bracket's dark and bright frames are its
    point, not a reason to cull it.
    """

    shots: list[Shot]

    @property
    def score(self) -> float | None:
        scores = [shot.score for shot in self.shots if shot.score is not None]
        return max(scores) if scores else None

    @property
    def path(self) -> str:
        return min(shot.path for shot in self.shots)

    @property
    def reasons(self) -> frozenset[str] | None:
        reasons = [shot.reasons for shot in self.shots]
        known = [flags for flags in reasons if flags is not None]
        return frozenset.intersection(*known) if known and len(known) == len(reasons) else None

    @property
    def rejected_by_verdict(self) -> bool:
        """Every photo of the unit judged ``reject`` (the verdict gives a unit one verdict, so this is all or none)."""
        return all(row.verdict == "reject" for shot in self.shots for row in shot.rows)

    def places(self) -> list[tuple[str | None, int | None]]:
        """Each group the unit has shots in, with its best rank there; (None, None) for a shot without group."""
        best: dict[str | None, int | None] = {}
        for shot in sorted(self.shots, key=lambda shot: (shot.rank_in_group is None, shot.rank_in_group or 0)):
            best.setdefault(shot.group, shot.rank_in_group)
        return list(best.items())


def group_units(shots: Iterable[Shot]) -> list[Unit]:
    """Shots of one set in one unit, every other shot in a unit of its own."""
    units: list[Unit] = []
    by_set: dict[str, Unit] = {}
    for shot in shots:
        set_id = shot.set_id
        if set_id is None:
            units.append(Unit([shot]))
        elif set_id in by_set:
            by_set[set_id].shots.append(shot)
        else:
            by_set[set_id] = Unit([shot])
            units.append(by_set[set_id])
    return units
