"""Self-describing checkpoints: ``{"config", "state_dict", "meta"}``, checked by sha256.

The shipped file is found inside the installed package (``aescull/_weights``) or, in a source
checkout, in the top-level ``weights/`` folder.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from aescull.fsutil import file_sha256
from aescull.model.bundled import WEIGHTS_FILE, WEIGHTS_SHA256, WeightsError, bundled_path
from aescull.model.config import Described
from aescull.model.network import ModelConfig, SPPNet

if TYPE_CHECKING:
    from aescull.model.inference import Network


@dataclass(frozen=True)
class LoadedModel(Described):
    """The network in eval mode plus what identifies it in caches and sidecars."""

    model: SPPNet
    config: ModelConfig
    sha256: str
    meta: dict
    path: Path

    def network(self, threads: int | None = None) -> Network:
        """The folded network on torch (:func:`aescull.model.torch_runtime.inference_network`)."""
        from aescull.model.torch_runtime import inference_network

        if threads is not None:
            torch.set_num_threads(threads)
        return inference_network(self.model)


def default_weights_path() -> Path:
    """Where the bundled checkpoint is, in a wheel install or in a source checkout."""
    return bundled_path(WEIGHTS_FILE)


def save_checkpoint(model: SPPNet, path: Path, meta: dict, half: bool = True) -> str:
    """Write a checkpoint (fp16 floats by default, to keep the file small); returns its sha256."""
    state = {
        key: (value.half() if half and value.is_floating_point() else value).clone()
        for key, value in model.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": model.config.to_dict(), "state_dict": state, "meta": meta}, path)
    return file_sha256(path)


def load_model(path: Path | str | None = None, expected_sha256: str | None = None) -> LoadedModel:
    """Load weights safely (``weights_only``) after checking their sha256.

    With no ``path`` the bundled weights are used and must match the recorded hash; for any other
    file the hash is checked only when ``expected_sha256`` is given.
    """
    if path is None:
        path = default_weights_path()
        expected_sha256 = expected_sha256 or WEIGHTS_SHA256 or None
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    digest = file_sha256(path)
    if expected_sha256 and digest != expected_sha256:
        raise WeightsError(
            f"weights file {path} has sha256 {digest}, expected {expected_sha256}: corrupt or replaced"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        config = ModelConfig.from_dict(checkpoint["config"])
        model = SPPNet(config)
        state = {key: value.float() if value.is_floating_point() else value for key, value in checkpoint["state_dict"].items()}
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as error:
        raise WeightsError(f"{path} is not a valid aescull checkpoint: {error}") from error
    model.eval()
    return LoadedModel(model=model, config=config, sha256=digest, meta=dict(checkpoint.get("meta", {})), path=path)
