"""Shared fixtures: a plumbing checkpoint, an isolated cache folder, and image makers.

The plumbing checkpoint is an untrained SPPNet with a He initialisation, so (unlike PyTorch's
default init, whose deep trunk outputs ~0 and scores every photo 0.5) its score reacts to every
pixel: invariance tests with it can fail. It says nothing about quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from aescull.model.network import ModelConfig, SPPNet
from aescull.model.checkpoint import LoadedModel, load_model, save_checkpoint

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent
BUNDLED_WEIGHTS = REPO / "weights" / "aescull-spp.pt"


def make_plumbing_model(seed: int = 0) -> SPPNet:
    torch.manual_seed(seed)
    model = SPPNet(ModelConfig(max_side=96))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.5 / module.weight.shape[1] ** 0.5)
            nn.init.zeros_(module.bias)
    return model.eval()


@pytest.fixture(scope="session")
def plumbing_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "plumbing.pt"
    save_checkpoint(make_plumbing_model(), path, meta={"name": "plumbing", "version": "test"})
    return path


@pytest.fixture(scope="session")
def plumbing_model(plumbing_weights: Path) -> LoadedModel:
    return load_model(plumbing_weights)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the real user cache folder from a test."""
    cache_home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    return cache_home


def photo_pixels(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB array: smooth gradients plus some texture, different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(x / (width / 3.0) + seed),
            128 + 100 * np.cos(y / (height / 2.0) + seed),
            255 * (x + y) / (width + height),
        ],
        axis=-1,
    )
    noise = rng.normal(0, 12, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def save_photo(path: Path, width: int = 120, height: int = 80, seed: int = 0, **save_args: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo_pixels(width, height, seed)).save(path, **save_args)
    return path


def sharp_scene(width: int = 512, height: int = 384, seed: int = 0) -> Image.Image:
    """A clean, well-exposed frame with crisp edges: overlapping flat rectangles over a soft
    gradient, highlights near white but never clipped, no noise. Every check passes on it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack([60 + 80 * x / width, 70 + 60 * y / height, np.full_like(x, 110.0)], axis=-1)
    for _ in range(40):
        w, h = int(rng.integers(width // 16, width // 4)), int(rng.integers(height // 16, height // 4))
        left, top = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        pixels[top : top + h, left : left + w] = rng.uniform(15, 240, size=3)
    return Image.fromarray(pixels.round().astype(np.uint8))
