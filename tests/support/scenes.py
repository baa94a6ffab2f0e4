"""Photo-like scenes made with Pillow, for the model's and the trust tests."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def sky_and_hills(rng: np.random.Generator, width: int, height: int, swing: float) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A graded sky and three layered hills whose ridges move up or down by ``swing`` px, to draw on."""
    fraction = np.linspace(0, 1, height)[:, None, None]
    sky = (rng.uniform(60, 140, 3) * (1 - fraction) + rng.uniform(150, 230, 3) * fraction) * np.ones((1, width, 1))
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for layer in range(3):
        xs = np.linspace(0, width, 12)
        ys = height * (0.45 + 0.15 * layer) + rng.uniform(-swing, swing, 12)
        colour = tuple(int(c) for c in rng.uniform(20, 120, 3) * (1 + 0.3 * layer))
        draw.polygon([(0, height), *zip(xs, ys), (width, height)], fill=colour)
    return image, draw


def scene(seed: int, width: int = 1536, height: int = 1024) -> Image.Image:
    """A clean, sharp, photo-like scene: graded sky, hills, grass strokes, hard-edged objects, with
    the most detail in the middle of the frame, where a photographer would focus."""
    rng = np.random.default_rng(seed)
    image, draw = sky_and_hills(rng, width, height, 0.12 * height)
    scale = width / 480
    for _ in range(1200):
        x, y = rng.uniform(0, width), rng.uniform(height * 0.6, height)
        colour = tuple(int(v) for v in rng.uniform(30, 200, 3))
        draw.line((x, y, x + rng.uniform(-3, 3) * scale, y - rng.uniform(4, 12) * scale), fill=colour, width=max(1, int(scale / 2)))
    for _ in range(10):
        x, y = rng.uniform(0.3, 0.65) * width, rng.uniform(0.3, 0.6) * height
        size = rng.uniform(0.03, 0.08) * width
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        draw.rectangle((x, y, x + size, y + size * 1.5), fill=colour, outline=(20, 20, 20), width=max(2, int(scale)))
    return image
