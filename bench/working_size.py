"""Choose the working size: cross-validated SRCC and model milliseconds per photo, per size.

    python -m bench.working_size --data ../shared/data/clive-dev [--runs runs] [--variant spp] [--sizes 256,320,384,448,512]

Uses the fold models that ``python -m training`` saves as runs/VARIANT-foldK.pt (``spp``
from ``--plan cv:spp``; ``stack`` from ``--plan stack``, the shipped recipe with its taps' head;
a ``--tag`` run's names carry the tag, e.g. ``stack-e20``): each scores only its own
validation fold, decoded by the same code as ``aescull score`` at each working size; the folds'
predictions are pooled into one SRCC per size. Times are the model's forward pass alone,
batch 1, on this machine's threads (median per photo).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from aescull.pipeline.decode import decode
from aescull.model.checkpoint import load_model
from evaluation.evaluate import good_lines
from training.cv import fold_checkpoint, fold_indices
from training.data import read_labels
from training.fit import TrainConfig
from training.metrics import agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="clive-dev: labels.csv and images/")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--variant", default="spp")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sizes", default="256,320,384,448,512")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names, mos = read_labels(args.data)
    folds = fold_indices(len(names), args.folds, TrainConfig.seed)
    saved = {f: fold_checkpoint(args.runs, args.variant, f) for f in range(args.folds)}
    models = {f: load_model(path) for f, path in saved.items() if path.is_file()}
    print(f"{len(models)} fold models; accuracy at each fold model's own good lines (training median, score line)")
    print(f"{'max_side':>8} {'SRCC':>7} {'PLCC':>7} {'acc':>6} {'ms/photo':>9}")
    for side in (int(s) for s in args.sizes.split(",")):
        predicted, labels, times, correct, total = [], [], [], 0, 0
        for fold, loaded in models.items():
            val = folds[fold]
            fold_pred = []
            for index in val:
                pixels = torch.from_numpy(decode(args.data / "images" / names[index], side).pixels[None])
                with torch.inference_mode():
                    started = time.perf_counter()
                    fold_pred.append(float(loaded.model(pixels)))
                    times.append(time.perf_counter() - started)
            fold_metrics = agreement(np.array(fold_pred), mos[val], *good_lines(loaded.meta))
            correct += fold_metrics["accuracy"] * len(val)
            total += len(val)
            predicted += fold_pred
            labels += list(mos[val])
        pooled = agreement(np.array(predicted), np.array(labels), float(np.median(mos)))
        print(f"{side:>8} {pooled['srcc']:7.4f} {pooled['plcc']:7.4f} {correct / total:6.3f} {1000 * statistics.median(times):9.1f}")


if __name__ == "__main__":
    main()
