"""Train the SPP scorer on clive-dev (LIVE In the Wild) mean opinion scores, on a CPU.

    python -m training --data ../shared/data/clive-dev --photos ../shared/data/photos --plan cv:spp   # 5-fold CV, pyramid head
    python -m training --data DATA --photos PHOTOS --plan stack      # ... plus the taps' head, on the same folds
    python -m training --data DATA --photos PHOTOS --plan final,stamp --out weights/aescull-spp.pt   # all 878 photos
    python -m training --data DATA --plan fold0:gap,fold0:plain      # ablations on one fold

Why it fits in two hours on two cores: the stem and the first ``frozen_blocks`` MBConv blocks
stay at their ImageNet weights, so their activations, and the statistics of every block's
output at ImageNet weights (the "taps"), are computed once (photo, mirrored photo, degraded
copies) and cached (:mod:`training.data`); only the stride-32 stages, the SPP head and the MLP
are fine-tuned (:mod:`training.fit`). A second head on the taps' statistics (past the frozen
blocks, from a frozen ImageNet copy that runs beside the fine-tuned ones) is then fitted by
kernel ridge regression and blended in (:mod:`training.kernel`), its width, strength and weight
chosen by cross-validation on the training photos (:mod:`training.cv`). Needs the ``[train]``
extra (the ImageNet trunk) and a source checkout: training is not part of the wheel.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import torch

from aescull.model.network import ModelConfig, SPPNet
from aescull.model.checkpoint import load_model, save_checkpoint
from training.cv import (
    cv_summary,
    fold_checkpoint,
    fold_indices,
    fold_split,
    out_of_fold,
    stamp_checkpoint,
)
from training.data import Cache, build_cache, load_cache, save_cache
from training.fit import TrainConfig, evaluate_fold, train_model
from training.kernel import stack_taps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the labelled photos: a folder with labels.csv and images/ (clive-dev)")
    parser.add_argument("--photos", type=Path, help="unlabelled photos whose damaged copies join the ranking pairs")
    parser.add_argument("--cache", type=Path, help="frozen activations, reused if present (default runs/cache-fN-all-taps.pt)")
    parser.add_argument("--plan", default="cv:spp,stack,final,stamp",
                        help="comma list of steps: cv:spp (or gap, plain), fold0:spp, stack, final, stamp, summary")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--ranking-weight", type=float, default=TrainConfig.ranking_weight)
    parser.add_argument("--out", type=Path, default=Path("weights/aescull-spp.pt"))
    parser.add_argument("--results", type=Path, default=Path("runs/results.jsonl"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frozen-blocks", type=int, default=TrainConfig.frozen_blocks, help="MBConv blocks kept at ImageNet weights")
    parser.add_argument("--tag", default="", help="suffix for result variants and fold checkpoints")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = TrainConfig(epochs=args.epochs, ranking_weight=args.ranking_weight, frozen_blocks=args.frozen_blocks)
    cache_path = args.cache or Path(f"runs/cache-f{config.frozen_blocks}-all-taps.pt")
    spp = ModelConfig()
    variants = {
        "spp": spp,  # the pyramid head; `stack` adds the taps' head to it
        "gap": replace(spp, pyramid_bins=(1,), pooling="avg"),  # the same head on one global average
        # the plain reference head: the trunk's global average, a linear layer
        "plain": replace(spp, pyramid_bins=(1,), pooling="avg", reduce_channels=0, hidden=0, layer_norm=False),
    }

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    def finish_fold(
        model: SPPNet, name: str, fold: int, val_idx: np.ndarray, threshold: float, chosen: dict, facts: dict, started: float | None = None
    ) -> None:
        """Evaluate a fold model on its own photos, save it, and append its line to the results."""
        assert cache is not None
        metrics, predicted = evaluate_fold(model, cache, val_idx, threshold, config.frozen_blocks, chosen.get("good_score"))
        # The fold's own "good" line, so `python -m evaluation.evaluate --weights` on it reproduces the fold's accuracy.
        meta = {"fold": fold, "folds": args.folds, "seed": config.seed, "good_threshold": threshold / 100.0, **chosen}
        save_checkpoint(model, fold_checkpoint(args.results.parent, name, fold), meta)
        seconds = {} if started is None else {"seconds": round(time.time() - started)}
        record = {"variant": name, **facts, "fold": fold, **seconds, **chosen, **metrics,
                  "predictions": {cache.names[i]: float(p) for i, p in zip(val_idx, predicted)}}
        with open(args.results, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        log(f"{name} fold {fold}: " + " ".join(f"{k} {v:.4f}" for k, v in {**chosen, **metrics}.items()))

    steps = [step.partition(":")[::2] for step in args.plan.split(",")]
    cache: Cache | None = None
    if any(what not in ("summary", "stamp") for what, _ in steps):
        if cache_path.is_file():
            cache = load_cache(cache_path)
            log(f"loaded cache {cache_path}")
        else:
            cache = build_cache(args.data, args.photos, config, spp.max_side, log)
            save_cache(cache, cache_path)
    folds = fold_indices(len(cache.names), args.folds, config.seed) if cache is not None else []
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for what, variant in steps:
        if what == "summary":
            print(json.dumps(cv_summary(args.results), indent=1))
            continue
        if what == "stamp":
            stamp_checkpoint(args.out, args.results, args.data)
            continue
        assert cache is not None
        if what == "stack":
            pyramid_oof = out_of_fold(args.results, f"spp{args.tag}", cache.names)
            for f in range(args.folds):
                val_idx, train_idx, threshold = fold_split(cache.mos, folds, f)
                base = load_model(fold_checkpoint(args.results.parent, f"spp{args.tag}", f)).model
                stacked, chosen = stack_taps(base, cache, train_idx, pyramid_oof[train_idx], config.frozen_blocks, config.seed)
                finish_fold(stacked, f"stack{args.tag}", f, val_idx, threshold, chosen, {})
            continue
        if what == "final":
            pyramid_oof = out_of_fold(args.results, f"spp{args.tag}", cache.names)
            if np.isnan(pyramid_oof).any():
                raise SystemExit(f"final needs cv:spp in {args.results} first: the taps' blend is chosen on its out-of-fold scores")
            started = time.time()
            model = train_model(cache, np.arange(len(cache.names)), variants["spp"], config, log)
            model, chosen = stack_taps(model, cache, np.arange(len(cache.names)), pyramid_oof, config.frozen_blocks, config.seed)
            log(f"taps' head: {chosen}")
            meta = {
                "name": "aescull-spp",
                "version": date.today().isoformat(),
                "data": "LIVE In the Wild Image Quality Challenge (clive-dev, 878 photos); Debian wallpapers for ranking pairs",
                "train": config.__dict__,
                "train_seconds": round(time.time() - started),
                "date": date.today().isoformat(),
                "good_threshold": float(np.median(cache.mos)) / 100.0,
                "good_score": chosen["good_score"],
                "cv": cv_summary(args.results),
                "taps": chosen,
            }
            digest = save_checkpoint(model, args.out, meta)
            log(f"saved {args.out} sha256 {digest}")
            continue
        selected = range(args.folds) if what == "cv" else [int(what.removeprefix("fold"))]
        for f in selected:
            val_idx, train_idx, threshold = fold_split(cache.mos, folds, f)
            started = time.time()
            model = train_model(cache, train_idx, variants[variant], config, log)
            facts = {"frozen_blocks": config.frozen_blocks, "epochs": config.epochs, "ranking_weight": config.ranking_weight}
            finish_fold(model, variant + args.tag, f, val_idx, threshold, {}, facts, started)


if __name__ == "__main__":
    main()
