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
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from aescull.pipeline.discover import is_raw

if TYPE_CHECKING:
    from aescull.rows.record import ScoreRecord

Item = TypeVar("Item")

DEFAULT_BURST_WINDOW = 3.0
DEFAULT_SIMILARITY = 0.7
DUPLICATE_SIMILARITY = 0.95
SIGNATURE_SIDE = 8  # the light-and-dark layout: SIGNATURE_SIDE × SIGNATURE_SIDE cells
COLOUR_SIDE = 2  # the colour: red and green shares in each of COLOUR_SIDE × COLOUR_SIDE cells
_LAYOUT = SIGNATURE_SIDE * SIGNATURE_SIDE
_LENGTH = _LAYOUT + 2 * COLOUR_SIDE * COLOUR_SIDE
# A thumbnail whose brightness varies less than this (standard deviation, pixels in [0, 1]) is
# "flat": its layout is mostly noise, so it is made to look less like everything, never more.
MIN_CONTRAST = 0.02
# Similarity lost per unit of mean colour difference. Measured on the synthetic bursts of
# evaluation.groups_eval (seeds 0-2): burst frames differ by about 0.01 (exposure and blur barely
# move a colour share), while two landscapes with the same bright-sky-over-field layout
# (correlation up to 0.79) differ by 0.03-0.05 (grey sky and green grass against blue sky and
# yellow grass), and a grey lamp and a green leaf by far more.
COLOUR_WEIGHT = 6.0
_BLOCK = 1024  # signatures compared at once in the duplicate search: bounds its memory

_TAKEN = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?([+-]\d{2}:\d{2})?$")


def _cell_sums(rgb: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel pixel sums over side × side cells (3 × side × side), and each cell's pixel count.

    One pass over the pixels (two ``reduceat``), so a signature costs about a millisecond.
    """
    _, height, width = rgb.shape
    if height < side or width < side:  # a tiny photo: repeat its pixels so that no cell is empty
        rgb = rgb.repeat(-(-side // height), axis=1).repeat(-(-side // width), axis=2)
        _, height, width = rgb.shape
    rows, columns = np.arange(side) * height // side, np.arange(side) * width // side
    sums = np.add.reduceat(np.add.reduceat(rgb, rows, axis=1, dtype=np.float64), columns, axis=2)
    return sums, np.outer(np.diff(rows, append=height), np.diff(columns, append=width))


def signature(pixels: np.ndarray) -> np.ndarray:
    """The photo's layout of light and dark on an 8×8 grid (minus its mean, scaled to unit
    length), then its colour: the red and green shares of R+G+B in each quarter of the frame.

    Computed from the pixels the model already gets (3×H×W in [0, 1], any size), so grouping
    needs no second decode and works with any model. See :func:`similarity_of`.
    """
    sums, counts = _cell_sums(np.asarray(pixels), SIGNATURE_SIDE)
    means = sums / counts
    thumbnail = 0.299 * means[0] + 0.587 * means[1] + 0.114 * means[2]
    centred = (thumbnail - thumbnail.mean()).ravel()
    layout = centred / max(float(np.linalg.norm(centred)), MIN_CONTRAST * SIGNATURE_SIDE)
    step = SIGNATURE_SIDE // COLOUR_SIDE
    colour = sums.reshape(3, COLOUR_SIDE, step, COLOUR_SIDE, step).sum(axis=(2, 4))
    shares = colour[:2] / np.maximum(colour.sum(axis=0), 1e-9)
    return np.concatenate([layout, shares.ravel()]).astype(np.float32)


def similarity_of(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Correlation of the two layouts, minus ``COLOUR_WEIGHT`` times their mean colour difference.

    The correlation is blind to a change of exposure (gain and offset), to blur and to the
    shifts and crops of a few percent between burst frames, yet low for most other scenes;
    colour shares survive exposure changes too, and tell apart scenes whose light and dark
    happen to fall alike. From -1 (nothing alike, or a signature missing) to 1.
    """
    if a is None or b is None:
        return -1.0
    alike = float(np.dot(a[:_LAYOUT], b[:_LAYOUT])) - COLOUR_WEIGHT * float(np.abs(a[_LAYOUT:] - b[_LAYOUT:]).mean())
    return max(alike, -1.0)


def signature_bytes(vector: np.ndarray) -> bytes:
    """Half precision is plenty for a correlation and keeps a cached signature at 144 bytes."""
    return vector.astype("<f2").tobytes()


def signature_from_bytes(blob: bytes) -> np.ndarray | None:
    """None for a blob of another length (written by an older version): the photo is decoded again."""
    vector = np.frombuffer(blob, dtype="<f2")
    return vector.astype(np.float32) if vector.size == _LENGTH else None


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
    layouts = signatures[:, :_LAYOUT]
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


def order_by_group(records: Sequence[ScoreRecord], top: int | None = None, bottom: int | None = None) -> list[ScoreRecord]:
    """Whole groups ranked by their best photo (best first; with ``bottom`` worst first), each group
    listed best first; ``top``/``bottom`` count groups. Failures go last, and are left out of a
    selection, as in the ungrouped ranking."""
    by_group: dict[str, list[ScoreRecord]] = {}
    for record in records:
        if record.group is not None:
            by_group.setdefault(record.group, []).append(record)
    best = {group: max(member.score for member in members) for group, members in by_group.items()}  # type: ignore[type-var]
    worst_first = bottom is not None
    order = sorted(by_group, key=lambda group: (best[group] if worst_first else -best[group], group))  # type: ignore[operator]
    if top is not None or bottom is not None:
        order = order[: top if top is not None else bottom]
    listed = [member for group in order for member in sorted(by_group[group], key=lambda member: (member.rank_in_group, str(member.path)))]
    if top is None and bottom is None:
        listed += [record for record in records if record.group is None]
    return listed
