"""Which photos show the same moment (a burst, a near-duplicate), and which of each is best.

Two photos are one moment when they were taken within ``window`` seconds of each other (EXIF
capture time with its sub-second digits; the file's modification time when there is none) AND
look alike (:func:`similarity_of` their signatures at least ``similarity``). Time alone would merge a new scene
shot a second later; looks alone would merge a scene shot again an hour later, so only
``duplicates`` lets near-identical photos (similarity at least :data:`DUPLICATE_SIMILARITY`)
join across any time gap: copies, exports, re-encodes.

A photo joins a group only when it looks like the group, on average over all its photos, not
like one of them: otherwise A like B and B like C would put A with a C that looks nothing like
it, and a run of photos shot close together (or copied together) would chain into one giant
"burst". And a file time is a capture time only when it could be one: photos without EXIF
written faster than any camera shoots were copied together, and are grouped by looks alone,
at the near-identical level.

Pure functions, no I/O: score records in, the same records with ``group`` and ``rank_in_group``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from aescull.judge.signatures import LAYOUT_LENGTH, similarities, similarity_of
from aescull.judge.thresholds import DEFAULT_BURST_WINDOW, DEFAULT_SIMILARITY, DUPLICATE_SIMILARITY
from aescull.pipeline.discover import is_raw
from aescull.rows.record import capture_time

if TYPE_CHECKING:
    from aescull.rows.record import ScoreRecord

Item = TypeVar("Item")

_BLOCK = 1024  # signatures compared at once in the duplicate search: bounds its memory
# Photos without EXIF whose file times are closer than this were written by a copy, not a camera:
# the fastest bursts are 20-30 frames a second, while a bulk copy writes many photos a second or
# gives them all one time (and file systems that keep times to 1 or 2 s give neighbours one time).
COPY_GAP = 1 / 30


@dataclass
class _Member:
    index: int
    time: float
    path: str
    score: float
    signature: np.ndarray | None
    pixels: int
    has_capture_time: bool  # EXIF from the camera; an export often has none
    face_faults: tuple[bool, bool] = (False, False)  # (a face with eyes closed, a soft face), with --faces


@dataclass
class _Group:
    members: list[_Member] = field(default_factory=list)
    signatures: np.ndarray | None = None  # one row per member, so a photo is compared with all at once
    last_time: float = -math.inf

    def add(self, members: list[_Member], signatures: np.ndarray) -> None:
        self.members.extend(members)
        self.signatures = signatures if self.signatures is None else np.concatenate([self.signatures, signatures])
        self.last_time = max(self.last_time, *(member.time for member in members))


def _likeness(signature: np.ndarray, groups: Sequence[_Group]) -> np.ndarray:
    """How much a photo looks like each group: its similarity to every photo of the group,
    averaged (all groups in one pass: a photo is compared with every open group)."""
    values = similarities(signature, np.concatenate([group.signatures for group in groups]))  # type: ignore[misc]
    sizes = np.array([len(group.members) for group in groups])
    return np.add.reduceat(values, np.cumsum(sizes) - sizes) / sizes


def _alike(first: _Group, second: _Group) -> float:
    """How much two groups look alike: every photo of one against every photo of the other, averaged."""
    assert first.signatures is not None
    return float(np.mean([_likeness(row, [second])[0] for row in first.signatures]))


def _moments(members: list[_Member], window: float, similarity: float) -> list[_Group]:
    """Walk the photos in time order: each joins the open group (one whose last photo is at most
    ``window`` seconds older) it looks most like on average, if at least ``similarity``, or starts
    one. If it also looks like other open groups, those merge with its group when, it included,
    they look alike on average: a frame can bridge two halves of a burst that the frames between
    did not, but never two scenes that each merely resemble it."""
    groups: list[_Group] = []
    open_groups: list[_Group] = []
    for member in sorted(members, key=lambda item: (item.time, item.path)):
        assert member.signature is not None
        open_groups = [group for group in open_groups if member.time - group.last_time <= window]
        likeness = _likeness(member.signature, open_groups) if open_groups else np.empty(0)
        alike = [open_groups[position] for position in np.argsort(-likeness, kind="stable") if likeness[position] >= similarity]
        joined = alike[0] if alike else _Group()
        joined.add([member], member.signature[None])
        if not alike:
            groups.append(joined)
            open_groups.append(joined)
        for other in alike[1:]:
            if _alike(joined, other) >= similarity:
                assert other.signatures is not None
                joined.add(other.members, other.signatures)
                groups.remove(other)
                open_groups.remove(other)
    return groups


def _copied(members: Sequence[_Member]) -> set[int]:
    """Positions of the photos whose file time is a copy's, not a capture's: without an EXIF
    capture time, and written less than :data:`COPY_GAP` from another such photo."""
    untimed = sorted((position for position, member in enumerate(members) if not member.has_capture_time), key=lambda position: members[position].time)
    copied: set[int] = set()
    for first, second in zip(untimed, untimed[1:]):
        if members[second].time - members[first].time < COPY_GAP:
            copied.update((first, second))
    return copied


def _copied_moments(members: list[_Member], threshold: float) -> list[_Group]:
    """Photos without a usable time are one moment only when they look near-identical (copies of
    one frame): the same walk as :func:`_moments` with no time limit, within each set of photos
    linked by near-identical pairs (so the walk compares few photos, however many were copied)."""
    roots = _components(len(members), _near_identical_pairs(members, threshold))
    linked: dict[int, list[_Member]] = {}
    for member, root in zip(members, roots):
        linked.setdefault(root, []).append(member)
    return [group for together in linked.values() for group in _moments(together, math.inf, threshold)]


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
    """Frames where every judged face has open eyes first, then those with no soft face (when
    faces were looked for: a blink ruins a portrait whatever its score); then best score first,
    equal scores by path; but copies of one frame (at least ``threshold``
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
        return member.face_faults, best[roots[position]], -member.pixels, not member.has_capture_time, -member.score, member.path

    return [members[position] for position in sorted(range(len(members)), key=key)]


def _group_ids(groups: list[_Group], records: Sequence[ScoreRecord]) -> list[str]:
    """Each group named after its first photo (see :func:`stable_id`)."""
    seen: set[str] = set()
    return [stable_id("g", records[min(group.members, key=lambda member: (member.time, member.path)).index], seen) for group in groups]


def stable_id(prefix: str, first: ScoreRecord, seen: set[str]) -> str:
    """An id named after a group's (or a set's) first photo, its file name and capture time, so it
    survives reruns, other photos coming and going, and the library moving; clashes with the ids
    in ``seen`` get a suffix, and the id is added to it."""
    anchor = f"{first.path.name}\0{first.taken or first.mtime_ns}"
    name = prefix + hashlib.sha1(anchor.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    unique, suffix = name, 2
    while unique in seen:
        unique, suffix = f"{name}-{suffix}", suffix + 1
    seen.add(unique)
    return unique


def _face_faults(record: ScoreRecord) -> tuple[bool, bool]:
    reasons = record.faces.reasons if record.faces is not None else ()
    return "eyes-closed" in reasons, "face-soft" in reasons


def group_records(
    records: Sequence[ScoreRecord],
    window: float = DEFAULT_BURST_WINDOW,
    similarity: float = DEFAULT_SIMILARITY,
    duplicates: bool = False,
) -> list[ScoreRecord]:
    """The records, in their order, with ``group`` and ``rank_in_group`` (1 = best) filled.

    Failed records get neither. The RAW file of a RAW+JPEG pair takes its JPEG's group and rank:
    the pair is one shot. Within a group, frames without closed eyes or soft faces rank first, then
    higher scores (see :func:`_ranked` for copies of one frame); equal scores by path.
    """
    paths = {record.path for record in records if record.ok}
    followers = {index for index, record in enumerate(records) if record.ok and record.pair in paths and is_raw(record.path)}
    members = [
        _Member(index, time, str(record.path), record.score, record.signature, (record.width or 0) * (record.height or 0),
                capture_time(record.taken, None) is not None, _face_faults(record))
        for index, record in enumerate(records)
        if record.ok and index not in followers and (time := capture_time(record.taken, record.mtime_ns)) is not None
    ]
    near_identical = max(similarity, DUPLICATE_SIMILARITY)
    copied = _copied(members)
    comparable = [(position in copied, member) for position, member in enumerate(members) if member.signature is not None]
    groups = _moments([member for was_copied, member in comparable if not was_copied], window, similarity)
    groups += _copied_moments([member for was_copied, member in comparable if was_copied], near_identical)
    groups += [_Group([member]) for member in members if member.signature is None]  # nothing to compare: a moment of its own
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
