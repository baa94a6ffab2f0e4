"""The synthetic burst generator and the grouping metrics behind `python -m evaluation.groups_eval`."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.bursts import SCENES, scene_pixels
from PIL import Image

from aescull.pipeline.exif import read_exif
from evaluation.groups_eval import TruthRow, grouping_scores, make_bursts, make_distinct, read_truth
from tests.support.models import REPO


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for scene in SCENES[:3]:
        Image.fromarray(scene_pixels(scene, 400, 300)).save(folder / f"{scene}.jpg", quality=95)
    (folder / "notes.txt").write_text("not a photo")
    return folder


@pytest.fixture(scope="module")
def library(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bursts") / "lib"
    make_bursts(sources, out, seed=3)
    return out


def test_every_burst_has_one_sharp_frame_with_exif_times_in_order(library: Path) -> None:
    truth = read_truth(library)
    bursts = sorted({row.burst for row in truth})
    assert len(bursts) == 3
    for burst in bursts:
        frames = [row for row in truth if row.burst == burst and row.kind == "frame"]
        assert 4 <= len(frames) <= 7 and sum(row.sharp for row in frames) == 1
        times = [read_exif(library / row.path).taken for row in frames]
        assert all(taken and "." in taken for taken in times) and times == sorted(times)  # type: ignore[type-var]


def test_copies_keep_the_exif_time_and_exports_have_none_and_a_later_file_time(library: Path) -> None:
    truth = read_truth(library)
    by_path = {row.path: row for row in truth}
    exact = [row for row in truth if row.kind == "exact copy"]
    assert exact and all((library / row.path).read_bytes() == (library / row.source).read_bytes() for row in exact)
    resized = [row for row in truth if row.kind == "resized copy"]
    assert resized and all(read_exif(library / row.path).taken == read_exif(library / row.source).taken for row in resized)
    exports = [row for row in truth if "export" in row.kind]
    assert exports and all(read_exif(library / row.path).taken is None for row in exports)
    shot_last = max((library / row.path).stat().st_mtime for row in truth if row.kind == "frame")
    assert all((library / row.path).stat().st_mtime > shot_last + 86_400 for row in exports)
    assert all(row.moment == f"{row.burst}-export" and by_path[row.source].burst == row.burst for row in exports)


def test_the_same_seed_gives_the_same_library(sources: Path, library: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    make_bursts(sources, again, seed=3)

    def digest(root: Path) -> dict[str, str]:
        return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in root.rglob("*") if path.is_file()}

    assert digest(again) == digest(library)
    other = tmp_path / "other"
    make_bursts(sources, other, seed=4)
    assert digest(other) != digest(library)


def test_a_distinct_library_is_a_bulk_copy_without_exif_of_untouched_pixels(library: Path, sources: Path, tmp_path: Path) -> None:
    """make-distinct copies photos as a phone or chat app does: EXIF gone, one file time for all,
    the pixels as they were; every photo its own moment."""
    truth = make_distinct([library / "shoot", sources], tmp_path / "distinct")
    copies = [tmp_path / "distinct" / row.path for row in truth]
    assert len(copies) == len(list((library / "shoot").iterdir())) + 3
    assert {row.path.split("/")[0] for row in truth} == {"shoot", sources.name}
    assert all(read_exif(copy).taken is None for copy in copies)
    assert len({copy.stat().st_mtime_ns for copy in copies}) == 1
    original = library / "shoot" / "IMG_0001.jpg"
    assert read_exif(original).taken is not None
    with Image.open(original) as before, Image.open(tmp_path / "distinct" / "shoot" / "IMG_0001.jpg") as after:
        assert before.tobytes() == after.tobytes()
    assert len({row.moment for row in read_truth(tmp_path / "distinct")}) == len(truth)


def truth_rows(*specs: tuple[str, str, bool]) -> list[TruthRow]:
    return [TruthRow(path, burst, burst, sharp, "frame", path) for path, burst, sharp in specs]


def test_pairwise_precision_recall_and_best_kept() -> None:
    truth = truth_rows(("a1", "a", True), ("a2", "a", False), ("a3", "a", False), ("b1", "b", False), ("b2", "b", True))
    perfect = {"a1": ("x", 1), "a2": ("x", 2), "a3": ("x", 3), "b1": ("y", 2), "b2": ("y", 1)}
    result = grouping_scores(truth, perfect, duplicates=False)
    assert (result.precision, result.recall, result.best_kept, result.lesser_copy_kept) == (1.0, 1.0, 1.0, 0)
    assert (result.shared_groups, result.largest_group, result.grouped_pairs, result.false_pairs) == (2, 3, 4, [])
    merged = {"a1": ("x", 1), "a2": ("x", 2), "a3": ("x", 3), "b1": ("x", 5), "b2": ("x", 4)}
    result = grouping_scores(truth, merged, duplicates=False)
    assert (result.precision, result.recall, result.best_kept) == (4 / 10, 1.0, 0.5)  # b's best is not first of the merged group
    assert (result.largest_group, result.grouped_pairs, len(result.false_pairs)) == (5, 10, 6) and ("a1", "b1") in result.false_pairs
    split = {"a1": ("x", 1), "a2": ("x", 2), "a3": ("z", 1), "b1": ("y", 1), "b2": ("y", 2)}
    result = grouping_scores(truth, split, duplicates=False)
    assert (result.precision, result.recall, result.best_kept) == (1.0, 2 / 4, 0.5)


def test_evaluate_command_prints_the_figures(library: Path, plumbing_weights: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evaluation.groups_eval", "evaluate", str(library), "--weights", str(plumbing_weights), "--max-side", "128", "--threads", "1"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{len(read_truth(library))} photos, 3 bursts, model plumbing")
    figures = {line.split("  ")[0].strip(): line for line in lines[2:] if not line.startswith(" ")}
    assert set(figures) == {"default", "--duplicates", "time alone (--similarity -1)", "sets (there are none)"}
    assert re.search(r"  0 of \d+ photos in 0 sets$", figures["sets (there are none)"]), figures["sets (there are none)"]

    def measured(label: str) -> tuple[float, float, int, int]:
        found = re.search(r"precision (\S+)  recall (\S+) .*\((\d+) groups found, (\d+) true\)", figures[label])
        assert found, figures[label]
        return float(found[1]), float(found[2]), int(found[3]), int(found[4])

    # Grouping reads pixels and times, not the (untrained) model: these distinct scenes group exactly.
    assert measured("default") == (1.0, 1.0, 4, 4)  # three bursts, and one burst's exports on their own
    assert re.search(r"4 of 2 or more, largest \d+, \d+ grouped pairs, 0 false$", figures["default"])
    assert measured("--duplicates") == (1.0, 1.0, 3, 3)  # the exports join their burst
    precision, recall, found, true = measured("time alone (--similarity -1)")
    assert precision < 0.5 and recall == 1.0 and found < true  # bursts seconds apart merge
