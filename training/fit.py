"""Fine-tune the pyramid head on the cached activations, and score cached photos with it."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from aescull.model.network import ModelConfig, SPPNet
from training.data import Cache, Frozen, available_pairs, held_out_pairs, imagenet_trunk_state, tap_columns
from training.degrade import DAMAGE_KINDS
from training.metrics import agreement

# The pairs whose copy should score as its original (the damages, degrade.DAMAGE_KINDS, and
# "bokeh>blur", a uniform blur below a shallow depth of field, score lower).
BOKEH_KINDS = ("bokeh",)
# Damages of the large photos that the working size barely shows (a 2.5-px blur at 2048 px is
# 0.6 px at 512): the network is asked only to rank them lower, by a smaller margin.
FAINT_AT_WORKING_SIZE = ("blur", "noise", "pixelate", "bokeh>blur")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 16
    pairs_per_step: int = 4
    trunk_lr: float = 1e-4
    head_lr: float = 3e-4
    weight_decay: float = 1e-4
    ranking_weight: float = 0.3
    ranking_margin: float = 0.05  # off-centre crops, and damages the working size barely shows
    severe_margin: float = 0.12  # every other damage: a drop a user's threshold catches
    bokeh_weight: float = 0.3
    bokeh_tolerance: float = 0.03  # a shallow-depth-of-field copy within this of its original asks nothing
    bokeh_pairs_per_step: int = 1  # of pairs_per_step: one shallow-depth-of-field pair, one bokeh>blur
    degraded_per_photo: int = 2
    frozen_blocks: int = 12
    seed: int = 0



def scores_of(model: SPPNet, frozen: list[Frozen], frozen_blocks: int) -> torch.Tensor:
    """Raw scores for cached photos of possibly different shapes, batched by shape, in input order."""
    columns = tap_columns(model.config.taps)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for position, item in enumerate(frozen):
        by_shape.setdefault(tuple(item.activations.shape), []).append(position)
    pieces = []
    for positions in by_shape.values():
        batch = torch.stack([frozen[p].activations.float() for p in positions]).contiguous(memory_format=torch.channels_last)
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


def pair_margin(cache: Cache, pair: int, config: TrainConfig) -> float:
    kind, source = cache.pair_kind[pair], cache.pair_source[pair]
    if kind == "crop" or (source < 0 and kind in FAINT_AT_WORKING_SIZE):
        return config.ranking_margin
    return config.severe_margin


def train_model(
    cache: Cache, train_idx: np.ndarray, model_config: ModelConfig, config: TrainConfig, log,
    photo_folds: list[np.ndarray] | None = None, allowed: set[int] | None = None,
) -> SPPNet:
    """Fine-tune the pyramid head on ``train_idx``'s labels (L1 on MOS/100) and, at each step,
    pairs_per_step pairs of the training photos and of the unlabelled photos in the ``allowed``
    photo folds: damaged copies and uniform blurs ranked below their originals by a margin
    (a hinge), and a shallow-depth-of-field copy asked to stay within bokeh_tolerance of its
    original (a symmetric hinge)."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    model = SPPNet(model_config)
    model.trunk.load_state_dict(imagenet_trunk_state())
    # channels-last: 1.7 s of CPU per step instead of 2.6 (one thread, 24 photos; the same sums in another order)
    model.to(memory_format=torch.channels_last)
    groups = freeze_for_training(model, config.frozen_blocks)
    for group in groups:
        group["lr"] = config.trunk_lr if group["lr_scale"] == "trunk" else config.head_lr
        group["base_lr"] = group["lr"]
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    damage_pool = available_pairs(cache, train_idx, photo_folds, allowed, DAMAGE_KINDS)
    over_pool = available_pairs(cache, train_idx, photo_folds, allowed, ("bokeh>blur",))
    bokeh_pool = available_pairs(cache, train_idx, photo_folds, allowed, BOKEH_KINDS)
    margins = {p: pair_margin(cache, p, config) for p in damage_pool + over_pool}
    per_kind = config.bokeh_pairs_per_step if bokeh_pool and over_pool else 0
    targets = torch.tensor(cache.mos / 100.0, dtype=torch.float32)
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup = steps_per_epoch
    step = 0
    started = time.time()
    log(f"  {len(train_idx)} labelled photos; pairs: {len(damage_pool)} damaged, {len(over_pool)} bokeh>blur, {len(bokeh_pool)} bokeh")
    for epoch in range(config.epochs):
        set_train_mode(model)
        order = list(int(i) for i in train_idx)
        rng.shuffle(order)
        epoch_loss = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            acts = [cache.mirrored[i] if rng.random() < 0.5 else cache.plain[i] for i in batch]
            ranked, bokeh = [], []
            if config.ranking_weight > 0:
                ranked = rng.sample(damage_pool, config.pairs_per_step - 2 * per_kind) + rng.sample(over_pool, per_kind)
                bokeh = rng.sample(bokeh_pool, per_kind)
            pairs = ranked + bokeh
            acts += [cache.pair_original[p] for p in pairs] + [cache.pair_degraded[p] for p in pairs]
            scores = scores_of(model, acts, config.frozen_blocks)
            loss = F.l1_loss(scores[: len(batch)], targets[batch])
            if pairs:
                originals = scores[len(batch) : len(batch) + len(pairs)]
                others = scores[len(batch) + len(pairs) :]
                gap = originals[: len(ranked)] - others[: len(ranked)]
                margin = torch.tensor([margins[p] for p in ranked], dtype=torch.float32)
                loss = loss + config.ranking_weight * F.relu(margin - gap).mean()
                if bokeh:
                    change = (originals[len(ranked) :] - others[len(ranked) :]).abs()
                    loss = loss + config.bokeh_weight * F.relu(change - config.bokeh_tolerance).mean()
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
def score_unique(model: SPPNet, items: list[Frozen], frozen_blocks: int) -> np.ndarray:
    """Scores of cached images, each distinct image (pairs share their originals) scored once."""
    unique: dict[int, int] = {}
    distinct: list[Frozen] = []
    for item in items:
        if identity(item) not in unique:
            unique[identity(item)] = len(distinct)
            distinct.append(item)
    scored = np.concatenate([scores_of(model, distinct[s : s + 32], frozen_blocks).numpy() for s in range(0, len(distinct), 32)]) \
        if distinct else np.zeros(0)
    return np.array([scored[unique[identity(item)]] for item in items])


def identity(item: Frozen) -> int:
    """The same cached image under any name: pairs share their original's tensors, and saving and
    loading the cache keeps them shared (one storage), where the Frozen objects are new."""
    return item.activations.data_ptr()


@torch.inference_mode()
def evaluate_fold(
    model: SPPNet, cache: Cache, val_idx: np.ndarray, threshold_mos: float, frozen_blocks: int, score_line: float | None = None
) -> tuple[dict, np.ndarray]:
    predicted = np.concatenate(
        [scores_of(model, [cache.plain[i] for i in val_idx[s : s + 32]], frozen_blocks).numpy() for s in range(0, len(val_idx), 32)]
    )
    metrics = agreement(predicted, cache.mos[val_idx], threshold_mos, score_line)
    pairs = held_out_pairs(cache, val_idx, None, set(), DAMAGE_KINDS)
    originals = score_unique(model, [cache.pair_original[p] for p in pairs], frozen_blocks)
    degraded = score_unique(model, [cache.pair_degraded[p] for p in pairs], frozen_blocks)
    metrics["pair_accuracy"] = float(np.mean(originals > degraded))
    return metrics, predicted

