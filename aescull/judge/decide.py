"""Which photos to cull and how many stars to give: pure functions over scores, no I/O.

Rating mapping (``xmp:Rating``), used by ``aescull tag``:

======================  =====
score                   stars
======================  =====
[0.0, 0.2)              1
[0.2, 0.4)              2
[0.4, 0.6)              3
[0.6, 0.8)              4
[0.8, 1.0]              5
below ``reject_below``  -1 (rejected, as Lightroom, darktable and Bridge read it)
======================  =====

Why equal-width bins of [0, 1]: the score is an absolute quality estimate (a mean opinion score
scaled to [0, 1]), and editors show stars as an absolute scale too. Bins that depend on the run
(percentiles) would give the same photo different stars depending on what else was scored, and
cut points calibrated on one data set would silently change meaning with every retrained model.
Zero stars is never written: in XMP it means "unrated", which would erase the information.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TypeVar

Item = TypeVar("Item")

MIN_STARS = 1
MAX_STARS = 5
REJECTED_RATING = -1
PICK_LABEL_REJECTED = 1
PICK_LABEL_ACCEPTED = 3


@dataclass(frozen=True)
class CullRule:
    """At most one of an absolute threshold, a count, or a percentage of the scored photos, and/or
    reasons of :mod:`aescull.judge.checks` (``reject``): a photo is culled when either part picks it.
    Or, alone, ``verdict_rejects``: the shots :mod:`aescull.judge.verdict` judged ``reject``."""

    below: float | None = None
    bottom_count: int | None = None
    bottom_percent: float | None = None
    reject: frozenset[str] = frozenset()
    verdict_rejects: bool = False

    def __post_init__(self) -> None:
        given = [value for value in (self.below, self.bottom_count, self.bottom_percent) if value is not None]
        if self.verdict_rejects and (given or self.reject):
            raise ValueError("the verdict's rejects are culled alone, without --below, --bottom or --reject")
        if len(given) > 1 or not (given or self.reject or self.verdict_rejects):
            raise ValueError("give one of --below T or --bottom N / --bottom P%, and/or --reject REASONS")
        if self.bottom_count is not None and self.bottom_count < 0:
            raise ValueError(f"--bottom count must be >= 0, got {self.bottom_count}")
        if self.bottom_percent is not None and not 0 <= self.bottom_percent <= 100:
            raise ValueError(f"--bottom percentage must be within 0..100, got {self.bottom_percent}")
        if self.below is not None and not math.isfinite(self.below):
            raise ValueError(f"--below must be a finite number, got {self.below}")


def parse_bottom(text: str) -> CullRule:
    """``"10"`` means the ten lowest photos, ``"10%"`` the lowest tenth; anything else is a usage error."""
    cleaned = text.strip()
    try:
        if cleaned.endswith("%"):
            return CullRule(bottom_percent=float(cleaned[:-1]))
        return CullRule(bottom_count=int(cleaned))
    except ValueError as error:
        raise ValueError(f"--bottom expects a count like 10 or a percentage like 10%, got {text!r}: {error}") from None


def quota(rule: CullRule, n_scored: int) -> int | None:
    """How many photos a relative rule culls out of ``n_scored``; ``None`` for an absolute threshold.

    Percentages round down, so a run never culls more than the user asked for.
    """
    if rule.bottom_count is not None:
        return min(rule.bottom_count, n_scored)
    if rule.bottom_percent is not None:
        return math.floor(n_scored * rule.bottom_percent / 100 + 1e-9)
    return None


def select_culled(
    items: Sequence[Item],
    score_of: Callable[[Item], float | None],
    path_of: Callable[[Item], str],
    rule: CullRule,
    per_folder: bool = False,
    reasons_of: Callable[[Item], Collection[str] | None] = lambda item: None,
) -> list[Item]:
    """The items to cull, lowest score first; equal scores are ordered by path so reruns agree.

    Items without a score (unreadable files) are never culled: nothing is known about them.
    With ``per_folder`` a relative rule is applied to each folder (the parent of the path) on its own.
    With ``rule.reject``, items whose ``reasons_of`` share a reason with it are culled as well.
    """
    scored = [item for item in items if _usable(score_of(item))]
    ordered = sorted(scored, key=lambda item: (score_of(item), path_of(item)))
    by_score = _select_by_score(ordered, score_of, path_of, rule, per_folder)
    if not rule.reject:
        return by_score
    chosen = {id(item) for item in by_score}
    return [item for item in ordered if id(item) in chosen or rule.reject.intersection(reasons_of(item) or ())]


def _select_by_score(
    ordered: list[Item], score_of: Callable[[Item], float | None], path_of: Callable[[Item], str], rule: CullRule, per_folder: bool
) -> list[Item]:
    if rule.below is not None:
        return [item for item in ordered if score_of(item) < rule.below]  # type: ignore[operator]
    if rule.bottom_count is None and rule.bottom_percent is None:
        return []
    if not per_folder:
        return ordered[: quota(rule, len(ordered))]
    by_folder: dict[str, list[Item]] = {}
    for item in ordered:
        by_folder.setdefault(str(PurePosixPath(path_of(item)).parent), []).append(item)
    chosen: list[Item] = []
    for folder_items in by_folder.values():
        chosen.extend(folder_items[: quota(rule, len(folder_items))])
    return sorted(chosen, key=lambda item: (score_of(item), path_of(item)))


def stars_for(score: float) -> int:
    """Equal-width bins of [0, 1] (see the module docstring); out-of-range scores are clamped."""
    clamped = min(max(score, 0.0), 1.0)
    return min(MAX_STARS, MIN_STARS + math.floor(clamped * MAX_STARS))


def is_rejected(score: float, reject_below: float | None) -> bool:
    return reject_below is not None and score < reject_below


def rating_for(score: float, reject_below: float | None = None) -> int:
    """The ``xmp:Rating`` to write: -1 when rejected, else 1-5 stars."""
    return REJECTED_RATING if is_rejected(score, reject_below) else stars_for(score)


def pick_label_for(score: float, reject_below: float | None = None) -> int:
    """digiKam's pick label: 1 rejected, 3 accepted (digiKam ignores a -1 rating, so it needs this)."""
    return PICK_LABEL_REJECTED if is_rejected(score, reject_below) else PICK_LABEL_ACCEPTED


def _usable(score: float | None) -> bool:
    return score is not None and math.isfinite(score)
