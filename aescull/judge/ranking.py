"""Best first: the one ordering that ``rank``, ``rank --groups`` and the report's grid share.

A group (a burst) is kept together at the place of its best photo, so a photographer reads one
moment at a time; failures go last, since nothing is known about them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aescull.rows.record import ScoreRecord

Item = TypeVar("Item")


def best_first(
    items: Sequence[Item],
    score_of: Callable[[Item], float | None],
    *,
    group_of: Callable[[Item], Hashable | None] = lambda item: None,
    within: Callable[[Item], Any] | None = None,
    tiebreak: Callable[[Hashable | None], Any] = lambda group: 0,
    worst_first: bool = False,
    limit: int | None = None,
) -> list[Item]:
    """``items`` ranked by score, a group's members together at the place of the group's best.

    A place is one group (members in ``within`` order, best score first by default) or one item
    without a group. Places are ordered by their best score, highest first (lowest first with
    ``worst_first``); ties by ``tiebreak(group)`` (None for an item without a group), then by
    input order. ``limit`` keeps the first N places and leaves the failures out; without it the
    items without a score follow, in input order.
    """
    places: dict[Hashable, list[Item]] = {}
    for position, item in enumerate(items):
        if score_of(item) is None:
            continue
        group = group_of(item)
        places.setdefault(("group", group) if group is not None else ("item", position), []).append(item)

    def best(members: list[Item]) -> float:
        return max(score_of(member) for member in members)  # type: ignore[type-var]

    def place_key(key: tuple[str, Hashable]) -> tuple[float, Any]:
        value = best(places[key])
        return (value if worst_first else -value, tiebreak(key[1] if key[0] == "group" else None))

    member_order = within or (lambda item: -score_of(item))  # type: ignore[operator]
    ordered = sorted(places, key=place_key)
    if limit is not None:
        ordered = ordered[:limit]
    listed = [member for key in ordered for member in sorted(places[key], key=member_order)]
    if limit is None:
        listed += [item for item in items if score_of(item) is None]
    return listed


def rank_records(records: Sequence[ScoreRecord], *, grouped: bool = False, worst_first: bool = False, limit: int | None = None) -> list[ScoreRecord]:
    """The order of ``aescull rank``: by score, ties in discovery order; with ``grouped``, whole groups
    (by ``group``, ties by group id), each in ``rank_in_group`` order, and ``limit`` counts groups."""
    if not grouped:
        return best_first(records, lambda record: record.score, worst_first=worst_first, limit=limit)
    return best_first(records, lambda record: record.score, group_of=lambda record: record.group,
                      within=lambda record: (record.rank_in_group, str(record.path)), tiebreak=lambda group: group,
                      worst_first=worst_first, limit=limit)


def rank_by_verdict(records: Sequence[ScoreRecord], *, worst_first: bool = False, limit: int | None = None) -> list[ScoreRecord]:
    """The order of ``aescull rank --verdict``: picks, keeps, rejects, each in :func:`best_first`'s
    order (ties in discovery order; ``worst_first`` reverses both); ``limit`` counts photos; failures last."""
    from aescull.judge.verdict import KEEP, VERDICTS

    sections = VERDICTS[::-1] if worst_first else VERDICTS
    ordered = best_first(records, lambda record: record.score, worst_first=worst_first)
    scored = [record for record in ordered if record.score is not None]
    listed = sorted(scored, key=lambda record: sections.index(record.verdict or KEEP))  # stable: each section keeps its order
    if limit is not None:
        return listed[:limit]
    return listed + [record for record in ordered if record.score is None]
