"""How much the taps' head should heed the damage pairs: agreement with people against damaged
copies ranked below their originals, per (share, margin) of the squared hinge.

    python -m bench.damage_trade [--runs runs] [--cache runs/cache-f12-all-taps.pt] [--tag -e20] 0:0.1 0.2:0.1 1:0.1 1:0.05

Runs the shipped ``--plan stack`` procedure (kernel width and strength by inner CV, blend weight
and score line on out-of-fold scores) on the pyramid fold models that ``python -m training --plan cv:spp``
saved in --runs (with --tag, those of a run given that --tag), changing only ``training.kernel``'s
DAMAGE_SHARE and TAP_PAIR_MARGIN; each fold model is judged on its own validation photos and
their damaged copies. Saves nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from aescull.model.checkpoint import load_model
from training import cv, data, fit, kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", nargs="+", help="SHARE:MARGIN, e.g. 0.2:0.1 (share 0 is labels only)")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--cache", type=Path, default=Path("runs/cache-f12-all-taps.pt"))
    parser.add_argument("--tag", default="", help="the --tag the fold models were trained with")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = fit.TrainConfig()
    cache = data.load_cache(args.cache)
    folds = cv.fold_indices(len(cache.names), args.folds, config.seed)
    pyramid_oof = cv.out_of_fold(args.runs / "results.jsonl", f"spp{args.tag}", cache.names)
    columns = ("srcc", "plcc", "accuracy", "pair_accuracy")
    print("share margin fold " + " ".join(columns) + " tap_weight", flush=True)
    for setting in args.settings:
        share, margin = (float(part) for part in setting.split(":"))
        kernel.DAMAGE_SHARE, kernel.TAP_PAIR_MARGIN = share, margin
        rows = []
        for fold in range(args.folds):
            val_idx, train_idx, threshold = cv.fold_split(cache.mos, folds, fold)
            pyramid = load_model(cv.fold_checkpoint(args.runs, f"spp{args.tag}", fold)).model
            stacked, chosen = kernel.stack_taps(pyramid, cache, train_idx, pyramid_oof[train_idx], config.frozen_blocks, config.seed)
            metrics, _ = fit.evaluate_fold(stacked, cache, val_idx, threshold, config.frozen_blocks, chosen["good_score"])
            rows.append([metrics[c] for c in columns] + [chosen["tap_weight"]])
            print(f"{share} {margin} {fold} " + " ".join(f"{v:.4f}" for v in rows[-1]), flush=True)
        print(f"{share} {margin} mean " + " ".join(f"{v:.4f}" for v in np.mean(rows, 0)), flush=True)


if __name__ == "__main__":
    main()
