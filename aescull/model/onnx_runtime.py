"""The ONNX runtime: the bundled network exported to ONNX (``python -m training.export_onnx``),
run by ONNX Runtime on the CPU, without torch.

ONNX Runtime runs the network in about half the CPU time of torch's folded network, and
``aescull score`` on it starts without importing torch (docs/engines.md). The file's metadata
carries the checkpoint's config and meta, so no torch is needed to know the working size or the
model's name; its scores equal the checkpoint's on torch within 1e-6 (tests/model/test_onnx.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aescull.fsutil import file_sha256
from aescull.model.bundled import ONNX_FILE, ONNX_SHA256, WeightsError, bundled_path
from aescull.model.config import Described, ModelConfig
from aescull.model.inference import Network


class OnnxModel(Described):
    """An exported model and its ONNX Runtime session; pickled (to a Ray actor) without the
    session, which is made again where it is unpickled."""

    def __init__(self, path: Path, sha256: str, threads: int) -> None:
        self.path, self.sha256, self.threads = path, sha256, threads
        self._session: Any = _session(path, threads)
        metadata = self._session.get_modelmeta().custom_metadata_map
        try:
            self.config = ModelConfig.from_dict(json.loads(metadata["config"]))
            self.meta: dict = json.loads(metadata["meta"])
            self.checkpoint_sha256 = metadata["checkpoint_sha256"]
        except (KeyError, TypeError, ValueError) as error:
            raise WeightsError(f"{path} is not an aescull ONNX export (python -m training.export_onnx): {error}") from error

    def network(self, threads: int | None = None) -> Network:
        if self._session is None or (threads is not None and threads != self.threads):
            self.threads = threads or self.threads
            self._session = _session(self.path, self.threads)
        session = self._session

        def run(batch: np.ndarray) -> np.ndarray:
            return session.run(None, {"images": batch})[0]

        return run

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_session": None}


def _session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle model threads sleep rather than spin: the decoding threads need those cores (as torch's did).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about the CPU's features are not the user's business
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own exception types for unreadable models
        raise WeightsError(f"{path} is not a valid ONNX model: {' '.join(str(error).split())[:200]}") from error


def load_onnx(path: Path | None = None, expected_sha256: str | None = None, threads: int = 1) -> OnnxModel:
    """Load an exported model after checking its sha256: the bundled one (default) must match the
    recorded hash; any other file is checked only when ``expected_sha256`` is given."""
    if path is None:
        path = bundled_path(ONNX_FILE)
        expected_sha256 = expected_sha256 or ONNX_SHA256 or None
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    digest = file_sha256(path)
    if expected_sha256 and digest != expected_sha256:
        raise WeightsError(f"weights file {path} has sha256 {digest}, expected {expected_sha256}: corrupt or replaced")
    return OnnxModel(path, digest, threads)
