"""How hard are our folds? Frozen ImageNet EfficientNet-Lite0 features and a ridge regression.

    python bench/frozen_probe.py [--data ../shared/data/clive-dev]

The issue quotes SRCC ~0.77 for "a frozen ImageNet EfficientNet-Lite0 with global average
pooling and a ridge regression" on held-back photos of the same database. This runs that
baseline on our 5 folds (seed 0, as ``python -m aescull.train``), so our cross-validated figures
can be read against the held-back ones; and the same ridge on the per-channel mean and spread of
earlier blocks' outputs (the model's "taps"), which is how the taps earned their head. Photos
are decoded as ``aescull score`` decodes them; the ridge strength is chosen inside each
training split.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

from aescull.decode import decode
from aescull.evaluate import spearman
from aescull.model import TAP_NORM_EPS, EfficientNetLite0Trunk, ModelConfig, SPPNet
from aescull.train import DEFAULT_DATA, SHIPPED_TAPS, choose_alpha, fit_ridge, fold_indices, imagenet_trunk_state, ridge_predict

BLOCKS = len(EfficientNetLite0Trunk.block_channels)


@torch.inference_mode()
def frozen_features(data: Path, names: list[str], max_side: int) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Per photo: the global average of the trunk's 1,280 output channels, and the mean and
    spread of every block's output channels."""
    model = SPPNet(ModelConfig(taps=tuple(range(BLOCKS)))).eval()
    model.trunk.load_state_dict(imagenet_trunk_state())
    pooled, taps = [], []
    for name in names:
        activations, statistics = model.frozen_part(decode(data / "images" / name, max_side).pixels[None], BLOCKS)
        pooled.append(model.trunk.last_conv(activations).mean((2, 3))[0].double().numpy())
        taps.append([s[0].double().numpy() for s in statistics])
    return np.stack(pooled), taps


def cross_validated(x: np.ndarray, y: np.ndarray, folds: list[np.ndarray]) -> list[float]:
    per_fold = []
    for val in folds:
        rest = np.setdiff1d(np.arange(len(y)), val)
        alpha = choose_alpha(x[rest], y[rest], 0)
        per_fold.append(spearman(ridge_predict(fit_ridge(x[rest], y[rest], alpha, TAP_NORM_EPS), x[val], TAP_NORM_EPS), y[val]))
    return per_fold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.data / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    y = np.array([float(row["mos"]) for row in rows]) / 100.0
    started = time.time()
    pooled, taps = frozen_features(args.data, [row["filename"] for row in rows], ModelConfig().max_side)
    print(f"{len(rows)} photos, features in {time.time() - started:.0f} s")
    folds = fold_indices(len(rows), 5, 0)

    def blocks(indices: tuple[int, ...]) -> np.ndarray:
        return np.stack([np.concatenate([photo[i] for i in indices]) for photo in taps])

    for label, x in [
        ("global average of the 1,280 output channels", pooled),
        (f"taps {SHIPPED_TAPS}: mean and spread", blocks(SHIPPED_TAPS)),
        ("every block's mean and spread + the global average", np.concatenate([blocks(tuple(range(BLOCKS))), pooled], axis=1)),
    ]:
        per_fold = cross_validated(x, y, folds)
        print(f"{label:<52} ({x.shape[1]:>4} numbers): SRCC {np.mean(per_fold):.3f} ± {np.std(per_fold):.3f}  "
              f"folds {' '.join(f'{v:.3f}' for v in per_fold)}")


if __name__ == "__main__":
    main()
