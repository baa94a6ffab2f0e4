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
from training.data import Cache, Frozen, imagenet_trunk_state, tap_columns
from training.metrics import agreement


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

