"""The ONNX runtime: the bundled network exported to ONNX (``python -m training.export_onnx``),
run by ONNX Runtime on the CPU, without torch.

ONNX Runtime runs the network in about half the CPU time of torch's folded network, and
``aescull score`` on it starts without importing torch (docs/engines.md). The file's metadata
carries the checkpoint's config and meta, so no torch is needed to know the working size or the
model's name; its scores equal the checkpoint's on torch within 1e-6 (tests/model/test_onnx.py).

ONNX Runtime spends most of a session's start rewriting the graph (folding the batch norms into
the convolutions, fusing activations), the same work for the same file on every run. The first
run keeps the rewritten graph in the user cache folder (:func:`compiled_folder`; the hardware-neutral
"extended" level, so a cache shared between machines stays valid); later runs start from it in
about half the time, with bit-identical scores (docs/engines.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from aescull.model.bundled import ONNX_FILE, ONNX_SHA256, WeightsError, bundled_path
from aescull.model.config import Described, ModelConfig
from aescull.model.inference import Network

log = logging.getLogger(__name__)

# A kept rewrite no run has started from for this long goes when another is written (an ONNX
# Runtime upgrade or a new model leaves the old one behind, ~32 MB each); a run that starts from
# one refreshes its mtime at most daily, so environments sharing a cache never delete each other's.
UNUSED_REWRITE_S = 30 * 86400
REFRESH_AFTER_S = 86400
# A temporary rewrite this old is a killed writer's (writing one takes well under a second).
STALE_TEMPORARY_S = 3600


class OnnxModel(Described):
    """An exported model and its ONNX Runtime session; pickled (to a Ray actor) without the
    session, which is made again where it is unpickled.

    Its config and meta are read from the file's metadata at once; the session is built on its
    own thread (ONNX Runtime leaves the interpreter free meanwhile), so the photos decode while it
    builds, and :meth:`network` waits for it (raising its :class:`WeightsError` if it failed).
    """

    def __init__(self, path: Path, sha256: str, threads: int, metadata: dict[str, str]) -> None:
        self.path, self.sha256, self.threads = path, sha256, threads
        try:
            self.config = ModelConfig.from_dict(json.loads(metadata["config"]))
            self.meta: dict = json.loads(metadata["meta"])
            self.checkpoint_sha256 = metadata["checkpoint_sha256"]
        except (KeyError, TypeError, ValueError) as error:
            raise WeightsError(f"{path} is not an aescull ONNX export (python -m training.export_onnx): {error}") from error
        self._session: Future[Any] | None = _building(path, sha256, threads)

    def network(self, threads: int | None = None) -> Network:
        if self._session is None or (threads is not None and threads != self.threads):
            self.threads = threads or self.threads
            self._session = _building(self.path, self.sha256, self.threads)
        session = self._session.result()

        def run(batch: np.ndarray) -> np.ndarray:
            return session.run(None, {"images": batch})[0]

        return run

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_session": None}


def _building(path: Path, sha256: str, threads: int) -> Future[Any]:
    builder = ThreadPoolExecutor(1, thread_name_prefix="aescull-onnx")
    session = builder.submit(_session, path, sha256, threads)
    builder.shutdown(wait=False)  # its one thread ends with the session built
    return session


def compiled_folder() -> Path:
    """Where rewritten graphs are kept: the user cache folder, beside the score cache."""
    import platformdirs

    return platformdirs.user_cache_path("aescull") / "compiled"


def _options(threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle model threads sleep rather than spin: the decoding threads need those cores (as torch's did).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about the CPU's features are not the user's business
    return options


def _session(path: Path, sha256: str, threads: int) -> Any:
    """A session on the kept rewrite of the model with this sha256 where there is one, else on
    ``path``, keeping its rewrite for the next run (a cache folder that cannot be written costs
    only time; an unreadable rewrite is written again)."""
    import onnxruntime

    def session_on(file: Path) -> Any:
        return onnxruntime.InferenceSession(str(file), _options(threads), providers=["CPUExecutionProvider"])

    # Named by the checked original's sha256 and ONNX Runtime's version (another rewrites it
    # otherwise); trusted as Python trusts its __pycache__: written whole (atomically) or not at all.
    kept = compiled_folder() / f"{sha256[:32]}-onnxruntime-{onnxruntime.__version__}.onnx"
    if kept.is_file():
        try:
            session = session_on(kept)
        except Exception as error:  # ONNX Runtime raises its own exception types
            log.debug("kept rewrite %s unusable", kept, exc_info=error)
        else:
            _mark_used(kept)
            return session
    try:
        _keep_rewrite(path, kept)
        return session_on(kept)
    except Exception as error:
        log.debug("the rewritten graph is not kept in %s", kept.parent, exc_info=error)
    try:
        return session_on(path)
    except Exception as error:
        raise WeightsError(f"{path} is not a valid ONNX model: {' '.join(str(error).split())[:200]}") from error


def _keep_rewrite(path: Path, kept: Path) -> None:
    """``path`` rewritten at the hardware-neutral level into ``kept``, atomically (a reader never
    sees half a file); the rewriting session is not the one that runs."""
    import onnxruntime

    kept.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=kept.parent, prefix=f".{kept.name}.", suffix=".tmp")  # one per writer, thread or process
    os.close(handle)
    temporary = Path(name)
    options = _options(1)
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(temporary)
    try:
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        os.replace(temporary, kept)
    finally:
        temporary.unlink(missing_ok=True)
    _remove_unused(kept.parent, time.time())


def _mark_used(kept: Path) -> None:
    """Refresh the mtime of a rewrite a run started from, once a day at most (a read-only cache just
    keeps its files)."""
    try:
        if time.time() - kept.stat().st_mtime > REFRESH_AFTER_S:
            os.utime(kept)
    except OSError as error:
        log.debug("cannot mark %s used", kept, exc_info=error)


def _remove_unused(folder: Path, now: float) -> None:
    """Delete the rewrites no run started from in UNUSED_REWRITE_S and killed writers' temporaries;
    only files named as this module names them."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if "-onnxruntime-" not in entry.name:
            continue
        temporary = entry.name.startswith(".") and entry.name.endswith(".tmp")
        if not temporary and not entry.name.endswith(".onnx"):
            continue
        try:
            if now - entry.stat().st_mtime > (STALE_TEMPORARY_S if temporary else UNUSED_REWRITE_S):
                os.unlink(entry.path)
        except OSError as error:
            log.debug("cannot remove %s", entry.path, exc_info=error)


def load_onnx(path: Path | None = None, expected_sha256: str | None = None, threads: int = 1) -> OnnxModel:
    """Load an exported model after checking its sha256: the bundled one (default) must match the
    recorded hash; any other file is checked only when ``expected_sha256`` is given."""
    if path is None:
        path = bundled_path(ONNX_FILE)
        expected_sha256 = expected_sha256 or ONNX_SHA256 or None
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 and digest != expected_sha256:
        raise WeightsError(f"weights file {path} has sha256 {digest}, expected {expected_sha256}: corrupt or replaced")
    try:
        metadata = custom_metadata(data)
    except ValueError as error:
        raise WeightsError(f"{path} is not a valid ONNX model: {error}") from error
    return OnnxModel(path, digest, threads, metadata)


def custom_metadata(model: bytes) -> dict[str, str]:
    """An ONNX file's custom metadata (``ModelProto.metadata_props``, field 14: entries of key 1
    and value 2), read from the message's top level without parsing its graph: the model's config
    is known before ONNX Runtime has built its session. Raises ValueError where ``model`` is not
    a protobuf message."""
    metadata = {}
    for number, value in _fields(memoryview(model)):
        if number == 14 and isinstance(value, memoryview):
            entry = {field: bytes(text).decode() for field, text in _fields(value) if isinstance(text, memoryview)}
            metadata[entry.get(1, "")] = entry.get(2, "")
    return metadata


def _fields(message: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """A protobuf message's fields in order: (field number, a varint's value or a length-delimited field's bytes)."""
    position = 0
    while position < len(message):
        key, position = _varint(message, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(message, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(message, position)
            if position + length > len(message):
                raise ValueError("truncated")
            yield number, message[position : position + length]
            position += length
        elif wire_type in (1, 5):  # fixed 64 and 32 bits
            position += 8 if wire_type == 1 else 4
        else:
            raise ValueError(f"wire type {wire_type} at byte {position}")


def _varint(message: memoryview, position: int) -> tuple[int, int]:
    value = shift = 0
    while position < len(message):
        byte = message[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
    raise ValueError("truncated")
