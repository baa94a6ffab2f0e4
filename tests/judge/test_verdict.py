"""The verdict's rules on hand-built rows: each rule alone, then the properties a photographer relies on."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from aescull.judge.checks import Checks
from aescull.judge.faces import FaceVerdict
from aescull.judge.verdict import VerdictRules, judge_verdicts
from aescull.rows.record import ScoreRecord

RULES = VerdictRules(weak=0.3, trust=0.7, keep_per_moment=1, pick_share=0.2)


def row(name: str, score: float | None, *flags: str, group: str | None = None, rank: int | None = None,
        set_kind: str | None = None, set_id: str | None = None, pair: str | None = None, blinks: bool = False) -> ScoreRecord:
    checks = Checks(0.8, 0.0, 0.0, 0.1, tuple(flag for flag in flags if flag in ("blurry", "dark", "bright", "noisy")))
    faces = FaceVerdict(1, 1, 0.6, ("eyes-closed",), ()) if blinks else None
    return ScoreRecord(path=Path(name), score=score, error=None if score is not None else "cannot decode", checks=checks, faces=faces,
                       group=group, rank_in_group=rank, set_kind=set_kind, set_id=set_id, pair=None if pair is None else Path(pair))


def verdicts(records: list[ScoreRecord], rules: VerdictRules = RULES) -> dict[str, tuple[str | None, tuple[str, ...] | None]]:
    return {str(record.path): (record.verdict, record.verdict_reasons) for record in judge_verdicts(records, rules)}


def test_a_flagged_photo_is_rejected_with_its_reasons_and_noise_is_only_a_note() -> None:
    judged = verdicts([row("soft.jpg", 0.5, "blurry"), row("grainy.jpg", 0.5, "noisy"), row("blink.jpg", 0.6, blinks=True),
                       row("fine.jpg", 0.5)], VerdictRules(weak=0.3, pick_share=0.0))
    assert judged == {
        "soft.jpg": ("reject", ("blurry",)),
        "grainy.jpg": ("keep", ("noisy",)),
        "blink.jpg": ("reject", ("eyes-closed",)),
        "fine.jpg": ("keep", ()),
    }


def test_weak_is_the_score_alone_below_its_line() -> None:
    judged = verdicts([row("low.jpg", 0.29), row("line.jpg", 0.30), row("dark-low.jpg", 0.1, "dark")], VerdictRules(weak=0.3, pick_share=0))
    assert judged == {"low.jpg": ("reject", ("weak",)), "line.jpg": ("keep", ()), "dark-low.jpg": ("reject", ("dark", "weak"))}


def test_a_photo_the_score_vouches_for_keeps_its_flags_as_notes_but_only_outside_a_moment() -> None:
    alone = verdicts([row("sky.jpg", 0.75, "bright")], RULES)
    assert alone == {"sky.jpg": ("pick", ("bright",))}
    burst = verdicts([row("a.jpg", 0.8, "bright", group="g", rank=1), row("b.jpg", 0.6, group="g", rank=2)], RULES)
    assert burst == {"a.jpg": ("reject", ("bright",)), "b.jpg": ("pick", ())}


def test_a_burst_keeps_its_best_unflagged_frame_and_the_others_are_duplicates() -> None:
    frames = [row("1.jpg", 0.7, "blurry", group="g", rank=1), row("2.jpg", 0.6, group="g", rank=2), row("3.jpg", 0.5, group="g", rank=3)]
    assert verdicts(frames) == {"1.jpg": ("reject", ("blurry",)), "2.jpg": ("pick", ()), "3.jpg": ("reject", ("duplicate",))}
    two = verdicts(frames, VerdictRules(weak=0.3, keep_per_moment=2))
    assert two["2.jpg"] == ("pick", ()) and two["3.jpg"] == ("keep", ())


def test_the_score_alone_does_not_reject_the_best_frame_of_a_moment() -> None:
    frames = [row("best.jpg", 0.25, group="g", rank=1), row("next.jpg", 0.2, group="g", rank=2), row("alone.jpg", 0.25)]
    assert verdicts(frames) == {"best.jpg": ("pick", ("weak",)), "next.jpg": ("reject", ("duplicate", "weak")),
                                "alone.jpg": ("reject", ("weak",))}


def test_a_moment_follows_the_groups_rank_not_the_raw_score() -> None:
    """rank_in_group already puts a blink after every open-eyed frame: the verdict keeps that order."""
    frames = [row("high.jpg", 0.9, group="g", rank=2), row("open.jpg", 0.6, group="g", rank=1)]
    assert verdicts(frames)["open.jpg"][0] == "pick"


def test_a_bracket_is_one_unit_and_its_exposures_are_no_reason() -> None:
    bracket = [row(f"b{stop}.jpg", 0.5, flag, set_kind="bracket", set_id="s1", group="g", rank=rank)
               for rank, (stop, flag) in enumerate(((-2, "dark"), (0, "noisy"), (2, "bright")), start=1)]
    judged = verdicts(bracket)
    assert {verdict for verdict, _ in judged.values()} == {"pick"}
    shaken = verdicts([row(f"s{index}.jpg", 0.5, "blurry", "dark" if index else "bright", set_kind="bracket", set_id="s2")
                       for index in range(3)])
    assert set(shaken.values()) == {("reject", ("blurry",))}


def test_a_set_is_rejected_only_for_a_reason_all_its_frames_share() -> None:
    stack = [row("f1.jpg", 0.5, "blurry", set_kind="stack", set_id="s"), row("f2.jpg", 0.5, set_kind="stack", set_id="s")]
    assert {verdict for verdict, _ in verdicts(stack).values()} == {"pick"}


def test_a_raw_and_its_jpeg_share_one_verdict() -> None:
    judged = verdicts([row("IMG_1.CR2", 0.2, pair="IMG_1.jpg"), row("IMG_1.jpg", 0.2, pair="IMG_1.CR2"), row("IMG_2.jpg", 0.9)])
    assert judged["IMG_1.CR2"] == judged["IMG_1.jpg"] == ("reject", ("weak",))


def test_failed_rows_get_no_verdict_and_keep_their_place() -> None:
    records = [row("a.jpg", 0.6), row("broken.jpg", None), row("b.jpg", 0.7)]
    judged = judge_verdicts(records, RULES)
    assert [str(record.path) for record in judged] == ["a.jpg", "broken.jpg", "b.jpg"]
    assert judged[1].verdict is None and judged[1].verdict_reasons is None


def test_the_best_share_of_the_singles_is_picked_at_least_one() -> None:
    singles = [row(f"{index}.jpg", 0.4 + index / 100) for index in range(10)]
    judged = verdicts(singles, VerdictRules(weak=0.3, pick_share=0.2))
    assert sorted(name for name, (verdict, _) in judged.items() if verdict == "pick") == ["8.jpg", "9.jpg"]
    one = verdicts(singles[:3], VerdictRules(weak=0.3, pick_share=0.2))
    assert [name for name, (verdict, _) in one.items() if verdict == "pick"] == ["2.jpg"]
    none = verdicts(singles, VerdictRules(weak=0.3, pick_share=0.0))
    assert {verdict for verdict, _ in none.values()} == {"keep"}


def test_a_group_of_one_is_judged_as_a_single() -> None:
    assert verdicts([row("alone.jpg", 0.6, group="g", rank=1)]) == {"alone.jpg": ("pick", ())}


@pytest.mark.parametrize("seed", range(5))
def test_the_verdicts_do_not_depend_on_the_order_of_the_rows(seed: int) -> None:
    records = [
        row("1.jpg", 0.7, "blurry", group="g", rank=1), row("2.jpg", 0.6, group="g", rank=2), row("3.jpg", 0.5, group="g", rank=3),
        *(row(f"b{index}.jpg", 0.5, set_kind="bracket", set_id="s") for index in range(3)),
        *(row(f"single{index}.jpg", 0.2 + index / 20, "dark" if index % 3 == 0 else "noisy") for index in range(12)),
    ]
    shuffled = records[:]
    random.Random(seed).shuffle(shuffled)
    assert verdicts(shuffled) == verdicts(records)


def test_the_rules_refuse_lines_that_mean_nothing() -> None:
    with pytest.raises(ValueError):
        VerdictRules(keep_per_moment=0)
    with pytest.raises(ValueError):
        VerdictRules(pick_share=1.5)
