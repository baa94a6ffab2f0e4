"""Resource bounds: memory for a 100-MP JPEG, a walk that streams, no file handle left open.

The 10,000-photo memory measurement generates and scores a whole folder (minutes on a laptop), so
it runs only with AESCULL_LIMITS=1; README gives its figures.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from aescull.pipeline import local as scoring
from aescull.cli.app import app
from aescull.pipeline.discover import discover
from aescull.model.checkpoint import LoadedModel
from tests.support.models import REPO
from tests.support.hostile import huge_jpeg, write_corpus
from tests.support.peak_rss import make_folder



def peak_rss(tmp_path: Path, *args: str) -> dict[str, float]:
    """tests/support/peak_rss.py in a fresh process, so that the peak is this run's alone."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    completed = subprocess.run(
        [sys.executable, str(REPO / "tests" / "support" / "peak_rss.py"), *args], env=env, capture_output=True, text=True, timeout=3600
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_a_100_megapixel_jpeg_scores_in_bounded_memory(tmp_path: Path, plumbing_weights: Path) -> None:
    huge = huge_jpeg(tmp_path / "huge-100mp.jpg")
    warm_up = tmp_path / "warm-up.jpg"
    Image.new("RGB", (1250, 800), (90, 120, 150)).save(warm_up)  # the same working size, 512 x 328
    figures = peak_rss(tmp_path, "--weights", str(plumbing_weights), "--max-side", "512", "--warm-up", str(warm_up), str(huge))
    assert figures["records"] == 1 and figures["failed"] == 0
    # Decoded whole, its RGB pixels alone would take 300 MB; drafted at 1/8 they take 4.7 MB.
    assert figures["peak_mib"] - figures["baseline_mib"] < 64, figures


def test_the_walk_streams_folder_by_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(30):
        folder = tmp_path / "lib" / f"{index:02d}"
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(folder / "a.png")
    listed: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path: object = ".") -> object:
        listed.append(os.fspath(path))  # type: ignore[arg-type]
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", counting_scandir)
    walk = discover([tmp_path / "lib"])
    assert next(walk).path == tmp_path / "lib" / "00" / "a.png"
    assert len(listed) == 2  # the root and its first folder, not the 30 folders
    assert len(list(walk)) == 29


def test_scoring_takes_files_from_the_walk_as_it_goes(tmp_path: Path, plumbing_model: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(60):
        Image.new("RGB", (96, 72), (index, 0, 0)).save(tmp_path / f"{index:02d}.png")
    taken = 0
    real_discover = scoring.discover

    def counting_discover(*args: object, **kwargs: object) -> object:
        nonlocal taken
        for candidate in real_discover(*args, **kwargs):  # type: ignore[arg-type]
            taken += 1
            yield candidate

    monkeypatch.setattr(scoring, "discover", counting_discover)
    records = scoring.score_paths([tmp_path], model=plumbing_model, max_side=32, batch_size=2, workers=1)
    assert next(records).ok
    assert taken <= 10  # a window of files is read ahead, not the whole folder
    assert len(list(records)) == 59


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_no_file_handle_outlives_a_run(tmp_path: Path, plumbing_model: LoadedModel, plumbing_weights: Path) -> None:
    root = tmp_path / "lib"
    write_corpus(root)
    cache = tmp_path / "c.sqlite"
    gc.collect()
    before = open_descriptors()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        records = list(scoring.score_paths([root], model=plumbing_model, max_side=32, cache_file=cache))
        unfinished = scoring.score_paths([root], model=plumbing_model, max_side=32, cache_file=cache)
        next(unfinished)
        unfinished.close()  # a reader that stops early (`aescull score | head`)
        result = CliRunner().invoke(app, ["cull", str(root), "--bottom", "3", "--weights", str(plumbing_weights), "--max-side", "32", "--cache", str(cache)])
        assert CliRunner().invoke(app, ["undo", str(root)]).exit_code == 0
        gc.collect()
    assert any(record.error for record in records) and result.exit_code == 1
    assert open_descriptors() == before
    assert [warning for warning in caught if issubclass(warning.category, ResourceWarning)] == []


@pytest.mark.skipif(not os.environ.get("AESCULL_LIMITS"), reason="set AESCULL_LIMITS=1: generates and scores 10,000 photos")
def test_peak_memory_does_not_grow_with_the_number_of_photos(tmp_path: Path, plumbing_weights: Path) -> None:
    make_folder(tmp_path / "lib", 10_000)
    common = ("--weights", str(plumbing_weights), "--max-side", "64", "--warm-up", str(tmp_path / "lib" / "00" / "IMG_00000.jpg"))
    hundred = peak_rss(tmp_path, *common, str(tmp_path / "lib" / "00"))
    everything = peak_rss(tmp_path, *common, str(tmp_path / "lib"))
    assert hundred["records"] == 100 and everything["records"] == 10_000 and everything["failed"] == 0
    assert everything["peak_mib"] - hundred["peak_mib"] < 32, (hundred, everything)
