"""Rows as tiles: what each photo's tile shows, and the order of the grid.

A tile is built from a row dict (scored now, or read back from saved rows), so the report shows
the same values whichever way its rows came; every column the tile does not show goes into its
tooltip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aescull.judge.ranking import best_first
from aescull.judge.verdict import VERDICTS
from aescull.rows.record import capture_time

# Row columns shown in their own place on a tile; any other column goes into its tooltip.
_SHOWN_COLUMNS = frozenset({"path", "score", "error", "group", "reasons", "faces", "eyes_closed", "verdict", "verdict_reasons"})
_HIDDEN_COLUMNS = frozenset({"cached", "size", "mtime_ns"})


@dataclass(frozen=True)
class Tile:
    """One row, ready to draw."""

    path: str
    score: float | None
    error: str | None
    group: str | None
    reasons: tuple[str, ...]
    time: float | None  # seconds since the epoch, for sorting by time
    details: tuple[tuple[str, str], ...]  # the tooltip: every other column of the row
    faces: str | None = None  # "2 faces · 1 eyes closed" when faces were looked for (--faces)
    verdict: str | None = None  # pick, keep or reject (--verdict)
    verdict_reasons: tuple[str, ...] = ()


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = ";".join(str(item) for item in value)
    text = str(value).strip()
    return text or None


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _reasons(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else re.split(r"[;,]", _text(value) or "")
    return tuple(text for text in (str(item).strip() for item in items) if text)


def _faces_badge(row: Mapping[str, object]) -> str | None:
    """What a glance at a group photo needs: how many faces, and how many of them blink."""
    faces = _number(row.get("faces"))
    if faces is None:
        return None
    count = int(faces)
    badge = "no face" if count == 0 else f"{count} face" + ("s" if count > 1 else "")
    closed = int(_number(row.get("eyes_closed")) or 0)
    return badge + (f" · {closed} eyes closed" if closed else "")


def tile_of(row: Mapping[str, object]) -> Tile:
    path = _text(row.get("path")) or ""
    score = _number(row.get("score"))
    error = _text(row.get("error"))
    if score is None and error is None:
        error = "no score"
    details = tuple(
        (name, text)
        for name, value in row.items()
        if name not in _SHOWN_COLUMNS and name not in _HIDDEN_COLUMNS and (text := _text(value)) is not None
    )
    verdict = _text(row.get("verdict"))
    return Tile(path, None if error else score, error, _text(row.get("group")), _reasons(row.get("reasons")), _time_of(row), details,
                _faces_badge(row), verdict if verdict in VERDICTS else None, _reasons(row.get("verdict_reasons")))


@dataclass(frozen=True)
class Groups:
    """Groups (bursts) with more than one shot in the report; a lone member is shown as ungrouped."""

    size: dict[str, int]
    best: dict[str, float]

    @classmethod
    def of(cls, tiles: Iterable[Tile]) -> Groups:
        size: dict[str, int] = {}
        best: dict[str, float] = {}
        for tile in tiles:
            if tile.group is not None:
                size[tile.group] = size.get(tile.group, 0) + 1
                if tile.score is not None:
                    best[tile.group] = max(best.get(tile.group, tile.score), tile.score)
        return cls({group: count for group, count in size.items() if count > 1}, best)

    def group_of(self, tile: Tile) -> str | None:
        return tile.group if tile.group in self.size else None

    def best_of(self, tile: Tile) -> float | None:
        group = self.group_of(tile)
        return tile.score if group is None else self.best.get(group, tile.score)


def _time_of(row: Mapping[str, object]) -> float | None:
    """Capture time when the camera wrote one, else the file's modification time."""
    mtime_ns = _number(row.get("mtime_ns"))
    return capture_time(_text(row.get("taken")), None if mtime_ns is None else int(mtime_ns))


def ordered(tiles: Iterable[Tile]) -> list[Tile]:
    """Best first, a group kept together at the place of its best shot; failures last, by name.
    With verdicts, the picks first, then the keeps, then the rejects, each in that order.

    The page's script sorts "score" and "verdict" the same way, so the order is right with scripts off too.
    """
    by_path = sorted(tiles, key=lambda tile: tile.path)
    groups = Groups.of(by_path)
    by_score = best_first(
        by_path, lambda tile: tile.score, group_of=groups.group_of, within=lambda tile: (-tile.score, tile.path),
        tiebreak=lambda group: group or "",
    )
    if not any(tile.verdict for tile in by_score):
        return by_score
    return sorted(by_score, key=verdict_rank)  # stable: each section keeps the score order


def verdict_rank(tile: Tile) -> int:
    return VERDICTS.index(tile.verdict) if tile.verdict in VERDICTS else len(VERDICTS)
