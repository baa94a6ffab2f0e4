"""Shared fixtures: a plumbing checkpoint and an isolated cache folder (helpers live in tests/support)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aescull.model.checkpoint import LoadedModel, load_model, save_checkpoint
from tests.support.models import make_plumbing_model

torch.set_num_threads(1)


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
    """Never touch the real user cache or state folder (journals of read-only libraries) from a test."""
    cache_home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    return cache_home
