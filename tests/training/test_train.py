"""The training helpers that need no data: the taps' kernel head, the score line, the feature cache, the decoder and the pairs."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aescull.model.network import ModelConfig, SPPNet
from aescull.pipeline.decode import decode
from training.data import ALL_BLOCKS, Cache, Frozen, available_pairs, held_out_pairs, load_cache, load_rgb, save_cache, tap_columns
from training.kernel import TAP_PAIR_MARGIN, fit_kernel_ridge, install_kernel
from training.metrics import choose_score_line, spearman


def synthetic(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels depend on feature 0 and, only where feature 1 is high, on feature 2 (an interaction
    no linear map can follow); damaged copies differ from their originals in feature 3 alone."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 6))
    y = 0.5 + 0.08 * x[:, 0] + 0.08 * x[:, 2] * (x[:, 1] > 0) + 0.005 * rng.normal(size=400)
    originals = rng.normal(size=(150, 6))
    damaged = originals.copy()
    damaged[:, 3] -= 1.0
    return x, y, originals, damaged


def test_kernel_follows_an_interaction_a_linear_map_cannot() -> None:
    x, y, _, _ = synthetic()
    test_x, test_y, _, _ = synthetic(seed=1)
    kernel = fit_kernel_ridge(x, y, gamma=0.5, lam=0.01)
    linear = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)[0]
    kernel_error = np.abs(kernel.predict(test_x) - test_y).mean()
    linear_error = np.abs(np.c_[test_x, np.ones(len(test_x))] @ linear - test_y).mean()
    assert kernel_error < 0.8 * linear_error


def test_damage_pairs_teach_what_the_labels_do_not_say() -> None:
    """Labels alone leave damaged copies about as often above their originals as below; the
    damage pairs put them below (a compromise with the labels, so by less than the margin on
    average), and the labels are still followed."""
    x, y, originals, damaged = synthetic()
    labels_only = fit_kernel_ridge(x, y, gamma=0.5, lam=0.01)
    with_damage = fit_kernel_ridge(x, y, gamma=0.5, lam=0.01, damage=(originals, damaged))
    gaps = [fit.predict(originals) - fit.predict(damaged) for fit in (labels_only, with_damage)]
    assert 0.25 < (gaps[0] > 0).mean() < 0.75
    assert (gaps[1] > 0).mean() > 0.95 and gaps[1].mean() < TAP_PAIR_MARGIN
    assert spearman(with_damage.predict(x), y) > 0.8


def test_pairs_already_past_the_margin_leave_the_fit_alone() -> None:
    """The damage loss is a hinge: a copy the labels already put well below its original (a
    photo against a much worse one) asks for nothing, so it cannot pull the two scores together."""
    x, y, _, _ = synthetic()
    labels_only = fit_kernel_ridge(x, y, gamma=0.5, lam=0.01)
    order = np.argsort(labels_only.predict(x))
    best, worst = x[order[-40:]], x[order[:40]]
    assert (labels_only.predict(best) - labels_only.predict(worst)).min() > TAP_PAIR_MARGIN
    with_pairs = fit_kernel_ridge(x, y, gamma=0.5, lam=0.01, damage=(best, worst))
    assert np.array_equal(with_pairs.coefficients, labels_only.coefficients)
    reversed_pairs = fit_kernel_ridge(x, y, gamma=0.5, lam=0.01, damage=(worst, best))
    assert not np.allclose(reversed_pairs.coefficients, labels_only.coefficients)


def test_the_model_scores_what_the_fit_predicts() -> None:
    """The kernel head inside the network (torch, float32) computes what training fitted (numpy)."""
    config = replace(ModelConfig(), taps=(0,), tap_support=300, tap_gamma=0.5)
    length = SPPNet.tap_length(config)
    rng = np.random.default_rng(2)
    x, queries = rng.normal(size=(300, length)), rng.normal(size=(20, length))
    y = 0.5 + 0.05 * np.tanh(x[:, 0] * x[:, 1])
    fit = fit_kernel_ridge(x, y, gamma=0.5, lam=0.01, damage=(queries, queries - 0.5))
    model = SPPNet(config).eval()
    install_kernel(model, fit)
    with torch.inference_mode():
        scored = model.tap_head(model.tap_norm(torch.from_numpy(queries).float())).numpy()
    assert np.abs(scored - fit.predict(queries)).max() < 1e-4
    assert np.ptp(fit.predict(queries)) > 0.01  # not a constant that any head would match


def test_tap_columns_pick_each_blocks_mean_and_spread_from_a_cached_row() -> None:
    """A cached row holds every block's 2 x channels statistics in block order (16, 24, 24, 40 ...);
    a model's taps, copy or not, are read from there."""
    assert torch.equal(tap_columns((1,)), torch.arange(32, 80))
    assert torch.equal(tap_columns((0, 2)), torch.cat([torch.arange(0, 32), torch.arange(80, 128)]))
    every = tap_columns(ALL_BLOCKS)
    assert torch.equal(every, torch.arange(len(every))) and len(every) == SPPNet.tap_length(ModelConfig(taps=ALL_BLOCKS))


def test_the_score_line_follows_a_model_that_runs_low() -> None:
    """Out-of-fold scores 0.04 below MOS/100 around the middle: the line that calls photos good
    moves down with them, and calls them right more often than the MOS line would."""
    rng = np.random.default_rng(3)
    y = rng.uniform(0.2, 0.9, size=600)
    scores = y - 0.04 + 0.03 * rng.normal(size=600)
    good_line = float(np.median(y))
    line = choose_score_line(scores, y, good_line)
    assert abs(line - (good_line - 0.04)) < 0.02
    good = y >= good_line
    assert np.mean((scores >= line) == good) > np.mean((scores >= good_line) == good) + 0.02


def test_the_feature_cache_reads_back_in_another_process(tmp_path: Path) -> None:
    """The cache holds tensors, lists and strings, not pickled classes: a script other than the
    one that wrote it (a bench) loads it with weights_only=True, and nothing is lost."""
    frozen = [Frozen(torch.randn(8, 6, 4).half(), torch.randn(20)) for _ in range(3)]
    cache = Cache(["a.jpg", "b.jpg"], np.array([41.5, 72.0]), frozen[:2], frozen[1:], frozen[:1], frozen[2:], [0], ["blur"])
    path = tmp_path / "cache.pt"
    save_cache(cache, path)
    loaded = load_cache(path)
    assert loaded.names == cache.names and loaded.pair_kind == ["blur"] and loaded.pair_source == [0]
    assert np.array_equal(loaded.mos, cache.mos)
    for field in ("plain", "mirrored", "pair_original", "pair_degraded"):
        for got, want in zip(getattr(loaded, field), getattr(cache, field), strict=True):
            assert torch.equal(got.activations, want.activations) and torch.equal(got.statistics, want.statistics)
    other = subprocess.run([sys.executable, "-c", f"import torch; print(len(torch.load({str(path)!r}, weights_only=True)['plain']))"],
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 0 and other.stdout.strip() == "2", other.stderr


def test_an_old_pickled_cache_is_refused_with_a_way_out(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    torch.save({"plain": [Frozen(torch.zeros(1), torch.zeros(1))]}, path)
    with pytest.raises(SystemExit, match="delete it to rebuild"):
        load_cache(path)


def test_training_sees_the_pixels_aescull_scores(tmp_path: Path) -> None:
    """A large JPEG reaches training through the runtime's draft decode, not a full decode: the
    same photo gives the network the same pixels in training and in ``aescull score``."""
    rng = np.random.default_rng(0)
    path = tmp_path / "large.jpg"
    Image.fromarray(rng.integers(0, 255, (1800, 2400, 3), dtype=np.uint8)).save(path, quality=90)
    trained_on = np.asarray(load_rgb(path, 512), dtype=np.float32).transpose(2, 0, 1) / 255.0
    assert np.array_equal(trained_on, decode(path, 512).pixels)
    assert not np.array_equal(trained_on, decode(path, 512, draft=False).pixels)


def test_pairs_of_held_out_photos_never_reach_training() -> None:
    """Labelled photos' pairs follow their photo; the unlabelled photos' pairs follow their photo fold."""
    frozen = Frozen(torch.zeros(1), torch.zeros(1))
    sources = [0, 1, 2, -1, -2, -3]  # labelled photos 0-2, then unlabelled photos 0-2
    cache = Cache(["a", "b", "c"], np.array([40.0, 50.0, 60.0]), [frozen] * 3, [frozen] * 3, [frozen] * 6, [frozen] * 6,
                  sources, ["blur", "bokeh", "blur", "blur", "bokeh", "noise"], ["p0", "p1", "p2"])
    photo_folds = [np.array([0]), np.array([1, 2])]
    trained = available_pairs(cache, np.array([0, 2]), photo_folds, {1})
    assert trained == [0, 2, 4, 5]
    assert held_out_pairs(cache, np.array([1]), photo_folds, {0}) == [1, 3]
    assert available_pairs(cache, np.array([0, 2]), photo_folds, {1}, ("bokeh",)) == [4]
