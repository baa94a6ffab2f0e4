"""How well do the shipped weights agree with people, and do they rank damaged copies lower?

    python -m evaluation.evaluate --labels LABELS.csv --images DIR [--pairs PHOTOS_DIR]

``--labels`` is a CSV with ``filename`` and ``mos`` (0-100) columns, as in the LIVE In the Wild
database; the photos are scored through exactly the same path as ``aescull score``. Binary
accuracy calls a photo good when its MOS is at or above the median MOS of the model's training
data (stored in the checkpoint), and predicted good when its score is at or above the same value.
``--pairs`` degrades every photo of a folder in each of the ways in :mod:`training.degrade` and
counts how often the original scores higher.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aescull.model.checkpoint import LoadedModel, load_model
from aescull.pipeline.decode import decode
from aescull.pipeline.local import score_paths
from evaluation import photos_in
from training import degrade
from training.metrics import agreement

# For checkpoints that do not record their training median (clive-dev's is near 50).
FALLBACK_GOOD_THRESHOLD = 0.5


def evaluate_labels(loaded: LoadedModel, labels: Path, images: Path, max_side: int | None) -> dict[str, float]:
    with open(labels, newline="") as handle:
        mos_by_name = {row["filename"]: float(row["mos"]) for row in csv.DictReader(handle)}
    names = sorted(mos_by_name)
    predicted, mos, failed = [], [], 0
    for record in score_paths([images / name for name in names], model=loaded, max_side=max_side):
        if record.score is None:
            failed += 1
            continue
        predicted.append(record.score)
        mos.append(mos_by_name[record.path.name])
    good_mos, line = good_lines(loaded.meta)
    result = agreement(np.array(predicted), np.array(mos), good_mos, line)
    result.update(scored=len(predicted), failed=failed, good_mos=good_mos, score_line=line)
    return result


def good_lines(meta: dict) -> tuple[float, float]:
    """The MOS at which a photo counts as good (the training median) and the score at which the
    model calls it good, which training picks on out-of-fold scores (the MOS line / 100 for
    checkpoints that do not record one)."""
    good_mos = 100.0 * float(meta.get("good_threshold", FALLBACK_GOOD_THRESHOLD))
    return good_mos, float(meta.get("good_score", good_mos / 100.0))


def degradation_pairs(loaded: LoadedModel, folder: Path, max_side: int, seed: int = 0) -> dict[str, float]:
    """Per kind of damage, the fraction of photos whose original outscores the damaged copy."""
    rng = np.random.default_rng(seed)
    wins: dict[str, list[bool]] = {kind: [] for kind in degrade.KINDS}
    photos = photos_in(folder)
    for path in photos:
        pixels = torch.from_numpy(decode(path, max_side).pixels)
        original = Image.fromarray((pixels.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8))
        with torch.inference_mode():
            base = float(loaded.model(pixels[None]))
            for kind in degrade.KINDS:
                damaged = degrade.random_degradation(kind, rng)(original)
                tensor = torch.from_numpy(np.asarray(damaged, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255.0
                wins[kind].append(base > float(loaded.model(tensor[None])))
    result = {kind: float(np.mean(values)) for kind, values in wins.items()}
    result["all"] = float(np.mean([v for values in wins.values() for v in values]))
    result["photos"] = len(photos)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, help="CSV with filename and mos columns")
    parser.add_argument("--images", type=Path, help="folder holding the labelled photos")
    parser.add_argument("--pairs", type=Path, help="folder of photos for the degradation-pair check")
    parser.add_argument("--weights", type=Path, help="checkpoint (default: the bundled weights)")
    parser.add_argument("--max-side", type=int, default=None, help="working size (default: the model's)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if not (args.labels or args.pairs) or (args.labels and not args.images):
        parser.error("give --labels with --images, and/or --pairs")
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_model(args.weights)
    side = loaded.config.max_side if args.max_side is None else args.max_side
    print(f"model {loaded.name} {loaded.version} sha256 {loaded.sha256[:12]} max_side {side}")
    if args.labels:
        started = time.perf_counter()
        result = evaluate_labels(loaded, args.labels, args.images, side)
        seconds = time.perf_counter() - started
        print(
            f"labelled: {result['scored']} scored, {result['failed']} failed, {seconds:.1f}s | "
            f"SRCC {result['srcc']:.4f}  PLCC {result['plcc']:.4f}  accuracy {result['accuracy']:.4f} "
            f"(good: MOS >= {result['good_mos']:.2f}; called good: score >= {result['score_line']:.4f})"
        )
    if args.pairs:
        result = degradation_pairs(loaded, args.pairs, side)
        kinds = "  ".join(f"{kind} {result[kind]:.3f}" for kind in degrade.KINDS)
        print(f"degradation pairs over {result['photos']} photos: all {result['all']:.3f} | {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
