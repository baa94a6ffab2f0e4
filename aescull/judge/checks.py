"""Cheap, explainable checks beside the learned score: focus, exposure and noise at 100 %.

The model looks at the whole frame at ~512 px, where a missed focus on a 24-MP file is invisible.
These checks look at native pixels and each reduces to one number with a physical meaning, so a
flag can be explained ("blurry": sharpness 0.30, the sharpest edges look blurred by 3 px):

- ``sharpness`` in (0, 1]: how steep the sharpest edges are. 1 is a perfect step, and an edge
  blurred by a Gaussian of sigma px reads ``1 / sqrt(1 + sigma**2)`` (0.71 at 1 px, 0.45 at
  2 px, 0.24 at 4 px). Edges are measured only in the most detailed tiles of the frame, and the
  steepest tiles count, so a sharp subject on a smooth background is sharp. Each direction
  is measured separately and the worse one is kept, so camera shake (blur in one direction)
  shows. ``None`` when the frame has no edges to judge (fog, a clear sky): never flagged.
- ``exposure`` in stops (<= 0): how far below white the brightest 1 % of the frame sits, in
  its brightest channel (2.2 gamma). 0 means the highlights reach white, -2 means the brightest
  parts are two stops under it, as in a photo underexposed by two stops.
- ``clipped``: the fraction of pixels at 250 or more in the most clipped channel: blown highlights.
- ``noise``: the standard deviation of luminance noise, in 8-bit levels, in the flattest parts
  of the frame (Immerkaer's fast estimator on small patches). Fine texture adds to it, so it is
  an upper bound; when it is above the threshold but those parts look like texture rather than
  noise, detail and noise cannot be told apart and it is ``None`` (as when no part is flat and
  unclipped): never flagged.

The thresholds below were calibrated by ``python -m evaluation.checks_eval`` (see docs/checks.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

# Bump when a measurement changes meaning, so cached checks are recomputed.
CHECKS_VERSION = 1

REASONS = ("blurry", "dark", "bright", "noisy")
BLURRY_BELOW = 0.40  # sharpness; 0.40 is a Gaussian blur of sigma 2.3 px
DARK_BELOW = -1.6  # exposure, stops
BRIGHT_ABOVE = 0.30  # clipped fraction
NOISY_ABOVE = 2.0  # noise, 8-bit levels

TILE = 128  # native pixels per side of the tiles the frame is judged in
DETAIL_TILES = 64  # how many of the most detailed tiles are measured for sharpness
FLAT_TILES = 16  # how many of the flattest tiles are measured for noise
NOISE_PATCH = 32  # the flattest tiles are measured in patches this small, to find flat spots in them
NOISE_PERCENTILE = 10  # of the patch estimates: the flattest patches speak for the frame
# White noise is as strong pixel to pixel (second differences) as step to step (first
# differences); texture is much weaker at the finer scale. Below this ratio, patches are texture.
NOISE_LIKE = 0.6
SHARPEST_SHARE = 0.1  # of the measured tiles, the steepest tenth stand for the frame
EDGE_PERCENTILE = 75  # a tile's steepness: its steepest quarter of edges (shading is gentle, edges steep)
EDGE_CONTRAST = 20.0  # grey levels: smaller transitions are texture or noise, not edges
# Grey levels per pixel: a smooth ramp (sky, shading) is not a blurred edge. An edge of the
# smallest contrast keeps this slope up to a blur of sigma 5 px, a high-contrast one far beyond.
EDGE_SLOPE = 1.5
MIN_EDGES = 20  # edges a tile needs in a direction before its steepness counts
# A Gaussian pre-filter of 1 px keeps noise from faking steep edges; its known width is
# factored into the scale, which is why a perfect step reads 1.
_PREFILTER = np.exp(-0.5 * np.arange(-3, 4) ** 2)
_PREFILTER = (_PREFILTER / _PREFILTER.sum()).astype(np.float32)
_SQRT_2PI = math.sqrt(2 * math.pi)
CLIP_LEVEL = 250
GAMMA = 2.2
HIGHLIGHT_QUANTILE = 0.99
# Flat areas near black or white hide noise (clipping flattens it), so they are not measured.
NOISE_LEVELS = (16, 240)


@dataclass(frozen=True)
class Checks:
    """What the checks measured, and the reasons a photo was flagged (empty when none)."""

    sharpness: float | None
    exposure: float
    clipped: float
    noise: float | None
    reasons: tuple[str, ...] = field(default=())

    @classmethod
    def judged(cls, sharpness: float | None, exposure: float, clipped: float, noise: float | None) -> Checks:
        """Measurements with the reasons the current thresholds give them."""
        return cls(sharpness, exposure, clipped, noise, reasons_for(sharpness, exposure, clipped, noise))


def reasons_for(sharpness: float | None, exposure: float, clipped: float, noise: float | None) -> tuple[str, ...]:
    """The flags, always in the order of ``REASONS`` so rows compare and sort predictably."""
    flags = {
        "blurry": sharpness is not None and sharpness < BLURRY_BELOW,
        "dark": exposure < DARK_BELOW,
        "bright": clipped > BRIGHT_ABOVE,
        "noisy": noise is not None and noise > NOISY_ABOVE,
    }
    return tuple(reason for reason in REASONS if flags[reason])


def measure(image: Image.Image) -> Checks:
    """All checks on a photo at its native resolution (orientation does not matter)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    luma = rgb.convert("L")
    exposure, clipped = _exposure(rgb)
    tiles = _Tiles(luma)
    return Checks.judged(_sharpness(luma, tiles), exposure, clipped, _noise(luma, tiles))


def _exposure(rgb: Image.Image) -> tuple[float, float]:
    """Highlight headroom in stops and the clipped fraction, of the brightest / most clipped channel.

    Per-channel histograms (one pass in C) rather than each pixel's brightest channel: at 24 MP
    that is 30 ms instead of 110, and on the calibration photos both readings agree within 0.04
    stops and 0.03 of clipped fraction.
    """
    histograms = np.asarray(rgb.histogram(), dtype=np.float64).reshape(3, 256)
    total = histograms[0].sum()
    level = max(int(np.searchsorted(np.cumsum(channel), HIGHLIGHT_QUANTILE * total)) for channel in histograms)
    exposure = GAMMA * math.log2(max(level, 1) / 255.0)
    return round(exposure, 2), float(histograms[:, CLIP_LEVEL:].sum(axis=1).max() / total)


class _Tiles:
    """The frame cut into native-resolution tiles, ranked by how much structure each holds.

    Structure is judged on a box-reduced copy (a few hundred pixels across), so ranking every
    tile costs little and neither noise nor blur at 100 % changes which tiles are chosen.
    """

    def __init__(self, luma: Image.Image) -> None:
        width, height = luma.size
        self.size = min(TILE, width, height)
        self.boxes: list[tuple[int, int, int, int]] = []
        self.detail = np.zeros(0)
        self.level = np.zeros(0)
        if self.size < 16:
            return
        factor = 1
        while self.size % (factor * 2) == 0 and min(width, height) // (factor * 2) >= 256:
            factor *= 2
        small = np.asarray(luma.reduce(factor) if factor > 1 else luma, dtype=np.float32)
        rows, cols = height // self.size, width // self.size
        cell = self.size // factor
        small = small[: rows * cell, : cols * cell]
        gradient = np.zeros_like(small)
        gradient[:-1, :] += np.abs(np.diff(small, axis=0))
        gradient[:, :-1] += np.abs(np.diff(small, axis=1))
        self.detail = gradient.reshape(rows, cell, cols, cell).mean(axis=(1, 3)).ravel()
        self.level = small.reshape(rows, cell, cols, cell).mean(axis=(1, 3)).ravel()
        self.boxes = [
            (col * self.size, row * self.size, (col + 1) * self.size, (row + 1) * self.size)
            for row in range(rows)
            for col in range(cols)
        ]

    def most_detailed(self, count: int) -> list[tuple[int, int, int, int]]:
        order = np.argsort(-self.detail, kind="stable")
        return [self.boxes[index] for index in order[:count]]

    def flattest(self, count: int) -> list[tuple[int, int, int, int]]:
        low, high = NOISE_LEVELS
        usable = [index for index in np.argsort(self.detail, kind="stable") if low <= self.level[index] <= high]
        return [self.boxes[index] for index in usable[:count]]


def _sharpness(luma: Image.Image, tiles: _Tiles) -> float | None:
    """Steepness of the sharpest edges, worst direction first (see the module docstring)."""
    steepness: dict[str, list[float]] = {"across": [], "down": []}
    margin = len(_PREFILTER) // 2
    width, height = luma.size
    for left, top, right, bottom in tiles.most_detailed(DETAIL_TILES):
        box = (max(0, left - margin), max(0, top - margin), min(width, right + margin), min(height, bottom + margin))
        smoothed = _prefilter(np.asarray(luma.crop(box), dtype=np.float32))
        for direction, lines in (("across", smoothed), ("down", smoothed.T)):
            edges = _edge_steepness(lines)
            if edges.size >= MIN_EDGES:
                steepness[direction].append(float(np.percentile(edges, EDGE_PERCENTILE)))
    per_direction = []
    for values in steepness.values():
        if values:
            ranked = sorted(values, reverse=True)
            per_direction.append(float(np.mean(ranked[: max(1, round(len(ranked) * SHARPEST_SHARE))])))
    if not per_direction:
        return None
    return round(min(1.0, _SQRT_2PI * min(per_direction)), 3)


def _prefilter(pixels: np.ndarray) -> np.ndarray:
    """Separable 1-px Gaussian, 'valid' part only (no invented border)."""
    taps = len(_PREFILTER)
    rows = sum(weight * pixels[:, index : pixels.shape[1] - taps + 1 + index] for index, weight in enumerate(_PREFILTER))
    return sum(weight * rows[index : rows.shape[0] - taps + 1 + index, :] for index, weight in enumerate(_PREFILTER))


def _edge_steepness(lines: np.ndarray) -> np.ndarray:
    """For each edge along the rows: the largest one-pixel step over the whole rise.

    An edge is a monotonic run of pixels whose total rise is at least ``EDGE_CONTRAST`` and
    whose steepest step is at least ``EDGE_SLOPE``; runs cut by the tile's border are left out
    (half an edge looks twice as steep). For a Gaussian edge of width sigma (after the
    pre-filter) the ratio is 1 / (sqrt(2 pi) sigma).
    """
    steps = np.diff(lines, axis=1)
    signs = np.sign(steps).astype(np.int8)
    starts = np.ones(signs.shape, dtype=bool)
    starts[:, 1:] = signs[:, 1:] != signs[:, :-1]
    first = np.flatnonzero(starts.ravel())
    flat_steps = steps.ravel()
    rise = np.abs(np.add.reduceat(flat_steps, first))
    peak = np.maximum.reduceat(np.abs(flat_steps), first)
    length = signs.shape[1]
    last = np.append(first[1:], signs.size) - 1
    whole = (first % length != 0) & (last % length != length - 1)
    edge = whole & (signs.ravel()[first] != 0) & (rise >= EDGE_CONTRAST) & (peak >= EDGE_SLOPE)
    return peak[edge] / rise[edge]


def _noise(luma: Image.Image, tiles: _Tiles) -> float | None:
    """Immerkaer (1996) on the flattest patches, unless they look like texture (see the module docstring)."""
    low, high = NOISE_LEVELS
    fine, coarse = [], []
    for box in tiles.flattest(FLAT_TILES):
        pixels = np.asarray(luma.crop(box), dtype=np.float32)
        for top in range(0, pixels.shape[0] - NOISE_PATCH + 1, NOISE_PATCH):
            for left in range(0, pixels.shape[1] - NOISE_PATCH + 1, NOISE_PATCH):
                patch = pixels[top : top + NOISE_PATCH, left : left + NOISE_PATCH]
                if low <= patch.mean() <= high:
                    fine.append(_immerkaer(patch))
                    coarse.append(_step_noise(patch))
    if not fine:
        return None
    estimates = np.asarray(fine)
    noise = float(np.percentile(estimates, NOISE_PERCENTILE))
    flattest = np.argsort(estimates)[: max(1, len(estimates) // 10)]
    noise_like = float(np.mean(estimates[flattest] / np.maximum(np.asarray(coarse)[flattest], 1e-6)))
    if noise > NOISY_ABOVE and noise_like < NOISE_LIKE:
        return None
    return round(noise, 2)


def _immerkaer(patch: np.ndarray) -> float:
    """Noise sigma from the mean absolute response to a mask that cancels smooth shading."""
    response = np.diff(np.diff(patch, n=2, axis=1), n=2, axis=0)
    return math.sqrt(math.pi / 2) * float(np.abs(response).mean()) / 6


def _step_noise(patch: np.ndarray) -> float:
    """The same sigma read from first differences, which texture inflates far more."""
    steps = float(np.abs(np.diff(patch, axis=1)).mean() + np.abs(np.diff(patch, axis=0)).mean()) / 2
    return math.sqrt(math.pi / 2) * steps / math.sqrt(2)
