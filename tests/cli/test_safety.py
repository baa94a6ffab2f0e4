"""The mistakes and photo sets of a first hour with aescull never cost a photo: bad input changes nothing."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import invoke, rows, subprocess_env
from tests.support.images import save_photo
from tests.support.library import fingerprint
from tests.support.mounts import read_only_view


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    for index in range(3):
        save_photo(root / f"top{index}.jpg", 120, 90, seed=index)
    for index in range(2):
        save_photo(root / "a" / f"a{index}.jpg", 120, 90, seed=10 + index)
        save_photo(root / "b" / f"b{index}.jpg", 120, 90, seed=20 + index)
    return root


def everything_under(folder: Path) -> dict[str, object]:
    return fingerprint(folder)


@pytest.mark.parametrize(
    "args",
    [
        ["cull", "lib", "--bottom", "10", "%"],  # a space before the % made "%" a second PATH
        ["cull", "lib", "lib/typo", "--below", "0.99"],
        ["cull", "lib", "--below", "0.99", "--copy", "--move-to", "rejects", "lib/nosuch.jpg"],
        ["tag", "lib", "nosuch"],
    ],
)
def test_a_missing_path_changes_nothing_and_is_a_usage_error(args: list[str], library: Path, plumbing_weights: Path) -> None:
    before = everything_under(library.parent)
    code, out, err = invoke([*args, "--no-cache"], cwd=library.parent, weights=plumbing_weights)
    assert code == 2 and out == ""
    assert "no such file or folder; nothing was changed" in err
    assert everything_under(library.parent) == before  # no move, no sidecar, no _culled folder, no journal


def test_the_cull_folder_is_never_above_what_was_typed(library: Path, plumbing_weights: Path) -> None:
    before = everything_under(library.parent)
    code, _, err = invoke(["cull", "lib/a", "lib/b", "--below", "0.99", "--no-cache"], cwd=library.parent, weights=plumbing_weights)
    assert code == 2 and "have no common folder among them" in err and "--move-to" in err
    assert everything_under(library.parent) == before
    code, _, err = invoke(["cull", "lib/a", "lib/b", "--below", "0.99", "--move-to", "rejects", "--no-cache"], cwd=library.parent,
                          weights=plumbing_weights)
    assert code == 0, err
    assert sorted(path.name for path in (library.parent / "rejects").rglob("*.jpg")) == ["a0.jpg", "a1.jpg", "b0.jpg", "b1.jpg"]


def test_an_unreadable_from_file_is_a_usage_error(library: Path) -> None:
    code, out, err = invoke(["cull", "--from", "nosuch.csv", "--below", "0.5"], cwd=library.parent)
    assert code == 2 and out == "" and "cannot read score rows from nosuch.csv" in err


@pytest.fixture
def card(tmp_path: Path) -> Iterator[Path]:
    source = tmp_path / "card-source"
    for index in range(3):
        save_photo(source / "DCIM" / f"IMG_{index:04d}.JPG", 160, 120, seed=index, quality=92)
    with read_only_view(source, tmp_path / "card") as view:
        yield view


def test_a_read_only_card_can_be_culled_by_copying_and_undone(card: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    before = everything_under(card)
    rejects = tmp_path / "home" / "rejects"
    code, out, err = invoke(["cull", str(card), "--below", "0.99", "--copy", "--move-to", str(rejects), "--no-cache"],
                            weights=plumbing_weights)
    assert code == 0, err
    assert sorted(path.name for path in rejects.rglob("*.JPG")) == ["IMG_0000.JPG", "IMG_0001.JPG", "IMG_0002.JPG"]
    assert f"undo with: aescull undo {card}" in err
    assert everything_under(card) == before
    code, _, err = invoke(["undo", str(card)])
    assert code == 0, err
    assert not rejects.exists()


@pytest.mark.parametrize("extra", [[], ["--dry-run"]])
def test_moving_out_of_a_read_only_card_is_refused_up_front_dry_run_included(
    card: Path, plumbing_weights: Path, extra: list[str]
) -> None:
    code, out, err = invoke(["cull", str(card), "--below", "0.99", "--no-cache", *extra], weights=plumbing_weights)
    assert code == 2 and out == ""
    assert "is read-only" in err and "--copy --move-to" in err


def test_a_report_of_a_read_only_card_goes_elsewhere(card: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    for placement in ("embed", "folder"):
        target = tmp_path / "home" / f"{placement}.html"
        code, _, err = invoke(["report", str(card), "-o", str(target), "--thumbnails", placement, "--no-cache"], weights=plumbing_weights)
        assert code == 0, err
        assert target.is_file()


def test_undo_finds_a_run_in_a_nested_folder_and_a_missing_folder_is_an_error(library: Path, plumbing_weights: Path) -> None:
    before = everything_under(library)
    code, _, err = invoke(["tag", "lib/a", "--no-cache"], cwd=library.parent, weights=plumbing_weights)
    assert code == 0, err
    assert everything_under(library) != before
    code, _, err = invoke(["undo", "lib"], cwd=library.parent)
    assert code == 0 and "undone: 2 changes reverted" in err
    assert everything_under(library) == before
    code, _, err = invoke(["undo", "nosuch"], cwd=library.parent)
    assert code == 2 and "nosuch: no such folder" in err


def test_a_frame_too_thin_to_judge_is_an_error_row_and_a_panorama_is_judged(tmp_path: Path, plumbing_weights: Path) -> None:
    save_photo(tmp_path / "logo-strip.png", 284, 25, seed=1)
    save_photo(tmp_path / "panorama.jpg", 3000, 200, seed=2, quality=90)
    code, out, err = invoke(["score", str(tmp_path), "--no-cache"], weights=plumbing_weights)
    assert code == 1
    by_name = {Path(row["path"]).name: row for row in rows(out)}
    assert by_name["logo-strip.png"]["score"] == ""
    assert by_name["logo-strip.png"]["error"] == "too small to judge: its short side is under 65 pixels"
    assert by_name["panorama.jpg"]["error"] == "" and 0.0 <= float(by_name["panorama.jpg"]["score"]) <= 1.0


@pytest.mark.parametrize("command", ["score", "rank", "cull", "tag", "undo", "report"])
def test_help_shows_no_type_placeholders_and_every_default(command: str) -> None:
    code, out, _ = invoke([command, "--help"])
    assert code == 0
    assert "<bool>" not in out
    assert not re.search(r"[a-z)] \.(\s|$)", out)  # a default eaten by markup left "per model call ."
    if command in ("score", "cull", "report"):
        text = " ".join(out.split())
        assert "[default: 1]" in text and "[default: CPU cores, at most 4]" in text


def test_summaries_count_in_the_singular_too(tmp_path: Path, plumbing_weights: Path) -> None:
    save_photo(tmp_path / "lib" / "one.jpg", 120, 90)
    code, _, err = invoke(["score", "lib", "--no-cache"], cwd=tmp_path, weights=plumbing_weights)
    assert code == 0 and "1 of 1 file scored" in err
    code, _, err = invoke(["tag", "lib", "--no-cache"], cwd=tmp_path, weights=plumbing_weights)
    assert code == 0 and "1 sidecar written" in err
    code, _, err = invoke(["report", "lib", "-o", "r.html", "--no-cache"], cwd=tmp_path, weights=plumbing_weights)
    assert code == 0 and "1 photo," in err


def run_in_a_terminal(args: list[str], cwd: Path, tmp_path: Path) -> tuple[int, str]:
    """``python -m aescull ARGS`` with stdin and stderr on a terminal, as a person runs it: (exit code, what stderr showed)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "aescull", *args], cwd=cwd, env=subprocess_env(tmp_path), stdin=terminal,
                               stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    return process.wait(timeout=300), shown.decode("utf-8", "replace")


def test_the_progress_bar_has_a_total_and_an_eta(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    code, shown = run_in_a_terminal(["score", "lib", "--weights", str(plumbing_weights), "--no-cache"], library.parent, tmp_path)
    assert code == 0
    counts = set(re.findall(r"\d+/(\d+|\?)", shown))
    assert counts == {"7"}  # never "22/?"
    assert "ETA" in shown


def test_report_scores_the_current_folder_by_default_like_score(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    code, shown = run_in_a_terminal(["report", "-o", str(tmp_path / "r.html"), "--weights", str(plumbing_weights), "--no-cache"],
                                    library, tmp_path)
    assert code == 0, shown
    assert "report" in shown and "7 photos" in shown
