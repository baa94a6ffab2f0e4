"""Run the network for scores: batch norms folded, channels-last, one failing batch retried photo by photo.

Every engine (local, Ray, the batch API) scores through :func:`score_batch`, so a photo gets the
same score whichever engine ran it.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from aescull.pipeline.decode import MIN_SHORT_SIDE

if TYPE_CHECKING:
    from aescull.pipeline.decode import DecodedPhoto

log = logging.getLogger("aescull")

# One photo per model call: at the 512-px working size the model alone took ~35% more CPU per
# photo in batches of 2 and up to twice as much in batches of 8 (activations outgrow the CPU
# caches); a whole run with batch 8 took ~35% more CPU and ~250 MB more peak RSS than batch 1.
DEFAULT_BATCH_SIZE = 1


# Model threads for the CLI (torch.set_num_threads): half the cores, as the decoding threads
# need the rest. torch's own default (every core) fights them: its threads spin-wait for each
# other at every layer when one is descheduled, and on a busy 2-core machine that cost ten
# times the CPU per photo (778 ms against 66 ms with one thread).
DEFAULT_THREADS = max(1, (os.cpu_count() or 1) // 2)
MODEL_FAILED = "the model could not score this image"


Network = Callable[[torch.Tensor], torch.Tensor]


def inference_network(model: torch.nn.Module) -> Network:
    """The same network, faster on a CPU: batch norms folded into their convolutions and
    channels-last memory (measured at 512 px on one core: 90 -> 66 ms per photo, before ReLU6 went in place; scores move by
    ~2e-7). The caller's model is left as it is; a module that cannot be traced runs unfolded."""
    try:
        with warnings.catch_warnings():  # it imports torch.utils.mkldnn, which still uses torch.jit
            warnings.simplefilter("ignore", DeprecationWarning)
            from torch.fx.experimental.optimization import fuse
        network = fuse(model)
    except Exception as error:  # tracing rejects some Python control flow; folding is only a speed-up
        log.debug("batch norms not folded: %s", error)
        network = copy.deepcopy(model)
    return network.to(memory_format=torch.channels_last)


def _infer(network: Network, batch: torch.Tensor) -> list[float]:
    with torch.inference_mode():
        return [float(value) for value in network(batch.contiguous(memory_format=torch.channels_last)).reshape(-1)]


def too_small(photo: DecodedPhoto) -> str | None:
    """The error text for a photo too small to judge (every engine applies it), else None."""
    if min(photo.pixels.shape[1:]) < MIN_SHORT_SIDE:
        return f"too small to judge: its short side is under {MIN_SHORT_SIDE} pixels"
    return None


def score_batch(network: Network, pixels: list[torch.Tensor]) -> list[float | None]:
    """Score photos of one working size in one model call (None where the model failed).

    ``network`` is :func:`inference_network` of the loaded model. Every engine scores through
    here, so a photo gets the same score whichever engine ran it. One batch failing must not
    take the run down: it is retried photo by photo.
    """
    try:
        return list(_infer(network, torch.stack(pixels)))
    except Exception as error:
        log.debug("batch of %d photos failed", len(pixels), exc_info=error)
    scores: list[float | None] = []
    for photo in pixels:
        try:
            scores.append(_infer(network, photo.unsqueeze(0))[0])
        except Exception as single_error:
            log.debug("model failed", exc_info=single_error)
            scores.append(None)
    return scores
