from __future__ import annotations

import pytest

from aescull.judge.decide import (
    CullRule,
    parse_bottom,
    pick_label_for,
    quota,
    rating_for,
    select_culled,
    stars_for,
)

ROWS = [
    ("a/1.jpg", 0.9),
    ("a/2.jpg", 0.1),
    ("a/3.jpg", 0.5),
    ("b/1.jpg", 0.3),
    ("b/2.jpg", 0.3),
    ("b/3.jpg", None),
    ("b/4.jpg", 0.7),
    ("c/1.jpg", 0.95),
]


def culled(rule: CullRule, per_folder: bool = False, rows=ROWS) -> list[str]:
    chosen = select_culled(rows, score_of=lambda row: row[1], path_of=lambda row: row[0], rule=rule, per_folder=per_folder)
    return [path for path, _ in chosen]


def test_below_threshold_culls_strictly_lower_scores_lowest_first() -> None:
    assert culled(CullRule(below=0.5)) == ["a/2.jpg", "b/1.jpg", "b/2.jpg"]


def test_unscored_rows_are_never_culled() -> None:
    assert "b/3.jpg" not in culled(CullRule(below=2.0))
    assert "b/3.jpg" not in culled(CullRule(bottom_count=100))


def test_bottom_count_breaks_ties_by_path_whatever_the_input_order() -> None:
    assert culled(CullRule(bottom_count=2)) == ["a/2.jpg", "b/1.jpg"]
    assert culled(CullRule(bottom_count=2), rows=list(reversed(ROWS))) == ["a/2.jpg", "b/1.jpg"]


def test_bottom_percent_counts_scored_rows_and_rounds_down() -> None:
    # 7 scored rows: 30% is 2.1 photos, so 2 are culled, never 3.
    assert culled(parse_bottom("30%")) == ["a/2.jpg", "b/1.jpg"]
    assert culled(parse_bottom("10%")) == []


def test_per_folder_applies_the_quota_in_each_folder() -> None:
    assert culled(CullRule(bottom_count=1), per_folder=True) == ["a/2.jpg", "b/1.jpg", "c/1.jpg"]
    assert culled(parse_bottom("50%"), per_folder=True) == ["a/2.jpg", "b/1.jpg"]


def test_bottom_larger_than_the_run_culls_everything_scored() -> None:
    assert quota(CullRule(bottom_count=50), 7) == 7
    assert len(culled(CullRule(bottom_count=50))) == 7


@pytest.mark.parametrize("text", ["ten", "10.5", "-3", "150%", "%", ""])
def test_parse_bottom_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bottom(text)


def test_rule_needs_exactly_one_criterion() -> None:
    with pytest.raises(ValueError):
        CullRule()
    with pytest.raises(ValueError):
        CullRule(below=0.5, bottom_count=3)
    with pytest.raises(ValueError):
        CullRule(below=float("nan"))


@pytest.mark.parametrize(
    ("score", "stars"),
    [(0.0, 1), (0.19, 1), (0.2, 2), (0.39, 2), (0.4, 3), (0.6, 4), (0.79, 4), (0.8, 5), (1.0, 5), (-0.1, 1), (1.3, 5)],
)
def test_stars_are_equal_width_bins(score: float, stars: int) -> None:
    assert stars_for(score) == stars


def test_rating_is_minus_one_only_when_rejecting() -> None:
    assert rating_for(0.1) == 1
    assert rating_for(0.1, reject_below=0.3) == -1
    assert rating_for(0.3, reject_below=0.3) == 2
    assert pick_label_for(0.1, reject_below=0.3) == 1
    assert pick_label_for(0.9, reject_below=0.3) == 3
    assert pick_label_for(0.1) == 3
