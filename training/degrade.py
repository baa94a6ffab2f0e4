"""Synthetic degradations a culler must rank below the original.

Used by training (a ranking loss), by ``python -m evaluation.evaluate`` (degradation-pair accuracy) and by the
property tests. Each function takes and returns an RGB PIL image and is deterministic.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def gaussian_blur(image: Image.Image, sigma: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius=sigma))


def motion_blur(image: Image.Image, length: int, horizontal: bool = True) -> Image.Image:
    """Average of shifted copies: a straight camera shake of ``length`` pixels."""
    pixels = np.asarray(image, dtype=np.float32)
    axis = 1 if horizontal else 0
    padded = np.pad(pixels, [(length, length) if a == axis else (0, 0) for a in range(3)], mode="edge")
    total = np.zeros_like(pixels)
    size = pixels.shape[axis]
    for shift in range(length):
        start = length + shift - length // 2
        total += np.take(padded, range(start, start + size), axis=axis)
    return Image.fromarray(np.clip(total / length + 0.5, 0, 255).astype(np.uint8))


def gaussian_noise(image: Image.Image, sigma: float, seed: int = 0) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + np.random.default_rng(seed).normal(0.0, sigma, pixels.shape)
    return Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8))


def jpeg_artefacts(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def exposure(image: Image.Image, stops: float) -> Image.Image:
    """Scale light in (approximately) linear space, as a camera's exposure does."""
    linear = (np.asarray(image, dtype=np.float32) / 255.0) ** 2.2
    shifted = np.clip(linear * (2.0**stops), 0.0, 1.0) ** (1 / 2.2)
    return Image.fromarray((shifted * 255.0 + 0.5).astype(np.uint8))


def off_centre_crop(image: Image.Image, keep: float, corner: int) -> Image.Image:
    """Keep ``keep`` of each side from one corner: the framing cuts the subject."""
    width, height = image.size
    crop_w, crop_h = max(1, int(width * keep)), max(1, int(height * keep))
    left = 0 if corner in (0, 2) else width - crop_w
    top = 0 if corner in (0, 1) else height - crop_h
    return image.crop((left, top, left + crop_w, top + crop_h))


def at_longest_side(image: Image.Image, side: int) -> Image.Image:
    """The image with its longest side ``side`` px (Lanczos; a smaller one is enlarged): the sizes
    the large photos' copies are made at, in training and in evaluation.trust."""
    scale = side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS)


def pixelate(image: Image.Image, factor: int) -> Image.Image:
    """Blocks of ``factor`` x ``factor`` pixels, each its mean: an image upscaled from a thumbnail."""
    width, height = image.size
    small = image.resize((max(1, width // factor), max(1, height // factor)), Image.Resampling.BOX)
    return small.resize((width, height), Image.Resampling.NEAREST)


def subject_mask(size: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float], feather: float) -> Image.Image:
    """An ellipse (centre and semi-axes as fractions of the frame) at 255, the rest 0, its edge
    feathered by a Gaussian of ``feather`` x the longest side."""
    width, height = size
    mask = Image.new("L", size, 0)
    (cx, cy), (ax, ay) = centre, axes
    ImageDraw.Draw(mask).ellipse((width * (cx - ax), height * (cy - ay), width * (cx + ax), height * (cy + ay)), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(feather * max(width, height))) if feather > 0 else mask


def subject_blur(
    image: Image.Image, sigma: float, centre: tuple[float, float] = (0.5, 0.5), axes: tuple[float, float] = (0.3, 0.3),
    feather: float = 0.05,
) -> Image.Image:
    """A shallow depth of field: the subject (an ellipse) kept, the rest blurred by ``sigma``, feathered between.
    Not a damage: a photographer's choice, which should score about as the original does."""
    mask = subject_mask(image.size, centre, axes, feather)
    return Image.composite(image, gaussian_blur(image, sigma), mask)


def detail_centre(image: Image.Image, tiles: int = 4) -> tuple[float, float]:
    """Where the frame's most detailed part is (fractions of width and height): the mean centre of
    its ``tiles`` most detailed 1/8-of-the-frame cells, on a small grey copy."""
    small = np.asarray(image.convert("L").resize((64, 64), Image.Resampling.BOX), dtype=np.float32)
    gradient = np.abs(np.diff(small, axis=0))[:, :-1] + np.abs(np.diff(small, axis=1))[:-1, :]
    cells = gradient[:56, :56].reshape(8, 7, 8, 7).mean(axis=(1, 3))
    best = np.argsort(-cells.ravel(), kind="stable")[:tiles]
    rows, cols = np.unravel_index(best, cells.shape)
    return float((cols.mean() + 0.5) / 8), float((rows.mean() + 0.5) / 8)


def random_subject_blur(image: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    """A shallow depth of field with the subject around the most detailed part (half the time) or
    anywhere off-centre, of a random size and feather."""
    if rng.random() < 0.5:
        cx, cy = detail_centre(image)
        centre = (float(np.clip(cx, 0.25, 0.75)), float(np.clip(cy, 0.25, 0.75)))
    else:
        centre = (float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7)))
    axes = (float(rng.uniform(0.18, 0.32)), float(rng.uniform(0.18, 0.32)))
    return subject_blur(image, sigma, centre, axes, float(rng.uniform(0.03, 0.08)))


Degradation = Callable[[Image.Image], Image.Image]
KINDS = ("blur", "motion", "noise", "jpeg", "dark", "bright", "crop")
# Every damage training ranks below its original: KINDS and pixelation.
DAMAGE_KINDS = (*KINDS, "pixelate")
# The damages of the large photos (no off-centre crop): training also gives them a shallow depth
# of field beside a uniform blur (the first should score as the original, the second lower).
SEVERE_KINDS = ("blur", "motion", "noise", "jpeg", "dark", "bright", "pixelate")


# Issue 24's six severe damages of a photo at 2048 px, and its two focus copies: a sharp centre on
# a background blurred by 8 px (a shallow depth of field, not a damage) and the whole frame blurred
# by 3 px (a missed focus at 100 %). Fixed strengths, for evaluation.trust and the trust tests.
SEVERE_DAMAGES: dict[str, Degradation] = {
    "blur 2.5": lambda image: gaussian_blur(image, 2.5),
    "noise 12": lambda image: gaussian_noise(image, 12.0),
    "jpeg q8": lambda image: jpeg_artefacts(image, 8),
    "-2 stops": lambda image: exposure(image, -2.0),
    "+2 stops": lambda image: exposure(image, 2.0),
    "pixelate 4x": lambda image: pixelate(image, 4),
}
FOCUS_COPIES: dict[str, Degradation] = {
    "bokeh": lambda image: subject_blur(image, 8.0, (0.5, 0.5), (0.3, 0.3), 0.05),
    "missed": lambda image: gaussian_blur(image, 3.0),
}


def random_degradation(kind: str, rng: np.random.Generator) -> Degradation:
    """A clearly visible degradation of the given kind, strength drawn from ``rng``.

    Strengths are for photos at a working size of about 500 pixels.
    """
    if kind == "blur":
        sigma = rng.uniform(1.5, 4.0)
        return lambda image: gaussian_blur(image, sigma)
    if kind == "motion":
        length, horizontal = int(rng.integers(8, 21)), bool(rng.integers(0, 2))
        return lambda image: motion_blur(image, length, horizontal)
    if kind == "noise":
        sigma, seed = rng.uniform(12.0, 30.0), int(rng.integers(0, 2**31))
        return lambda image: gaussian_noise(image, sigma, seed)
    if kind == "jpeg":
        quality = int(rng.integers(4, 13))
        return lambda image: jpeg_artefacts(image, quality)
    if kind == "dark":
        stops = -rng.uniform(1.8, 3.0)
        return lambda image: exposure(image, stops)
    if kind == "bright":
        stops = rng.uniform(1.5, 2.5)
        return lambda image: exposure(image, stops)
    if kind == "pixelate":
        factor = int(rng.integers(3, 6))
        return lambda image: pixelate(image, factor)
    if kind == "crop":
        keep, corner = rng.uniform(0.45, 0.6), int(rng.integers(0, 4))
        return lambda image: off_centre_crop(image, keep, corner)
    raise ValueError(f"unknown degradation {kind!r}")
