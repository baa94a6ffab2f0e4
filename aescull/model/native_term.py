"""What the score pays, after the network, for what its working-size view cannot see.

The network judges a photo at ~512 px, where a missed focus, sensor noise or pixelation on a
large file is mostly averaged away. :mod:`aescull.pipeline.native` reads the decode's larger
image (sharpness of the sharpest tiles, noise in the flattest, blockiness); this module turns
those readings into a penalty the network's score pays:

    score = clip(network score - weight_of_scale(scale) * sum_k w_k * max(0, shortfall_k), 0, 1)

with one hinge per reading: sharpness below its threshold, log2 noise above its, blockiness above
its. It is a pure numpy function of (network score, readings), so every engine (torch today,
ONNX Runtime tomorrow) applies the same term after its own network call.

- ``weight_of_scale``: 0 where the decode's image is no larger than the working size (the
  network already sees every pixel the readings would: clive-dev's 500-px photos, the MOS
  training data, score exactly as the network alone scores them), 1 from twice it.
- The weights and thresholds are fitted for one network (:data:`aescull.model.native_fit.FITTED_FOR_SHA256`)
  by ``python -m training.native_term`` and stored in :mod:`aescull.model.native_fit`, not in
  the checkpoint. Any other checkpoint scores with the network alone (:func:`term_for` is None).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from aescull.model import native_fit


class Term(NamedTuple):
    """One (weight, threshold) per reading; noise's threshold is in log2 of 8-bit levels."""

    sharpness_weight: float
    sharpness_below: float
    noise_weight: float
    noise_above: float
    blockiness_weight: float
    blockiness_above: float

    @property
    def identity(self) -> str:
        """What a cache keys the scores by, beside the network's sha256."""
        return "native:" + ",".join(f"{value:.6g}" for value in self)


# A reading: (sharpness, noise, blockiness, scale), as aescull.pipeline.native.Readings.
Reading = Sequence[float]


def term_for(model_sha256: str) -> Term | None:
    """The fitted term of the network with this sha256, or None (no penalty) for any other."""
    if model_sha256 != native_fit.FITTED_FOR_SHA256:
        return None
    term = Term(*native_fit.SHARPNESS, *native_fit.NOISE, *native_fit.BLOCKINESS)
    return term if any(term[0::2]) else None


def model_identity(model_sha256: str) -> str:
    """The identity of the scores a network gives with its term: a score cache keys by it, so
    cached scores from before a (re)fit are not reused."""
    term = term_for(model_sha256)
    return model_sha256 if term is None else f"{model_sha256}+{term.identity}"


def weight_of_scale(scale: np.ndarray | float) -> np.ndarray:
    """How much the readings count: not at all at the working size, fully from twice it."""
    return np.clip(np.asarray(scale, dtype=np.float64) - 1.0, 0.0, 1.0)


def features(readings: Sequence[Reading]) -> np.ndarray:
    """(n, 4): sharpness, log2 noise (8-bit levels), blockiness, scale; a reading that could not
    be made (nan: no edges, no flat tile) counts as clean."""
    rows = np.asarray([tuple(reading) for reading in readings], dtype=np.float64).reshape(-1, 4)
    sharpness = np.where(np.isnan(rows[:, 0]), 1.0, rows[:, 0])
    noise = np.where(np.isnan(rows[:, 1]), 0.0, np.log2(np.maximum(np.nan_to_num(rows[:, 1], nan=1.0), 0.25)))
    return np.column_stack([sharpness, noise, rows[:, 2], rows[:, 3]])


def shortfalls(feature_rows: np.ndarray, term: Term) -> np.ndarray:
    """(n, 3): each reading's distance past its threshold, times the scale's weight."""
    weight = weight_of_scale(feature_rows[:, 3])[:, None]
    past = np.column_stack([
        term.sharpness_below - feature_rows[:, 0], feature_rows[:, 1] - term.noise_above, feature_rows[:, 2] - term.blockiness_above,
    ])
    return weight * np.maximum(0.0, past)


def penalty(readings: Sequence[Reading], term: Term) -> np.ndarray:
    """What each photo's score pays (>= 0)."""
    if not len(readings):
        return np.zeros(0)
    return shortfalls(features(readings), term) @ np.array(term[0::2], dtype=np.float64)


def apply(scores: Sequence[float | None], readings: Sequence[Reading | None], term: Term | None) -> list[float | None]:
    """The scores after the penalty, in [0, 1]; a failed score (None) or a photo without readings
    keeps what it had, and with no ``term`` nothing changes."""
    if term is None:
        return list(scores)
    chosen = [i for i, (score, reading) in enumerate(zip(scores, readings)) if score is not None and reading is not None]
    paid = penalty([readings[i] for i in chosen], term)  # type: ignore[misc]
    adjusted = list(scores)
    for i, amount in zip(chosen, paid):
        adjusted[i] = float(min(1.0, max(0.0, float(scores[i]) - float(amount))))  # type: ignore[arg-type]
    return adjusted

