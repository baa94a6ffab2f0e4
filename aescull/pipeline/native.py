"""What the working-size view cannot see, read cheaply from the larger image the decode holds.

The network judges a photo at ~512 px, where a missed focus, sensor noise or pixelation on a
large file is mostly averaged away. Before its Lanczos resize to the working size the decode
already holds a larger image: a JPEG's draft decode (2 to 4 times the working size) or, for
other formats, the full decode. Three readings of that image, a few milliseconds together:

- ``sharpness`` in (0, 1]: the steepness of the sharpest edges of the most detailed tiles, on
  the scale of :mod:`aescull.judge.checks` (an edge blurred by a Gaussian of sigma px, in this
  image's pixels, reads about ``1 / sqrt(1 + sigma**2)``; a perfect step 1). Only the sharpest
  tiles count, so a sharp subject on a soft background is sharp, and a missed focus is not.
  ``nan`` when no tile has edges to judge.
- ``noise``: luminance noise in 8-bit levels in the flattest tiles (Immerkaer's estimator on
  small patches, a low percentile of them); ``nan`` when no tile is flat and unclipped.
- ``blockiness`` >= 1: how much more the pixel-to-pixel steps concentrate on a grid of 2, 4 or
  8 pixels than elsewhere (1 for a photo, about 2 for a pixelated one, 1.5 to 4 for heavy JPEG).
- ``scale``: the image's longest side over the working size's (1 when the photo is no larger
  than the working size: then the network already sees every pixel measured here).

An image more than 4 times the working size (a PNG or TIFF, or ``draft=False``) is box-reduced
by a whole factor first, so every photo is read at 2 to 4 times the working size, as a JPEG's
draft decode gives it: the readings do not depend on the file format.

:func:`aescull.pipeline.decode.decode` makes one call to :func:`read` (with ``native=True``) on
the image it already holds and carries the readings on the decoded photo;
:mod:`aescull.model.native_term` turns them into what the score pays, after the network.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import Image

TILE = 64  # pixels per side of the tiles the image is judged in
RANK_REDUCE = 2  # tiles are ranked by detail on a copy box-reduced this much
DETAIL_TILES = 12  # the most detailed tiles are measured for sharpness...
SHARPEST = 3  # ... and the sharpest of those speak for the frame
FLAT_TILES = 6  # the flattest (unclipped) tiles are measured for noise
NOISE_PATCH = 16
NOISE_PERCENTILE = 25
NOISE_LEVELS = (16, 240)
EDGE_CONTRAST = 20.0  # grey levels over an edge: smaller rises are texture or noise
EDGE_SLOPE = 1.5  # grey levels per pixel at an edge's steepest step
MIN_EDGES = 16
MAX_RATIO = 4  # images larger than this many working sizes are box-reduced first
BLOCK_PERIODS = (2, 4, 8)
BLOCK_LINES = 4  # blockiness reads every 4th line: the grid is the same on each
_PREFILTER = np.exp(-0.5 * np.arange(-3, 4) ** 2)
_PREFILTER = (_PREFILTER / _PREFILTER.sum()).astype(np.float32)
_SQRT_2PI = math.sqrt(2 * math.pi)


class Readings(NamedTuple):
    sharpness: float
    noise: float
    blockiness: float
    scale: float


def read(image: Image.Image, working: tuple[int, int]) -> Readings:
    """The readings of an upright image that will be resized to ``working`` (width, height)."""
    longest = max(image.size)
    ratio = longest / max(1, max(working))
    if ratio >= MAX_RATIO:
        image = image.reduce(int(longest // (2 * max(working))))
        ratio = max(image.size) / max(working)
    luma = image.convert("L")
    pixels = np.asarray(luma)
    detail, level, boxes, size = _tiles(luma)
    margin = len(_PREFILTER) // 2
    sharp = _grey_tiles(pixels, boxes, np.argsort(-detail, kind="stable")[:DETAIL_TILES], size, margin)
    low, high = NOISE_LEVELS
    flat = [i for i in np.argsort(detail, kind="stable") if low <= level[i] <= high][:FLAT_TILES]
    return Readings(_sharpness(sharp), _noise(_grey_tiles(pixels, boxes, np.asarray(flat, dtype=int), size, 0)),
                    _blockiness(pixels), float(max(1.0, ratio)))


def _tiles(luma: Image.Image) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]], int]:
    """Each tile's mean gradient and level on a copy box-reduced RANK_REDUCE times (cheap, and noise
    barely moves the ranking), the tiles' corners and their size."""
    width, height = luma.size
    size = min(TILE, width, height) // RANK_REDUCE * RANK_REDUCE
    rows, cols = (height // size, width // size) if size else (0, 0)
    if size < 16 or not rows or not cols:
        return np.zeros(0), np.zeros(0), [], size
    cell = size // RANK_REDUCE
    small = np.asarray(luma.reduce(RANK_REDUCE), dtype=np.int16)[: rows * cell, : cols * cell]
    gradient = np.zeros(small.shape, dtype=np.int16)
    np.abs(np.diff(small, axis=0), out=gradient[:-1, :])
    gradient[:, :-1] += np.abs(np.diff(small, axis=1))
    detail = gradient.reshape(rows, cell, cols, cell).sum(axis=(1, 3), dtype=np.int64).ravel() / (cell * cell)
    level = small.reshape(rows, cell, cols, cell).sum(axis=(1, 3), dtype=np.int64).ravel() / (cell * cell)
    boxes = [(row * size, col * size) for row in range(rows) for col in range(cols)]
    return detail, level, boxes, size


def _grey_tiles(pixels: np.ndarray, boxes: list[tuple[int, int]], chosen: np.ndarray, size: int, margin: int) -> np.ndarray:
    """The chosen tiles as float32, each with ``margin`` pixels of context, edge-replicated past the frame."""
    height, width = pixels.shape
    tiles = []
    for top, left in (boxes[int(i)] for i in chosen):
        y0, x0, y1, x1 = max(0, top - margin), max(0, left - margin), min(height, top + size + margin), min(width, left + size + margin)
        tile = pixels[y0:y1, x0:x1].astype(np.float32)
        pad = ((y0 - (top - margin), top + size + margin - y1), (x0 - (left - margin), left + size + margin - x1))
        tiles.append(np.pad(tile, pad, mode="edge") if any(any(p) for p in pad) else tile)
    return np.stack(tiles) if tiles else np.zeros((0, size + 2 * margin, size + 2 * margin), dtype=np.float32)


def _sharpness(tiles: np.ndarray) -> float:
    """The steepest tiles' edge steepness, in the worse direction (as :mod:`aescull.judge.checks` measures it)."""
    if not len(tiles):
        return float("nan")
    smooth = _prefilter(tiles)
    per_direction = []
    for lines in (smooth, smooth.transpose(0, 2, 1)):
        count, rows, length = lines.shape
        steepness, row = _edge_steepness(lines.reshape(count * rows, length))
        per_tile = _upper_quartiles(steepness, row // rows, count)
        if len(per_tile):
            per_direction.append(float(np.mean(np.sort(per_tile)[::-1][:SHARPEST])))
    if not per_direction:
        return float("nan")
    return min(1.0, _SQRT_2PI * min(per_direction))


def _upper_quartiles(values: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """The 75th percentile (linear, as numpy's) of ``values`` in each group with at least MIN_EDGES of them."""
    order = np.lexsort((values, group))
    ordered, counts = values[order], np.bincount(group, minlength=groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    usable = counts >= MIN_EDGES
    position = 0.75 * (counts[usable] - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, counts[usable] - 1)
    base = starts[usable]
    return ordered[base + low] + (position - low) * (ordered[base + high] - ordered[base + low])


def _prefilter(tiles: np.ndarray) -> np.ndarray:
    """Separable 1-px Gaussian over a stack of tiles, 'valid' part only (no invented border)."""
    taps = len(_PREFILTER)
    rows = sum(w * tiles[:, :, i : tiles.shape[2] - taps + 1 + i] for i, w in enumerate(_PREFILTER))
    return sum(w * rows[:, i : rows.shape[1] - taps + 1 + i, :] for i, w in enumerate(_PREFILTER))


def _edge_steepness(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each edge along the rows (a monotonic run rising at least EDGE_CONTRAST, steepest step
    at least EDGE_SLOPE, not cut by the border): its steepest step over its whole rise, which is
    1 / (sqrt(2 pi) sigma) for a Gaussian edge of width sigma; and the row it is on."""
    steps = np.diff(lines, axis=1)
    signs = np.sign(steps).astype(np.int8)
    starts = np.ones(signs.shape, dtype=bool)
    starts[:, 1:] = signs[:, 1:] != signs[:, :-1]
    first = np.flatnonzero(starts.ravel())
    flat = steps.ravel()
    rise = np.abs(np.add.reduceat(flat, first))
    peak = np.maximum.reduceat(np.abs(flat), first)
    length = signs.shape[1]
    last = np.append(first[1:], signs.size) - 1
    whole = (first % length != 0) & (last % length != length - 1) & (first // length == last // length)
    edge = whole & (signs.ravel()[first] != 0) & (rise >= EDGE_CONTRAST) & (peak >= EDGE_SLOPE)
    return peak[edge] / rise[edge], first[edge] // length


def _noise(tiles: np.ndarray) -> float:
    """Immerkaer (1996) on NOISE_PATCH-px patches of the flattest tiles, a low percentile of them."""
    low, high = NOISE_LEVELS
    size = tiles.shape[1] // NOISE_PATCH * NOISE_PATCH if len(tiles) else 0
    if size < NOISE_PATCH:
        return float("nan")
    count, per = len(tiles), size // NOISE_PATCH
    patches = tiles[:, :size, :size].reshape(count, per, NOISE_PATCH, per, NOISE_PATCH).transpose(0, 1, 3, 2, 4).reshape(-1, NOISE_PATCH, NOISE_PATCH)
    means = patches.mean(axis=(1, 2))
    patches = patches[(means >= low) & (means <= high)]
    if not len(patches):
        return float("nan")
    response = np.diff(np.diff(patches, n=2, axis=2), n=2, axis=1)
    sigma = math.sqrt(math.pi / 2) * np.abs(response).mean(axis=(1, 2)) / 6
    return float(np.percentile(sigma, NOISE_PERCENTILE))


def _blockiness(pixels: np.ndarray) -> float:
    """The largest share of the mean step that one phase of a 2-, 4- or 8-pixel grid carries, times
    the period (1 when steps fall evenly). Every BLOCK_LINES-th line is enough: the grid is the same on each."""
    best = 1.0
    for lines in (pixels[::BLOCK_LINES], pixels.T[::BLOCK_LINES]):
        steps = np.abs(np.diff(lines.astype(np.int16), axis=1)).mean(axis=0)
        for period in BLOCK_PERIODS:
            usable = len(steps) // period * period
            if usable < 4 * period:
                continue
            per_phase = steps[:usable].reshape(-1, period).mean(axis=0)
            best = max(best, float(per_phase.max() / max(per_phase.mean(), 1e-6)))
    return best
