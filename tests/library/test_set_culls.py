"""A set (bracket, stack, panorama) is one unit for every cull: --below, --bottom, --reject, --keep-best."""

from __future__ import annotations

from pathlib import Path

from aescull.judge.checks import Checks
from aescull.judge.decide import CullRule
from aescull.library.plan import plan_cull
from aescull.rows.record import ScoreRecord

ROOT = Path("/library")


def row(name: str, score: float, set_id: str | None = None, group: str | None = None, rank: int | None = None,
        reasons: tuple[str, ...] | None = None) -> ScoreRecord:
    checks = None if reasons is None else Checks(0.5, 0.5, 0.0, None, reasons)
    kind = None if set_id is None else "bracket"
    return ScoreRecord(ROOT / name, score, group=group, rank_in_group=rank, set_kind=kind, set_id=set_id, checks=checks)


def culled(rows: list[ScoreRecord], rule: CullRule | None = None, keep_best: int | None = None) -> set[str]:
    plan = plan_cull(rows, rule, ROOT, "list", ROOT / "_culled", keep_best=keep_best)
    return {row.path.name for shot in plan.culled for row in shot.rows}


def test_below_judges_a_set_by_its_best_shot() -> None:
    bracket = [row("dark.jpg", 0.2, "s1"), row("mid.jpg", 0.3, "s1"), row("bright.jpg", 0.8, "s1")]
    assert culled([*bracket, row("weak.jpg", 0.3)], CullRule(below=0.5)) == {"weak.jpg"}
    assert culled([*bracket, row("weak.jpg", 0.3)], CullRule(below=0.9)) == {"dark.jpg", "mid.jpg", "bright.jpg", "weak.jpg"}


def test_bottom_counts_a_set_once_at_the_place_of_its_best_shot() -> None:
    rows = [row("s_a.jpg", 0.1, "s1"), row("s_b.jpg", 0.9, "s1"), row("x.jpg", 0.5), row("y.jpg", 0.6)]
    assert culled(rows, CullRule(bottom_count=1)) == {"x.jpg"}
    assert culled(rows, CullRule(bottom_count=3)) == {"x.jpg", "y.jpg", "s_a.jpg", "s_b.jpg"}


def test_reject_culls_a_set_only_when_every_shot_has_one_same_reason() -> None:
    bracket = [row("dark.jpg", 0.2, "s1", reasons=("dark",)), row("mid.jpg", 0.5, "s1", reasons=()), row("bright.jpg", 0.4, "s1", reasons=("bright",))]
    assert culled(bracket, CullRule(reject=frozenset({"dark", "bright"}))) == set()
    blurred = [row(f"{name}.jpg", 0.3, "s2", reasons=("blurry", *extra)) for name, extra in (("a", ()), ("b", ("dark",)))]
    assert culled(blurred, CullRule(reject=frozenset({"blurry"}))) == {"a.jpg", "b.jpg"}
    unchecked = [*blurred, row("c.jpg", 0.3, "s2")]
    assert culled(unchecked, CullRule(reject=frozenset({"blurry"}))) == set()


def test_keep_best_keeps_a_set_whole_or_culls_it_whole() -> None:
    """One group: a burst frame ranked 1, the bracket's frames ranked 2 and 3, another frame 4."""
    rows = [row("burst1.jpg", 0.9, group="g", rank=1), row("brk1.jpg", 0.8, "s1", "g", 2), row("brk2.jpg", 0.7, "s1", "g", 3),
            row("burst2.jpg", 0.6, group="g", rank=4)]
    assert culled(rows, keep_best=1) == {"brk1.jpg", "brk2.jpg", "burst2.jpg"}
    assert culled(rows, keep_best=2) == {"burst2.jpg"}  # the set counts once: burst1, then the bracket


def test_a_set_across_groups_is_kept_when_it_is_among_the_best_of_any() -> None:
    """A panorama's frames are each their own moment; one was shot twice, and the repeat ranked first."""
    rows = [row("pan1.jpg", 0.5, "s1", "g1", 1), row("pan2.jpg", 0.4, "s1", "g2", 2), row("again.jpg", 0.6, group="g2", rank=1),
            row("pan3.jpg", 0.3, "s1", "g3", 1)]
    assert culled(rows, keep_best=1) == set()
    lost = [row("pan2.jpg", 0.4, "s1", "g2", 2), row("again.jpg", 0.6, group="g2", rank=1), row("pan3.jpg", 0.3, "s1", "g3", 2),
            row("other.jpg", 0.7, group="g3", rank=1)]
    assert culled(lost, keep_best=1) == {"pan2.jpg", "pan3.jpg"}
