"""Run the network for scores, on ONNX Runtime or on torch; one failing batch retried photo by photo.

Every engine (local, Ray, the batch API) scores through :func:`score_batch`, so a photo gets the
same score whichever engine ran it. Nothing here imports torch: the ONNX runtime
(:mod:`aescull.model.onnx_runtime`) scores without it, which saves ~1.1 s of start-up per process,
and the torch runtime (:mod:`aescull.model.torch_runtime`) imports it only when chosen.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from aescull.model.bundled import WeightsError
from aescull.model.config import MIN_SHORT_SIDE

if TYPE_CHECKING:
    from aescull.model.config import ModelConfig
    from aescull.pipeline.decode import DecodedPhoto

log = logging.getLogger("aescull")

# One photo per model call: at the 512-px working size the model alone took ~35% more CPU per
# photo in batches of 2 and up to twice as much in batches of 8 (activations outgrow the CPU
# caches); a whole run with batch 8 took ~35% more CPU and ~250 MB more peak RSS than batch 1.
DEFAULT_BATCH_SIZE = 1


# Model threads for the CLI: half the cores, as the decoding threads need the rest. torch's own
# default (every core) fights them: its threads spin-wait for each other at every layer when one
# is descheduled, and on a busy 2-core machine that cost ten times the CPU per photo (778 ms
# against 66 ms with one thread).
DEFAULT_THREADS = max(1, (os.cpu_count() or 1) // 2)
MODEL_FAILED = "the model could not score this image"
RUNTIMES = ("onnx", "torch")
ONNX_SUFFIX = ".onnx"

# Photos (N×3×H×W float32 in [0, 1], C-contiguous) to their N scores.
Network = Callable[[np.ndarray], np.ndarray]


class ScoringModel(Protocol):
    """A loaded model, whichever runtime runs it: what the engines, the cache and the sidecars need."""

    @property
    def config(self) -> ModelConfig: ...

    @property
    def sha256(self) -> str: ...  # of the file that is run: the score cache's key

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def network(self, threads: int | None = None) -> Network:
        """The network, ready to score (``threads``: the model's intra-op threads, else its default)."""
        ...


def onnx_available() -> bool:
    """Whether ONNX Runtime is installed (the ``onnx`` extra), without importing it."""
    return importlib.util.find_spec("onnxruntime") is not None


def choose_runtime(runtime: str | None, weights: Path | None) -> str:
    """The runtime that runs ``weights``: an ``.onnx`` file runs on ONNX Runtime, a checkpoint on
    torch; the bundled model on ONNX Runtime where it is installed, else on torch."""
    if weights is not None:
        needed = "onnx" if weights.suffix.lower() == ONNX_SUFFIX else "torch"
        if runtime not in (None, needed):
            kind = "an ONNX file" if needed == "onnx" else "a torch checkpoint"
            raise WeightsError(f"{weights} is {kind}: it runs with --runtime {needed}, not {runtime}")
        runtime = needed
    if runtime is None:
        runtime = "onnx" if onnx_available() else "torch"
    if runtime == "onnx" and not onnx_available():
        raise WeightsError("--runtime onnx needs ONNX Runtime: pip install 'aescull[onnx]' (or use --runtime torch)")
    return runtime


def load_scoring_model(weights: str | os.PathLike[str] | None = None, runtime: str | None = None, threads: int | None = None) -> ScoringModel:
    """The bundled model (or ``weights``) on ``runtime`` (default: :func:`choose_runtime`), with
    ``threads`` model threads (default: :data:`DEFAULT_THREADS` on ONNX Runtime; torch's thread
    count is left as it is, as an API should)."""
    path = None if weights is None else Path(weights)
    if choose_runtime(runtime, path) == "onnx":
        from aescull.model.onnx_runtime import load_onnx

        return load_onnx(path, threads=threads or DEFAULT_THREADS)
    from aescull.model.torch_runtime import load_torch

    return load_torch(path, threads=threads)


def _infer(network: Network, batch: np.ndarray) -> list[float]:
    return [float(value) for value in np.asarray(network(batch)).reshape(-1)]


def too_small(photo: DecodedPhoto) -> str | None:
    """The error text for a photo too small to judge (every engine applies it), else None."""
    if min(photo.pixels.shape[1:]) < MIN_SHORT_SIDE:
        return f"too small to judge: its short side is under {MIN_SHORT_SIDE} pixels"
    return None


def score_batch(network: Network, pixels: list[np.ndarray]) -> list[float | None]:
    """Score photos of one working size in one model call (None where the model failed).

    ``network`` is :meth:`ScoringModel.network` of the loaded model. Every engine scores through
    here, so a photo gets the same score whichever engine ran it. One batch failing must not
    take the run down: it is retried photo by photo.
    """
    try:
        return list(_infer(network, np.stack(pixels)))
    except Exception as error:
        log.debug("batch of %d photos failed", len(pixels), exc_info=error)
    scores: list[float | None] = []
    for photo in pixels:
        try:
            scores.append(_infer(network, photo[None])[0])
        except Exception as single_error:
            log.debug("model failed", exc_info=single_error)
            scores.append(None)
    return scores
