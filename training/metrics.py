"""Agreement with people: rank and linear correlation, binary accuracy, and where "good" starts.

One Spearman for training, evaluation and the benches, with average ranks for ties: MOS and
check readings (many photos at exposure 0) tie often, and an arbitrary order among ties would
invent agreement.
"""

from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """0-based ranks; tied values share the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation; NaN when either side is constant (there is no order to agree with)."""
    if len(a) < 2:
        return float("nan")
    rank_a, rank_b = average_ranks(a), average_ranks(b)
    if np.ptp(rank_a) == 0 or np.ptp(rank_b) == 0:
        return float("nan")
    return float(np.corrcoef(rank_a, rank_b)[0, 1])


def agreement(predicted: np.ndarray, mos: np.ndarray, threshold_mos: float, score_line: float | None = None) -> dict[str, float]:
    """SRCC, PLCC and binary accuracy of scores in [0, 1] against MOS in [0, 100]: a photo is good
    at MOS >= threshold_mos, and called good at a score >= score_line (by default threshold_mos / 100)."""
    good = mos >= threshold_mos
    called_good = predicted >= (threshold_mos / 100.0 if score_line is None else score_line)
    return {
        "srcc": spearman(predicted, mos),
        "plcc": float(np.corrcoef(predicted, mos)[0, 1]),
        "accuracy": float(np.mean(good == called_good)),
    }


def choose_score_line(scores: np.ndarray, y: np.ndarray, good_line: float) -> float:
    """The score above which a photo is called good: the cut that sorts out-of-fold scores of the
    training photos into good (y >= good_line) and not with the fewest mistakes, the median of
    the tied best. The blend runs a little below MOS/100 around the middle, so good_line itself
    calls too few photos good."""
    ordered = np.sort(scores)
    cuts = (ordered[1:] + ordered[:-1]) / 2
    good = y >= good_line
    accuracy = np.array([np.mean((scores >= cut) == good) for cut in cuts])
    return float(np.median(cuts[accuracy == accuracy.max()]))

