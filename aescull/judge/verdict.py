"""A verdict for every shot — ``pick``, ``keep`` or ``reject`` — and the reasons for it. Pure, no I/O.

The rules, in the order they apply (docs/verdict.md says why each is there and how its default
was measured):

1. A photo is rejected for what the checks and the faces flag — ``blurry``, ``dark``, ``bright``,
   ``eyes-closed``, ``face-soft`` — and for ``weak``: a score below ``weak``. ``noisy`` is kept as
   a reason to read, not to reject: a high-ISO frame of a moment that happened once is still the
   frame, and noise is what an editor removes best.
2. One shot is one unit: a RAW and its JPEG share their verdict, and so do the frames of an
   exposure bracket, a focus stack or a panorama (a set is never split). A unit is rejected only
   for a reason all its photos share, and a bracket never for ``dark`` or ``bright``: its frames
   are meant to be.
3. In a moment (a group of two units or more: a burst, near-duplicates), the first
   ``keep_per_moment`` units in the group's rank order that are not rejected are kept, the first
   of them picked; the other units are rejected as ``duplicate``. ``weak`` does not reject in a
   moment: the frames are compared with each other there, and the best frame of a moment the
   photographer chose to shoot is kept unless something is found wrong with it.
4. Outside a moment, a photo scoring ``trust`` or more is not rejected for what the checks flag
   (``blurry``, ``dark``, ``bright`` become notes): alone, a bright sky or a dark mood that the
   score (trained on people's opinions) vouches for is a choice, not a mistake. In a moment the
   flags always reject: a better frame of the same moment exists.
5. Units outside a moment: the best ``pick_share`` of those not rejected, by score, are picked
   (at least one when any is left), so a shoot without bursts still has picks to start from.

Failed rows get no verdict: nothing is known about them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from aescull.judge.thresholds import (
    DEFAULT_KEEP_PER_MOMENT,
    DEFAULT_PICK_SHARE,
    DEFAULT_TRUST,
    DEFAULT_WEAK,
    REJECT_REASONS,
    VERDICT_REASONS,
)

if TYPE_CHECKING:
    from aescull.rows.record import ScoreRecord

PICK, KEEP, REJECT = "pick", "keep", "reject"
VERDICTS = (PICK, KEEP, REJECT)  # also the order rank --verdict and the report list them in
EXPOSURE_REASONS = frozenset({"dark", "bright"})
CHECK_FLAGS = frozenset({"blurry", "dark", "bright"})


@dataclass(frozen=True)
class VerdictRules:
    """The lines the rules draw (each an option of the verdict's commands)."""

    weak: float = DEFAULT_WEAK
    trust: float = DEFAULT_TRUST
    keep_per_moment: int = DEFAULT_KEEP_PER_MOMENT
    pick_share: float = DEFAULT_PICK_SHARE

    def __post_init__(self) -> None:
        if self.keep_per_moment < 1:
            raise ValueError(f"keep_per_moment must be at least 1, got {self.keep_per_moment}")
        if not 0.0 <= self.pick_share <= 1.0:
            raise ValueError(f"pick_share must be within 0..1, got {self.pick_share}")


@dataclass
class _Unit:
    """A shot or a set: the photos that share one verdict, and the reasons they share."""

    members: list[int]
    score: float
    reasons: tuple[str, ...]
    moment: str | None
    rank: tuple[int, float, str]
    verdict: str = KEEP
    notes: tuple[str, ...] = ()


def judge_verdicts(records: Sequence[ScoreRecord], rules: VerdictRules = VerdictRules()) -> list[ScoreRecord]:
    """``records`` in their order with ``verdict`` and ``verdict_reasons`` filled (rules above);
    the groups and sets must already be marked (:mod:`aescull.judge.groups`, :mod:`aescull.judge.sets`)."""
    units = _units(records, rules.weak)
    _find_moments(units)
    for unit in units:
        if unit.moment is not None:
            _as_notes(unit, {"weak"})
        elif unit.score >= rules.trust:
            _as_notes(unit, CHECK_FLAGS)
        if unit.reasons:
            unit.verdict = REJECT
    _judge_moments(units, rules.keep_per_moment)
    _pick_singles([unit for unit in units if unit.moment is None], rules.pick_share)
    judged = list(records)
    for unit in units:
        reasons = unit.reasons + unit.notes
        for index in unit.members:
            judged[index] = replace(records[index], verdict=unit.verdict, verdict_reasons=reasons)
    return judged


def _as_notes(unit: _Unit, reasons: frozenset[str] | set[str]) -> None:
    """These reasons no longer reject the unit; they stay in its verdict's reasons, to read."""
    unit.notes = tuple(reason for reason in unit.reasons if reason in reasons) + unit.notes
    unit.reasons = tuple(reason for reason in unit.reasons if reason not in reasons)


def photo_reasons(record: ScoreRecord, weak: float) -> tuple[str, ...]:
    """Why one photo alone would be rejected, in :data:`VERDICT_REASONS` order."""
    flagged = set(record.reasons or ()) & REJECT_REASONS
    if record.score is not None and record.score < weak:
        flagged.add("weak")
    return tuple(reason for reason in VERDICT_REASONS if reason in flagged)


def _units(records: Sequence[ScoreRecord], weak: float) -> list[_Unit]:
    """Scored photos gathered into shots (a RAW with its JPEG) and sets; failed rows left out."""
    members: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        if record.error is None and record.score is not None:
            members.setdefault(_unit_key(record), []).append(index)
    units = []
    for indices in members.values():
        photos = [records[index] for index in indices]
        shared = set.intersection(*(set(photo_reasons(photo, weak)) for photo in photos))
        if any(photo.set_kind == "bracket" for photo in photos):
            shared -= EXPOSURE_REASONS
        best = min(photos, key=lambda photo: (_rank_in_group(photo), -(photo.score or 0.0), str(photo.path)))
        units.append(_Unit(
            members=indices,
            score=max(photo.score or 0.0 for photo in photos),
            reasons=tuple(reason for reason in VERDICT_REASONS if reason in shared),
            moment=best.group,
            rank=(_rank_in_group(best), -(best.score or 0.0), str(best.path)),
            notes=("noisy",) if all("noisy" in (photo.reasons or ()) for photo in photos) else (),
        ))
    return units


def _unit_key(record: ScoreRecord) -> str:
    if record.set_id:
        return f"set:{record.set_id}"
    return "shot:" + min(str(record.path), str(record.pair or record.path))


def _rank_in_group(record: ScoreRecord) -> int:
    return record.rank_in_group if record.rank_in_group is not None else 0


def _moments(units: list[_Unit]) -> dict[str, list[_Unit]]:
    moments: dict[str, list[_Unit]] = {}
    for unit in units:
        if unit.moment is not None:
            moments.setdefault(unit.moment, []).append(unit)
    return moments


def _find_moments(units: list[_Unit]) -> None:
    """A group of one unit is no moment: its unit is judged with the singles."""
    for moment in _moments(units).values():
        if len(moment) < 2:
            moment[0].moment = None


def _judge_moments(units: list[_Unit], keep_per_moment: int) -> None:
    """Rule 3."""
    for moment in _moments(units).values():
        survivors = [unit for unit in sorted(moment, key=lambda unit: unit.rank) if unit.verdict != REJECT]
        for place, unit in enumerate(survivors):
            if place == 0:
                unit.verdict = PICK
            elif place >= keep_per_moment:
                unit.verdict, unit.reasons = REJECT, unit.reasons + ("duplicate",)


def _pick_singles(singles: list[_Unit], pick_share: float) -> None:
    """Rule 5: ties in score are broken by path, so reruns agree."""
    candidates = sorted((unit for unit in singles if unit.verdict != REJECT), key=lambda unit: (-unit.score, unit.rank[2]))
    if not candidates or pick_share == 0:
        return
    for unit in candidates[: max(1, math.floor(len(candidates) * pick_share + 1e-9))]:
        unit.verdict = PICK
