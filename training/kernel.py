"""The taps' head: kernel ridge regression on the statistics of the first blocks' outputs.

Fitted in closed form after the pyramid head, its width and strength chosen by an inner
cross-validation on the training photos, then blended with the pyramid head.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from aescull.model.network import TAP_NORM_EPS, SPPNet, gaussian_similarity
from training.cv import fold_indices
from training.data import Cache, Frozen, available_pairs, load_imagenet_tap_copy, tap_columns
from training.degrade import DAMAGE_KINDS
from training.metrics import choose_score_line, spearman

# (gamma, lambda) candidates of the taps' kernel head, chosen by inner cross-validation.
KERNEL_GRID = tuple((gamma, lam) for gamma in (0.25, 0.5, 1.0) for lam in (0.003, 0.01, 0.03, 0.1))
TAP_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
# A damaged copy should score at least this much below its original, asked with this share of
# the labels' total weight: more ranks damaged copies better and agrees less with people
# (5-fold figures in MODEL_CARD.md and git history). Newton's method on the hinge settles in about 5 steps.
TAP_PAIR_MARGIN = 0.1
DAMAGE_SHARE = 0.2
HINGE_STEPS = 30
# The kernel head's taps: every block up to the second stride-32 one, at ImageNet weights (a
# frozen copy past --frozen-blocks). The last two blocks added nothing measurable (see git history of the model card).
KERNEL_TAPS = tuple(range(14))


@dataclass
class KernelFit:
    """A kernel ridge head: the taps' standardisation, the standardised training statistics and
    their coefficients (what :class:`aescull.model.network.TapKernelHead` holds)."""

    mean: np.ndarray
    variance: np.ndarray
    support: np.ndarray
    coefficients: np.ndarray
    intercept: float
    gamma: float

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / np.sqrt(self.variance + TAP_NORM_EPS)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return similarity(self.standardise(x), self.support, self.gamma) @ self.coefficients + self.intercept


def similarity(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    return gaussian_similarity(torch.from_numpy(a), torch.from_numpy(b), gamma).numpy()


def fit_kernel_ridge(
    x: np.ndarray, y: np.ndarray, gamma: float, lam: float, damage: tuple[np.ndarray, np.ndarray] | None = None
) -> KernelFit:
    """Kernel ridge regression from standardised statistics to ``y``, the training photos being the support.

    ``damage`` is (originals, damaged copies): a squared hinge, with DAMAGE_SHARE of the labels'
    total weight, asks each copy to score at least TAP_PAIR_MARGIN below its original. Only the
    pairs short of that pull, so an obvious blur is not dragged back up to the margin at the
    labels' expense. Solved by Newton's method on the active pairs, exact in a few steps: in the
    photos' span (K'K + lam K + w D'D) a = K'(y - mean y) + w D' margin over the active rows D,
    which without damage is the usual (K + lam I) a = y - mean y."""
    fit = KernelFit(x.mean(0), x.var(0), np.zeros(0), np.zeros(0), float(y.mean()), gamma)
    fit.support = fit.standardise(x)
    kernel = similarity(fit.support, fit.support, gamma)
    lhs = kernel.T @ kernel + lam * kernel + 1e-8 * np.eye(len(y))
    rhs = kernel.T @ (y - fit.intercept)
    fit.coefficients = np.linalg.solve(lhs, rhs)
    if damage is None or not len(damage[0]):
        return fit
    originals, damaged = damage
    difference = similarity(fit.standardise(originals), fit.support, gamma) - similarity(fit.standardise(damaged), fit.support, gamma)
    weight = DAMAGE_SHARE * len(y) / len(difference)
    active = np.zeros(len(difference), dtype=bool)
    for _ in range(HINGE_STEPS):
        short = difference @ fit.coefficients < TAP_PAIR_MARGIN
        if np.array_equal(short, active):
            break
        active = short
        rows = difference[active]
        fit.coefficients = np.linalg.solve(lhs + weight * rows.T @ rows, rhs + weight * rows.sum(0) * TAP_PAIR_MARGIN)
    return fit


def kernel_out_of_fold(
    x: np.ndarray, y: np.ndarray, gamma: float, lam: float, seed: int, damage: tuple[np.ndarray, np.ndarray] | None
) -> np.ndarray:
    predicted = np.zeros(len(y))
    for val in fold_indices(len(y), 4, seed):
        rest = np.setdiff1d(np.arange(len(y)), val)
        predicted[val] = fit_kernel_ridge(x[rest], y[rest], gamma, lam, damage).predict(x[val])
    return predicted


def choose_kernel(
    x: np.ndarray, y: np.ndarray, seed: int, damage: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[float, float, np.ndarray]:
    """The (gamma, lambda) whose out-of-fold predictions agree best with ``y`` (inner 4-fold CV),
    and those predictions."""
    candidates = {grid: kernel_out_of_fold(x, y, *grid, seed, damage) for grid in KERNEL_GRID}
    (gamma, lam), predicted = max(candidates.items(), key=lambda item: spearman(item[1], y))
    return gamma, lam, predicted


@torch.no_grad()
def install_kernel(model: SPPNet, fit: KernelFit) -> None:
    """Put a fitted kernel head into a model built with ``tap_support`` = len(fit.support)."""
    model.tap_norm.running_mean.copy_(torch.from_numpy(fit.mean))
    model.tap_norm.running_var.copy_(torch.from_numpy(fit.variance))
    model.tap_head.support.copy_(torch.from_numpy(fit.support))
    model.tap_head.coefficients.copy_(torch.from_numpy(fit.coefficients))
    model.tap_head.intercept.fill_(fit.intercept)



def statistics(frozen: list[Frozen], taps: tuple[int, ...]) -> np.ndarray:
    """The cached ImageNet statistics of ``taps`` (float64) for the kernel head."""
    columns = tap_columns(taps)
    return torch.stack([item.statistics[columns] for item in frozen]).double().numpy()


def fit_taps_head(
    cache: Cache, train_idx: np.ndarray, taps: tuple[int, ...], seed: int,
    photo_folds: list[np.ndarray] | None = None, allowed: set[int] | None = None,
) -> tuple[KernelFit, dict[str, float], np.ndarray]:
    """The kernel head on ``train_idx``'s labels and the damage pairs a model trained there may use
    (every damage kind, from the labelled photos and the allowed photo folds; not the shallow depth
    of field, which is no damage), its width and strength chosen by inner 4-fold CV; with its
    inner out-of-fold predictions of the training photos."""
    x = statistics([cache.plain[int(i)] for i in train_idx], taps)
    y = cache.mos[train_idx] / 100.0
    pairs = available_pairs(cache, train_idx, photo_folds, allowed, DAMAGE_KINDS)
    damage = statistics([cache.pair_original[p] for p in pairs], taps), statistics([cache.pair_degraded[p] for p in pairs], taps)
    gamma, lam, kernel_oof = choose_kernel(x, y, seed, damage)
    return fit_kernel_ridge(x, y, gamma, lam, damage), {"kernel_gamma": gamma, "kernel_lambda": lam}, kernel_oof


def with_taps_head(model: SPPNet, fit: KernelFit | None, taps: tuple[int, ...], weight: float, frozen_blocks: int) -> SPPNet:
    """The pyramid model with a kernel head blended in at ``weight`` (the model as it is without one).
    Taps past ``frozen_blocks`` run through a frozen ImageNet copy of those blocks."""
    return model if fit is None or weight == 0 else _stacked(model, fit, taps, weight, frozen_blocks)


def _stacked(model: SPPNet, fit: KernelFit, taps: tuple[int, ...], weight: float, frozen_blocks: int) -> SPPNet:
    copy_from = frozen_blocks if max(taps) >= frozen_blocks else 0
    stacked = SPPNet(replace(model.config, taps=taps, tap_copy_from=copy_from, tap_weight=weight,
                             tap_support=len(fit.support), tap_gamma=fit.gamma))
    stacked.load_state_dict(model.state_dict(), strict=False)
    if copy_from:
        load_imagenet_tap_copy(stacked)
    install_kernel(stacked, fit)
    return stacked.eval()


def stack_taps(
    model: SPPNet, cache: Cache, train_idx: np.ndarray, pyramid_oof: np.ndarray, frozen_blocks: int, seed: int,
    taps: tuple[int, ...] = KERNEL_TAPS,
) -> tuple[SPPNet, dict[str, float]]:
    """Add the taps' kernel head to a trained pyramid model. Everything is chosen on the training
    photos only: the kernel width and strength by inner cross-validation, the blend weight and the
    score that calls a photo good on out-of-fold scores of both heads (``pyramid_oof``: the pyramid
    fold models' scores of these photos).
    The taps' statistics are at ImageNet weights, past ``frozen_blocks`` through a frozen copy:
    they are cached once and are the same for every fold model."""
    y = cache.mos[train_idx] / 100.0
    fit, chosen, kernel_oof = fit_taps_head(cache, train_idx, taps, seed)
    weight = max(TAP_WEIGHTS, key=lambda w: spearman((1 - w) * pyramid_oof + w * kernel_oof, y))
    score_line = choose_score_line((1 - weight) * pyramid_oof + weight * kernel_oof, y, float(np.median(y)))
    stacked = _stacked(model, fit, taps, weight, frozen_blocks)
    chosen = {**chosen, "tap_weight": weight, "good_score": score_line,
              "kernel_oof_srcc": spearman(kernel_oof, y), "pyramid_oof_srcc": spearman(pyramid_oof, y)}
    return stacked.eval(), chosen
