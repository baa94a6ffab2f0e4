"""--groups, rank --groups and cull --keep-best from the command line: stdout, stderr, disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.cli import invoke, rows
from tests.support.bursts import landscape, make_shoot, save_frame
from tests.support.library import fingerprint

from tests.support.models import REPO


DISC_BURST = {"IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg"}
STRIPES = {"IMG_0004.jpg", "IMG_0005.jpg"}


@pytest.fixture
def shoot(tmp_path: Path) -> Path:
    return make_shoot(tmp_path / "shoot")


def groups_in(table: list[dict[str, str]]) -> list[set[str]]:
    by_group: dict[str, set[str]] = {}
    for row in table:
        by_group.setdefault(row["group"], set()).add(Path(row["path"]).name)
    return sorted(by_group.values(), key=sorted)


def test_score_groups_adds_group_and_rank_columns(shoot: Path, plumbing_weights: Path) -> None:
    code, out, err = invoke(["score", "shoot", "--groups", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    assert code == 0, err
    table = rows(out)
    assert list(table[0])[-4:] == ["group", "rank_in_group", "set", "set_id"]
    assert [row["path"] for row in table][:2] == ["shoot/IMG_0001.jpg", "shoot/IMG_0002.jpg"]  # discovery order, as without --groups
    assert groups_in(table) == [{"IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg"}, {"IMG_0004.jpg", "IMG_0005.jpg"}, {"IMG_0006.jpg"}, {"disc.jpg"}]
    for group in {row["group"] for row in table}:
        members = sorted((row for row in table if row["group"] == group), key=lambda row: (-float(row["score"]), row["path"]))
        assert [int(row["rank_in_group"]) for row in members] == list(range(1, len(members) + 1))
    assert "7 of 7 files scored" in err and "group" not in err


def test_group_ids_are_the_same_on_a_rerun_and_from_another_folder(shoot: Path, plumbing_weights: Path) -> None:
    _, first, _ = invoke(["score", "shoot", "--groups", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    _, second, _ = invoke(["score", ".", "--groups", "-f", "jsonl", "--max-side", "64", "--no-cache"], cwd=shoot, weights=plumbing_weights)
    import json

    assert {Path(row["path"]).name: row["group"] for row in rows(first)} == {
        Path(item["path"]).name: item["group"] for item in map(json.loads, second.splitlines())
    }


def test_duplicates_joins_the_export_to_its_burst_only_when_asked(shoot: Path, plumbing_weights: Path) -> None:
    _, out, _ = invoke(["score", "shoot", "--groups", "--duplicates", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    assert groups_in(rows(out)) == [DISC_BURST | {"disc.jpg"}, STRIPES, {"IMG_0006.jpg"}]


def test_burst_window_and_similarity_options_change_the_groups(shoot: Path, plumbing_weights: Path) -> None:
    _, out, _ = invoke(["score", "shoot", "--groups", "--burst-window", "0.2", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    assert len(groups_in(rows(out))) == 7
    _, out, _ = invoke(["score", "shoot", "--groups", "--similarity", "-1", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    assert groups_in(rows(out)) == [DISC_BURST | STRIPES, {"IMG_0006.jpg"}, {"disc.jpg"}]  # time alone merges the scenes


def test_rank_groups_lists_groups_by_their_best_each_best_first(shoot: Path, plumbing_weights: Path) -> None:
    code, out, err = invoke(["rank", "shoot", "--groups", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    assert code == 0, err
    table = rows(out)
    order = list(dict.fromkeys(row["group"] for row in table))
    assert len(order) == 4
    best = [max(float(row["score"]) for row in table if row["group"] == group) for group in order]
    assert best == sorted(best, reverse=True)
    for group in order:
        members = [row for row in table if row["group"] == group]
        assert [int(row["rank_in_group"]) for row in members] == list(range(1, len(members) + 1))
        assert [float(row["score"]) for row in members] == sorted((float(row["score"]) for row in members), reverse=True)
    _, top, _ = invoke(["rank", "shoot", "--groups", "--top", "1", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    assert rows(top) == [row for row in table if row["group"] == order[0]]


def test_rank_groups_table_shows_one_block_per_group(shoot: Path, plumbing_weights: Path) -> None:
    code, out, _ = invoke(["rank", "shoot", "--groups", "-f", "table", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    assert code == 0
    lines = out.splitlines()
    header = next(index for index, line in enumerate(lines) if line.split()[:3] == ["group", "rank", "path"])
    blocks: list[list[list[str]]] = [[]]
    for line in lines[header + 2 :]:  # after the header and its rule; a blank line ends a group
        if line.strip():
            blocks[-1].append(line.split())
        elif blocks[-1]:
            blocks.append([])
    blocks = [block for block in blocks if block]
    assert len(blocks) == 4 and len({block[0][0] for block in blocks}) == 4
    for block in blocks:
        assert {cells[0] for cells in block} == {block[0][0]}
        assert [cells[1] for cells in block] == [str(rank) for rank in range(1, len(block) + 1)]


def test_cull_keep_best_moves_all_but_the_best_of_each_group(shoot: Path, plumbing_weights: Path) -> None:
    _, scored, _ = invoke(["score", "shoot", "--groups", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    best = {Path(row["path"]).name for row in rows(scored) if row["rank_in_group"] == "1"}
    code, out, err = invoke(["cull", "shoot", "--keep-best", "1", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    assert code == 0, err
    assert out == ""
    left = {path.name for path in shoot.rglob("*.jpg") if "_culled" not in path.parts}
    culled = {path.name for path in (shoot / "_culled").rglob("*.jpg")}
    assert left == best and len(left) == 4
    assert culled == {"IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg", "IMG_0004.jpg", "IMG_0005.jpg"} - best
    assert "kept 4 shots, culled 3" in err


def test_keep_best_with_below_also_culls_weak_best_frames(shoot: Path, plumbing_weights: Path) -> None:
    _, scored, _ = invoke(["score", "shoot", "--groups", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    table = rows(scored)
    best_scores = sorted(float(row["score"]) for row in table if row["rank_in_group"] == "1")
    threshold = (best_scores[0] + best_scores[1]) / 2  # under it: exactly one group's best
    weakest_best = next(Path(row["path"]).name for row in table if row["rank_in_group"] == "1" and float(row["score"]) == best_scores[0])
    code, out, err = invoke(["cull", "shoot", "--keep-best", "1", "--below", str(threshold), "--list", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    assert code == 0, err
    listed = rows(out)
    assert weakest_best in {Path(row["path"]).name for row in listed}
    expected = {Path(row["path"]).name for row in table if row["rank_in_group"] != "1" or float(row["score"]) < threshold}
    assert {Path(row["path"]).name for row in listed} == expected
    assert all(row["group"] for row in listed)


def test_a_bulk_copy_of_distinct_photos_without_exif_is_no_burst(tmp_path: Path, plumbing_weights: Path) -> None:
    """Photos from a phone or a chat app: distinct scenes (alike to a thumbnail), no EXIF, one file
    time. Nothing is a burst, so --keep-best culls nothing but the second copy of a re-sent photo."""
    for seed in range(8):
        save_frame(tmp_path / "copy" / f"IMG_{seed}.jpg", landscape(seed), None, mtime_seconds=0.0)
    save_frame(tmp_path / "copy" / "IMG_0 (1).jpg", landscape(0), None, mtime_seconds=0.0)
    before = fingerprint(tmp_path / "copy")
    code, out, err = invoke(["score", "copy", "--groups", "--max-side", "64", "--no-cache"], cwd=tmp_path, weights=plumbing_weights)
    assert code == 0, err
    assert groups_in(rows(out)) == [{"IMG_0 (1).jpg", "IMG_0.jpg"}] + [{f"IMG_{seed}.jpg"} for seed in range(1, 8)]
    code, out, err = invoke(["cull", "copy", "--keep-best", "1", "--dry-run", "--max-side", "64", "--no-cache"], cwd=tmp_path, weights=plumbing_weights)
    assert code == 0, err
    moves = [line for line in out.splitlines() if line.startswith("move ")]
    assert len(moves) == 1 and "IMG_0" in moves[0]
    assert fingerprint(tmp_path / "copy") == before


def test_keep_best_from_saved_rows_needs_their_groups(shoot: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    before = fingerprint(shoot)
    _, plain, _ = invoke(["score", "shoot", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    code, out, err = invoke(["cull", "--keep-best", "1", "--from", "-", "--dry-run", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights, stdin=plain)
    assert code == 2 and out == "" and "score --groups" in err
    _, grouped, _ = invoke(["score", "shoot", "--groups", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    code, out, err = invoke(["cull", "--keep-best", "1", "--from", "-", "--dry-run", "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights, stdin=grouped)
    assert code == 0, err
    assert len([line for line in out.splitlines() if line.startswith("move ")]) == 3
    assert "kept 4 shots, culled 3" in err and fingerprint(shoot) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep-best", "1", "--bottom", "2"], "not with --bottom"),
        (["--keep-best", "0"], "--keep-best"),
    ],
)
def test_cull_keep_best_usage_errors(shoot: Path, plumbing_weights: Path, args: list[str], message: str) -> None:
    code, out, err = invoke(["cull", "shoot", *args, "--max-side", "64", "--no-cache"], cwd=shoot.parent, weights=plumbing_weights)
    assert code == 2 and out == "" and message in err


def test_subprocess_rank_groups_keeps_streams_apart(shoot: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aescull", "rank", ".", "--groups", "--duplicates", "--weights", str(plumbing_weights), "--max-side", "64"],
        cwd=shoot,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    table = rows(result.stdout)
    assert groups_in(table) == [DISC_BURST | {"disc.jpg"}, STRIPES, {"IMG_0006.jpg"}]
    assert "7 of 7 files scored" in result.stderr and "IMG_" not in result.stderr
