"""Which photos show the same moment (a burst, a near-duplicate), and which of each is best.

Two photos are one moment when they were taken within ``window`` seconds of each other (EXIF
capture time with its sub-second digits; the file's modification time when there is none) AND
look alike (:func:`similarity_of` their signatures at least ``similarity``). Time alone would merge a new scene
shot a second later; looks alone would merge a scene shot again an hour later, so only
``duplicates`` lets near-identical photos (similarity at least :data:`DUPLICATE_SIMILARITY`)
join across any time gap: copies, exports, re-encodes.

Pure functions, no I/O: score records in, the same records with ``group`` and ``rank_in_group``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar



import numpy as np

from aescull.judge.signatures import LAYOUT_LENGTH, similarity_of
from aescull.judge.thresholds import DEFAULT_BURST_WINDOW, DEFAULT_SIMILARITY, DUPLICATE_SIMILARITY
from aescull.pipeline.discover import is_raw
from aescull.rows.record import capture_time

if TYPE_CHECKING:
    from aescull.rows.record import ScoreRecord

Item = TypeVar("Item")

_BLOCK = 1024  # signatures compared at once in the duplicate search: bounds its memory


@dataclass
class _Member:
    index: int
    time: float
    path: str
    score: float
    signature: np.ndarray | None
    pixels: int
    has_capture_time: bool  # EXIF from the camera; an export often has none


@dataclass
class _Group:
    members: list[_Member] = field(default_factory=list)

    @property
    def last_time(self) -> float:
        return self.members[-1].time


def _link(member: _Member, group: _Group, window: float) -> float:
    """How much ``member`` looks like the photos of ``group`` shot within the window before it."""
    best = -1.0
    for other in reversed(group.members):  # in time order, so the walk stops at the window's edge
        if member.time - other.time > window:
            break
        best = max(best, similarity_of(member.signature, other.signature))
    return best


def _moments(members: list[_Member], window: float, similarity: float) -> list[_Group]:
    """Walk the photos in time order: each joins every open group it looks like (merging them:
    a frame can bridge two halves of a burst that the frames between did not), or starts one."""
    groups: list[_Group] = []
    open_groups: list[_Group] = []
    for member in sorted(members, key=lambda item: (item.time, item.path)):
        open_groups = [group for group in open_groups if member.time - group.last_time <= window]
        alike = [group for group in open_groups if _link(member, group, window) >= similarity]
        if not alike:
            group = _Group([member])
            groups.append(group)
            open_groups.append(group)
            continue
        joined = alike[0]
        for other in alike[1:]:
            joined.members.extend(other.members)
            groups.remove(other)
            open_groups.remove(other)
        joined.members.sort(key=lambda item: (item.time, item.path))
        joined.members.append(member)
    return groups


def _near_identical_pairs(members: Sequence[_Member], threshold: float) -> Iterator[tuple[int, int]]:
    """Positions (i < j) of photos at least ``threshold`` alike, all pairs compared in blocks."""
    usable = [position for position, member in enumerate(members) if member.signature is not None]
    if len(usable) < 2:
        return
    signatures = np.stack([members[position].signature for position in usable]).astype(np.float32)
    layouts = signatures[:, :LAYOUT_LENGTH]
    for start in range(0, len(usable), _BLOCK):
        # The colour term only lowers similarity: pairs whose layouts correlate enough are the candidates.
        rows, columns = np.nonzero(layouts[start : start + _BLOCK] @ layouts.T >= threshold)
        for row, column in zip(rows + start, columns):
            if row < column and similarity_of(signatures[row], signatures[column]) >= threshold:
                yield usable[row], usable[column]


def _components(size: int, pairs: Iterable[tuple[int, int]]) -> list[int]:
    """Union-find: for each of ``size`` nodes, the smallest node it is connected to."""
    parent = list(range(size))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for first, second in pairs:
        a, b = root(first), root(second)
        parent[max(a, b)] = min(a, b)
    return [root(node) for node in range(size)]


def _merge_duplicates(groups: list[_Group], threshold: float) -> list[_Group]:
    """Union the groups holding near-identical photos, whatever their times."""
    members = [member for group in groups for member in group.members]
    owner = [position for position, group in enumerate(groups) for _ in group.members]
    links = ((owner[first], owner[second]) for first, second in _near_identical_pairs(members, threshold))
    merged: dict[int, _Group] = {}
    for position, root in enumerate(_components(len(groups), links)):
        merged.setdefault(root, _Group()).members.extend(groups[position].members)
    return list(merged.values())


def _ranked(members: list[_Member], threshold: float) -> list[_Member]:
    """Best score first, equal scores by path; but copies of one frame (at least ``threshold``
    alike) rank together at the place of the best of them: the one with the most pixels first,
    then one with an EXIF capture time (from the camera) before one without (an export).

    The model sees an export and its original at the same working size, so a resized or
    re-encoded copy can score a hair above the original (measured: up to 0.025 for a quality-75
    re-encode); keeping the copy would lose pixels or add artefacts. Burst frames alike enough to
    count as copies have the same size and EXIF, so among them the score still decides.
    """
    roots = _components(len(members), _near_identical_pairs(members, threshold))
    best: dict[int, tuple[float, str]] = {}  # per set of copies: its best (-score, path)
    for member, root in zip(members, roots):
        candidate = (-member.score, member.path)
        best[root] = min(best[root], candidate) if root in best else candidate

    def key(position: int) -> tuple:
        member = members[position]
        return best[roots[position]], -member.pixels, not member.has_capture_time, -member.score, member.path

    return [members[position] for position in sorted(range(len(members)), key=key)]


def _group_ids(groups: list[_Group], records: Sequence[ScoreRecord]) -> list[str]:
    """Named after the group's first photo (file name and capture time), so the id survives
    reruns, other photos coming and going, and the library moving; clashes get a suffix."""
    ids, seen = [], set()
    for group in groups:
        first = min(group.members, key=lambda member: (member.time, member.path))
        record = records[first.index]
        anchor = f"{record.path.name}\0{record.taken or record.mtime_ns}"
        name = "g" + hashlib.sha1(anchor.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        unique, suffix = name, 2
        while unique in seen:
            unique, suffix = f"{name}-{suffix}", suffix + 1
        seen.add(unique)
        ids.append(unique)
    return ids


def group_records(
    records: Sequence[ScoreRecord],
    window: float = DEFAULT_BURST_WINDOW,
    similarity: float = DEFAULT_SIMILARITY,
    duplicates: bool = False,
) -> list[ScoreRecord]:
    """The records, in their order, with ``group`` and ``rank_in_group`` (1 = best) filled.

    Failed records get neither. The RAW file of a RAW+JPEG pair takes its JPEG's group and rank:
    the pair is one shot. Within a group, higher scores rank first (see :func:`_ranked` for
    copies of one frame); equal scores by path.
    """
    paths = {record.path for record in records if record.ok}
    followers = {index for index, record in enumerate(records) if record.ok and record.pair in paths and is_raw(record.path)}
    members = [
        _Member(index, time, str(record.path), record.score, record.signature, (record.width or 0) * (record.height or 0), record.taken is not None)
        for index, record in enumerate(records)
        if record.ok and index not in followers and (time := capture_time(record.taken, record.mtime_ns)) is not None
    ]
    groups = _moments(members, window, similarity)
    near_identical = max(similarity, DUPLICATE_SIMILARITY)
    if duplicates:
        groups = _merge_duplicates(groups, near_identical)
    groups.sort(key=lambda group: min((member.time, member.path) for member in group.members))
    placed: dict[int, tuple[str, int]] = {}
    for group_id, group in zip(_group_ids(groups, records), groups):
        for rank, member in enumerate(_ranked(group.members, near_identical), start=1):
            placed[member.index] = (group_id, rank)
    by_path = {records[index].path: place for index, place in placed.items()}
    for index in followers:
        placed[index] = by_path[records[index].pair]
    return [
        replace(record, group=placed[index][0], rank_in_group=placed[index][1]) if index in placed else record
        for index, record in enumerate(records)
    ]


def all_but_best(items: Sequence[Item], keep: int, group_of: Callable[[Item], str | None], rank_of: Callable[[Item], object]) -> list[Item]:
    """Every item except the ``keep`` first of its group by ``rank_of`` (rank in group, then
    something unique such as the path); an item without a group is a group of its own, so kept."""
    by_group: dict[str, list[Item]] = {}
    for item in items:
        group = group_of(item)
        if group is not None:
            by_group.setdefault(group, []).append(item)
    culled = []
    for members in by_group.values():
        culled.extend(sorted(members, key=rank_of)[keep:])  # type: ignore[arg-type]
    return culled
