"""How hard are our folds? Frozen ImageNet EfficientNet-Lite0 features and a ridge regression.

    python -m bench.frozen_probe --data ../shared/data/clive-dev

The issue quotes SRCC ~0.77 for "a frozen ImageNet EfficientNet-Lite0 with global average
pooling and a ridge regression" on held-back photos of the same database. This runs that
baseline on our 5 folds (seed 0, as ``python -m training``), so our cross-validated figures
can be read against the held-back ones; then the per-channel mean and spread of every block's
output (the model's "taps"), through the same ridge and through the kernel ridge head the
model ships, which is how the taps earned their head. Photos are decoded as ``aescull score``
decodes them; every strength and width is chosen inside each training split.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from aescull.pipeline.decode import decode
from aescull.model.network import EfficientNetLite0Trunk, ModelConfig, SPPNet
from training.cv import fold_indices
from training.data import imagenet_trunk_state, read_labels
from training.fit import TrainConfig
from training.kernel import KERNEL_TAPS, choose_kernel, fit_kernel_ridge
from training.metrics import spearman

BLOCKS = len(EfficientNetLite0Trunk.block_channels)
RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
Predictor = Callable[[np.ndarray], np.ndarray]


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> Predictor:
    """Linear ridge regression on standardised features (the issue's reference)."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / scale
    weights = np.linalg.solve(z.T @ z + alpha * np.eye(x.shape[1]), z.T @ (y - y.mean()))
    return lambda q: (q - mean) / scale @ weights + y.mean()


def fit_linear(x: np.ndarray, y: np.ndarray) -> Predictor:
    """Ridge with its strength chosen by an inner 4-fold CV of the training photos."""

    def inner_srcc(alpha: float) -> float:
        predicted = np.zeros(len(y))
        for val in fold_indices(len(y), 4, 0):
            rest = np.setdiff1d(np.arange(len(y)), val)
            predicted[val] = fit_ridge(x[rest], y[rest], alpha)(x[val])
        return spearman(predicted, y)

    return fit_ridge(x, y, max(RIDGE_ALPHAS, key=inner_srcc))


def fit_kernel(x: np.ndarray, y: np.ndarray) -> Predictor:
    """The taps' kernel head (labels only), its width and strength chosen by inner CV."""
    gamma, lam, _ = choose_kernel(x, y, 0)
    return fit_kernel_ridge(x, y, gamma, lam).predict


@torch.inference_mode()
def frozen_features(data: Path, names: list[str], max_side: int) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Per photo: the global average of the trunk's 1,280 output channels, and the mean and
    spread of every block's output channels."""
    model = SPPNet(ModelConfig(taps=tuple(range(BLOCKS)))).eval()
    model.trunk.load_state_dict(imagenet_trunk_state())
    pooled, taps = [], []
    for name in names:
        activations, statistics = model.frozen_part(torch.from_numpy(decode(data / "images" / name, max_side).pixels[None]), BLOCKS)
        pooled.append(model.trunk.last_conv(activations).mean((2, 3))[0].double().numpy())
        taps.append([s[0].double().numpy() for s in statistics])
    return np.stack(pooled), taps


def cross_validated(x: np.ndarray, y: np.ndarray, folds: list[np.ndarray], fit: Callable[[np.ndarray, np.ndarray], Predictor]) -> list[float]:
    per_fold = []
    for val in folds:
        rest = np.setdiff1d(np.arange(len(y)), val)
        per_fold.append(spearman(fit(x[rest], y[rest])(x[val]), y[val]))
    return per_fold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="clive-dev: labels.csv and images/")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names, mos = read_labels(args.data)
    y = mos / 100.0
    started = time.time()
    pooled, taps = frozen_features(args.data, names, ModelConfig().max_side)
    print(f"{len(names)} photos, features in {time.time() - started:.0f} s")
    folds = fold_indices(len(names), 5, 0)

    def blocks(indices: tuple[int, ...]) -> np.ndarray:
        return np.stack([np.concatenate([photo[i] for i in indices]) for photo in taps])

    every_block = blocks(tuple(range(BLOCKS)))
    frozen = TrainConfig.frozen_blocks
    for label, x, fit in [
        ("global average of the 1,280 output channels, ridge", pooled, fit_linear),
        ("every block's mean and spread + global average, ridge", np.concatenate([every_block, pooled], axis=1), fit_linear),
        (f"the blocks the pyramid head shares (0-{frozen - 1}), kernel", blocks(tuple(range(frozen))), fit_kernel),
        (f"the shipped taps (blocks 0-{KERNEL_TAPS[-1]}), kernel", blocks(KERNEL_TAPS), fit_kernel),
        ("every block's mean and spread, kernel", every_block, fit_kernel),
    ]:
        per_fold = cross_validated(x, y, folds, fit)
        print(f"{label:<55} ({x.shape[1]:>4} numbers): SRCC {np.mean(per_fold):.3f} ± {np.std(per_fold):.3f}  "
              f"folds {' '.join(f'{v:.3f}' for v in per_fold)}")


if __name__ == "__main__":
    main()
