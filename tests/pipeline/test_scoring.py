from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import numpy as np
from PIL import Image

import aescull
from aescull.pipeline import local as scoring
from aescull.pipeline.decode import MIN_SHORT_SIDE, working_size
from aescull.rows.record import ScoreRecord
from aescull.model.checkpoint import LoadedModel
from tests.support.images import photo_pixels, save_photo
from tests.support.models import REPO
from tests.support.images import fake_raw_with_preview, save_oriented


class ModelSpy:
    """Records the batches the local engine hands to the model (through its one entry point,
    score_batch), so a test sees batching and cache hits without a stand-in model."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.shapes: list[tuple[int, ...]] = []
        real = scoring.score_batch

        def recording(network: object, pixels: list[np.ndarray]) -> list[float | None]:
            self.shapes.append((len(pixels), *pixels[0].shape))
            return real(network, pixels)  # type: ignore[arg-type]

        monkeypatch.setattr(scoring, "score_batch", recording)

    @property
    def images_seen(self) -> int:
        return sum(shape[0] for shape in self.shapes)


def scores_by_name(records: list[ScoreRecord]) -> dict[str, float | None]:
    return {record.path.name: record.score for record in records}


def test_public_api_loads_the_model_code_only_when_first_used(tmp_path: Path) -> None:
    """``import aescull`` is instant (no torch, no numpy); the names load their modules on first use,
    and the scoring pipeline itself needs no torch (only the torch runtime imports it)."""
    probe = (
        "import sys, aescull\n"
        "before = sorted(name for name in ('torch', 'numpy') if name in sys.modules)\n"
        "from aescull.pipeline.local import score_paths\n"
        "from aescull.rows.record import ScoreRecord\n"
        "assert aescull.score_paths is score_paths and aescull.ScoreRecord is ScoreRecord\n"
        "print(before, 'torch' in sys.modules)\n"
        "assert callable(aescull.load_scoring_model) and callable(aescull.load_model)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "False"]


def test_eight_orientations_give_the_same_score(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    """Lossless PNG, so the stored pixels are exactly the upright photo transposed (a JPEG of
    transposed pixels is a slightly different photo; see the JPEG test in test_decode.py)."""
    upright = Image.fromarray(photo_pixels(144, 96, seed=3))
    for orientation in range(1, 9):
        save_oriented(tmp_path / f"o{orientation}.png", upright, orientation)
    records = list(aescull.score_paths([tmp_path], model=plumbing_model, max_side=64))
    scores = [record.score for record in records]
    assert len(scores) == 8 and all(score is not None for score in scores)
    assert max(scores) - min(scores) <= 1e-4, scores  # type: ignore[operator]
    assert {(record.width, record.height) for record in records} == {(144, 96)}


def test_plumbing_model_distinguishes_photos(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    """Guards the invariance tests: a model that scores everything alike would pass them vacuously."""
    save_photo(tmp_path / "a.png", seed=1)
    Image.fromarray(photo_pixels(120, 80, seed=1) // 3).save(tmp_path / "b.png")
    a, b = (record.score for record in aescull.score_paths([tmp_path], model=plumbing_model, max_side=64))
    assert abs(a - b) > 1e-3  # type: ignore[operator]


def test_aspect_ratios_reach_the_model_unsquashed_and_batched_by_shape(
    tmp_path: Path, plumbing_model: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = {"p14.png": (80, 320), "p12.png": (160, 320), "sq.png": (320, 320), "l21.png": (320, 160), "l41.png": (320, 80)}
    for name, (width, height) in sizes.items():
        save_photo(tmp_path / name, width, height)
        save_photo(tmp_path / f"again-{name}", width, height, seed=9)
    spy = ModelSpy(monkeypatch)
    records = list(aescull.score_paths([tmp_path], model=plumbing_model, max_side=256, batch_size=4))
    assert all(record.ok for record in records)
    expected_shapes = {(3, *working_size(w, h, 256, MIN_SHORT_SIDE)[::-1]) for w, h in sizes.values()}  # 4:1 keeps 65 px across
    assert {shape[1:] for shape in spy.shapes} == expected_shapes
    assert sorted(shape[0] for shape in spy.shapes) == [2] * 5  # the two files of each shape share a batch
    assert [record.path.name for record in records] == sorted(path.name for path in tmp_path.iterdir())


def test_batched_scores_equal_one_by_one(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    for seed in range(5):
        save_photo(tmp_path / f"{seed}.png", 96, 72, seed=seed)
    batched = scores_by_name(list(aescull.score_paths([tmp_path], model=plumbing_model, batch_size=8)))
    single = scores_by_name(list(aescull.score_paths([tmp_path], model=plumbing_model, batch_size=1, workers=1)))
    assert batched.keys() == single.keys()
    for name in batched:
        assert batched[name] == pytest.approx(single[name], abs=1e-5)


def test_bad_files_become_error_rows_and_the_run_continues(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    save_photo(tmp_path / "a-good.jpg")
    (tmp_path / "b-empty.jpg").write_bytes(b"")
    (tmp_path / "c-text.jpg").write_text("not a photo")
    good = (tmp_path / "a-good.jpg").read_bytes()
    (tmp_path / "d-truncated.jpg").write_bytes(good[: len(good) // 2])
    save_photo(tmp_path / "e-good.png")
    records = list(aescull.score_paths([tmp_path], model=plumbing_model))
    assert [(record.path.name, record.score is not None) for record in records] == [
        ("a-good.jpg", True),
        ("b-empty.jpg", False),
        ("c-text.jpg", False),
        ("d-truncated.jpg", False),
        ("e-good.png", True),
    ]
    assert all(record.error for record in records if record.score is None)


def test_file_vanishing_before_decode_is_an_error_row(tmp_path: Path, plumbing_model: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    save_photo(tmp_path / "a.jpg")
    save_photo(tmp_path / "b.jpg")
    real_decode = scoring.decode

    def delete_then_decode(path: Path, *args: object) -> object:
        if path.name == "a.jpg":
            path.unlink()
        return real_decode(path, *args)

    monkeypatch.setattr(scoring, "decode", delete_then_decode)
    records = list(aescull.score_paths([tmp_path], model=plumbing_model))
    assert [(r.path.name, r.error) for r in records] == [("a.jpg", "file not found (moved or deleted?)"), ("b.jpg", None)]


def test_cache_hit_skips_the_model_and_a_touched_file_is_rescored(
    tmp_path: Path, plumbing_model: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    for seed in range(3):
        save_photo(photos / f"{seed}.jpg", seed=seed)
    cache = tmp_path / "cache.sqlite3"
    first = list(aescull.score_paths([photos], model=plumbing_model, cache_file=cache))
    spy = ModelSpy(monkeypatch)
    second = list(aescull.score_paths([photos], model=plumbing_model, cache_file=cache))
    assert spy.images_seen == 0
    assert [(r.path, r.score, r.width, r.height) for r in second] == [(r.path, r.score, r.width, r.height) for r in first]
    assert all(record.cached for record in second)
    stat = (photos / "1.jpg").stat()
    os.utime(photos / "1.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    third = list(aescull.score_paths([photos], model=plumbing_model, cache_file=cache))
    assert spy.images_seen == 1
    assert [record.cached for record in third] == [True, False, True]


def test_raw_jpeg_pair_scores_the_jpeg_once_and_lists_both(
    tmp_path: Path, plumbing_model: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    preview = Image.fromarray(photo_pixels(120, 80, seed=5))
    fake_raw_with_preview(tmp_path / "IMG_0002.ARW", preview)
    preview.save(tmp_path / "IMG_0002.JPG", quality=95)
    fake_raw_with_preview(tmp_path / "IMG_0003.NEF", Image.fromarray(photo_pixels(120, 80, seed=6)))
    spy = ModelSpy(monkeypatch)
    records = list(aescull.score_paths([tmp_path], model=plumbing_model, max_side=64))
    assert spy.images_seen == 2  # the JPEG of the pair, and the lone RAW through its preview
    by_name = {record.path.name: record for record in records}
    assert list(by_name) == ["IMG_0002.ARW", "IMG_0002.JPG", "IMG_0003.NEF"]
    raw, jpeg, lone = by_name.values()
    assert raw.score == jpeg.score and raw.score is not None
    assert (raw.pair, jpeg.pair, lone.pair) == (jpeg.path, raw.path, None)
    assert raw.size == (tmp_path / "IMG_0002.ARW").stat().st_size
    assert lone.ok and lone.width == 120


def test_many_files_stream_in_order_with_a_small_window(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    for index in range(30):
        save_photo(tmp_path / f"{index:02d}.png", 96 + (index % 3) * 8, 72, seed=index)
    records = list(aescull.score_paths([tmp_path], model=plumbing_model, batch_size=2, workers=2))
    assert [record.path.name for record in records] == [f"{index:02d}.png" for index in range(30)]
    assert all(record.ok for record in records)


def test_weights_argument_loads_that_checkpoint(tmp_path: Path, plumbing_weights: Path) -> None:
    save_photo(tmp_path / "a.png")
    (record,) = aescull.score_paths([tmp_path / "a.png"], weights=plumbing_weights)
    assert record.ok and 0.0 <= record.score <= 1.0  # type: ignore[operator]


def test_an_icon_too_small_to_judge_is_an_error_row_not_a_score(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    save_photo(tmp_path / "icon.png", 10, 10)
    save_photo(tmp_path / "photo.png", 96, 72)
    records = list(aescull.score_paths([tmp_path], model=plumbing_model))
    assert [(r.path.name, r.score is None, r.error) for r in records] == [
        ("icon.png", True, "too small to judge: its short side is under 65 pixels"),
        ("photo.png", False, None),
    ]
