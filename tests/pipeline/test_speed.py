"""Speed must not change results: the fast pipeline against the naive way of scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

import aescull
from aescull.cli.app import app
from aescull.pipeline.decode import MIN_SHORT_SIDE, decode, working_size
from aescull.model.checkpoint import LoadedModel
from tests.support.images import photo_pixels, save_photo


def naive_score(loaded: LoadedModel, path: Path, max_side: int) -> float:
    """Full decode, Lanczos to the working size, the model as loaded, batch 1."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    image = image.resize(working_size(*image.size, max_side, MIN_SHORT_SIDE), Image.Resampling.LANCZOS)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float().div(255.0)
    with torch.inference_mode():
        return float(loaded.model(pixels[None])[0])


def test_fast_pipeline_scores_equal_the_naive_path(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    """PNG (no JPEG draft), several shapes: folded batch norms, channels-last memory, batching
    and threads leave every score within 1e-4 of the naive path, and the caller's model as it was."""
    for index, (width, height) in enumerate([(300, 200), (300, 200), (200, 300), (240, 240), (96, 72)]):
        save_photo(tmp_path / f"{index}.png", width, height, seed=index)
    paths = sorted(tmp_path.glob("*.png"))
    before = [naive_score(plumbing_model, path, 96) for path in paths]
    runs = [
        list(aescull.score_paths([tmp_path], model=plumbing_model, max_side=96)),
        list(aescull.score_paths([tmp_path], model=plumbing_model, max_side=96, batch_size=4, workers=3)),
    ]
    after = [naive_score(plumbing_model, path, 96) for path in paths]
    assert after == before
    assert len(set(before)) == len(before)  # the photos score apart, so equality below means something
    for records in runs:
        assert [record.path for record in records] == paths
        assert np.abs(np.array([record.score for record in records]) - np.array(before)).max() <= 1e-4


def test_big_jpeg_draft_decode_stays_close_to_a_full_decode(tmp_path: Path) -> None:
    """Draft decoding to twice the working size, then Lanczos: within a few levels of a full
    decode plus Lanczos (drafting straight to the working size was ~3x further off)."""
    small = Image.fromarray(photo_pixels(600, 400, seed=2))
    path = tmp_path / "big.jpg"
    small.resize((2400, 1600), Image.Resampling.BICUBIC).save(path, quality=92)
    fast = torch.from_numpy(decode(path, max_side=256).pixels).mul(255).round().to(torch.int16)
    with Image.open(path) as opened:
        full = opened.convert("RGB").resize((256, 171), Image.Resampling.LANCZOS)
    exact = torch.from_numpy(np.asarray(full, dtype=np.int16).copy()).permute(2, 0, 1)
    difference = (fast - exact).abs()
    assert fast.shape == exact.shape
    assert int(difference.max()) <= 3
    assert float(difference.float().mean()) <= 0.5


def test_full_decode_scores_a_big_jpeg_as_the_naive_path_and_caches_apart(tmp_path: Path, plumbing_weights: Path) -> None:
    """`--full-decode` turns the JPEG draft decode off: the score is then the naive full decode's
    to 1e-4, where the default is measurably (but only slightly) off; and a score cached by one
    mode is never served to the other."""
    photos = tmp_path / "photos"
    photos.mkdir()
    path = photos / "big.jpg"
    Image.fromarray(photo_pixels(600, 400, seed=3)).resize((2400, 1600), Image.Resampling.BICUBIC).save(path, quality=92)
    loaded = aescull.load_model(plumbing_weights)
    naive = naive_score(loaded, path, 256)
    cache = tmp_path / "scores.sqlite3"

    def cli_score(*options: str) -> float:
        args = ["score", str(photos), "--max-side", "256", "--format", "jsonl", "--cache", str(cache), "--weights", str(plumbing_weights)]
        result = CliRunner().invoke(app, [*args, *options])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)["score"]

    drafted = cli_score()
    full = cli_score("--full-decode")
    assert abs(full - naive) <= 1e-4
    assert 1e-4 < abs(drafted - naive) < 0.05
    assert cli_score() == drafted and cli_score("--full-decode") == full  # each from its own cache rows
