"""Synthetic degradations a culler must rank below the original.

Used by training (a ranking loss), by ``python -m evaluation.evaluate`` (degradation-pair accuracy) and by the
property tests. Each function takes and returns an RGB PIL image and is deterministic.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter


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


Degradation = Callable[[Image.Image], Image.Image]
KINDS = ("blur", "motion", "noise", "jpeg", "dark", "bright", "crop")


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
    if kind == "crop":
        keep, corner = rng.uniform(0.45, 0.6), int(rng.integers(0, 4))
        return lambda image: off_centre_crop(image, keep, corner)
    raise ValueError(f"unknown degradation {kind!r}")
