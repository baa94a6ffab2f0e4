"""Exposure brackets, focus stacks and panoramas from the command line: marked by --groups, never culled in part."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from tests.support.cli import invoke, rows
from tests.support.sets import save_bracket, save_focus_stack, save_panorama, save_steady_burst

BRACKET = {"BRK_0001.jpg", "BRK_0002.jpg", "BRK_0003.jpg"}  # ExposureBiasValue -2, 0, +2; 0.1 s apart
BURST = {f"BST_{index:04d}.jpg" for index in range(1, 6)}
ARGS = ["--max-side", "256", "--no-cache"]


@pytest.fixture
def shoot(tmp_path: Path) -> Path:
    """A bracket, then half a minute later an ordinary burst at the same settings."""
    root = tmp_path / "shoot"
    save_bracket(root, 0.0)
    save_steady_burst(root, 30.0)
    return root


def on_disk(folder: Path) -> set[str]:
    return {path.name for path in folder.glob("*.jpg")}


def marks(out: str) -> dict[str, tuple[str, str]]:
    return {Path(row["path"]).name: (row["set"], row["set_id"]) for row in rows(out)}


def test_score_groups_marks_the_bracket_and_not_the_burst(shoot: Path, plumbing_weights: Path) -> None:
    code, out, err = invoke(["score", "shoot", "--groups", *ARGS], cwd=shoot.parent, weights=plumbing_weights)
    assert code == 0, err
    marked = marks(out)
    assert {name: kind for name, (kind, _) in marked.items()} == {**dict.fromkeys(BRACKET, "bracket"), **dict.fromkeys(BURST, "")}
    assert len({marked[name][1] for name in BRACKET}) == 1 and marked["BRK_0001.jpg"][1].startswith("s")


def test_keep_best_keeps_the_bracket_whole_and_still_culls_the_burst(shoot: Path, plumbing_weights: Path) -> None:
    code, _, err = invoke(["cull", "shoot", "--keep-best", "1", *ARGS], cwd=shoot.parent, weights=plumbing_weights)
    assert code == 0, err
    assert BRACKET <= on_disk(shoot)
    assert len(BURST & on_disk(shoot)) == 1 and len(BURST & on_disk(shoot / "_culled")) == 4


def test_below_culls_a_bracket_whole_or_not_at_all(shoot: Path, plumbing_weights: Path) -> None:
    _, out, _ = invoke(["score", "shoot", *ARGS], cwd=shoot.parent, weights=plumbing_weights)
    scores = sorted(float(row["score"]) for row in rows(out) if Path(row["path"]).name in BRACKET)
    assert scores[0] < scores[-1]
    for threshold, expected in (((scores[0] + scores[-1]) / 2, set()), (scores[-1] + 0.001, BRACKET)):
        code, listed, err = invoke(["cull", "shoot", "--below", str(threshold), "--list", *ARGS], cwd=shoot.parent, weights=plumbing_weights)
        assert code == 0, err
        assert {Path(row["path"]).name for row in rows(listed)} & BRACKET == expected


def test_stacks_and_panoramas_are_marked_too(tmp_path: Path, plumbing_weights: Path) -> None:
    save_focus_stack(tmp_path / "shoot", 0.0)
    save_panorama(tmp_path / "shoot", 20.0)
    code, out, err = invoke(["score", "shoot", "--groups", *ARGS], cwd=tmp_path, weights=plumbing_weights)
    assert code == 0, err
    marked = marks(out)
    assert {name: kind for name, (kind, _) in marked.items()} == {
        **{f"STK_{index:04d}.jpg": "stack" for index in range(1, 4)},
        **{f"PAN_{index:04d}.jpg": "panorama" for index in range(1, 4)},
    }
    assert len({set_id for _, set_id in marked.values()}) == 2


def test_saved_rows_carry_the_sets_and_rows_without_them_are_warned_about(shoot: Path, plumbing_weights: Path) -> None:
    _, grouped, _ = invoke(["score", "shoot", "--groups", "-f", "jsonl", *ARGS], cwd=shoot.parent, weights=plumbing_weights)
    code, listed, err = invoke(["cull", "--from", "-", "--keep-best", "1", "--list"], cwd=shoot.parent, stdin=grouped)
    assert code == 0, err
    listed_names = {Path(row["path"]).name for row in rows(listed)}
    assert len(listed_names) == 4 and listed_names < BURST and "warning" not in err
    _, plain, _ = invoke(["score", "shoot", *ARGS], cwd=shoot.parent, weights=plumbing_weights)
    code, _, err = invoke(["cull", "--from", "-", "--below", "0.5", "--list"], cwd=shoot.parent, stdin=plain)
    assert code == 0 and "not written by `aescull score --groups`" in err and "exposure brackets" in err


def test_the_report_shows_each_photos_set_in_its_tooltip(shoot: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    saved = tmp_path / "rows.csv"
    invoke(["score", "shoot", "--groups", "-o", str(saved), *ARGS], cwd=shoot.parent, weights=plumbing_weights)
    code, _, err = invoke(["report", "--from", str(saved), "-o", str(tmp_path / "sheet.html")], cwd=shoot.parent, weights=plumbing_weights)
    assert code == 0, err
    page = html.unescape((tmp_path / "sheet.html").read_text(encoding="utf-8"))
    set_id = marks(saved.read_text(encoding="utf-8"))["BRK_0001.jpg"][1]
    assert page.count("set: bracket") == 3 and page.count(f"set_id: {set_id}") == 3
