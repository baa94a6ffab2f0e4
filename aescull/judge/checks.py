"""Cheap, explainable checks beside the learned score: focus, exposure and noise at 100 %.

The model looks at the whole frame at ~512 px, where a missed focus on a 24-MP file is invisible.
These checks look at native pixels and each reduces to one number with a physical meaning, so a
flag can be explained ("blurry": sharpness 0.30, the sharpest edges look blurred by 3 px):

- ``sharpness`` in (0, 1]: how steep the sharpest edges are. 1 is a perfect step, and an edge
  blurred by a Gaussian of sigma px reads ``1 / sqrt(1 + sigma**2)`` (0.71 at 1 px, 0.45 at
  2 px, 0.32 at 3 px, 0.24 at 4 px). Edges are measured only in the most detailed tiles of the
  frame, and the steepest tiles count, so a sharp subject on a smooth background is sharp. Each
  direction is measured separately and the worse one is kept, so camera shake (blur in one
  direction) shows. Only edges that stand alone are measured, and thin lines (a twig, a gap
  between planks) are read on the same scale through the shape of a blurred bar: a line's flank
  is steeper than an edge of the same blur (1.5 times for a thin one), so lines and dense
  texture made blurred photos look sharper than they were (see :func:`_edge_steepness`).
  ``None`` when the frame has no edges to judge (fog, a clear sky): never flagged.
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

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from aescull.judge.thresholds import CHECK_REASONS

# Bump when a measurement changes meaning, so cached checks are recomputed.
CHECKS_VERSION = 2  # 2: sharpness measures lone edges and corrects lines for their shape

REASONS = CHECK_REASONS
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
# An edge is measured only where it stands alone: beyond each end of its run, over this many
# times its width (rise / steepest step, 2.5 sigma for a Gaussian edge), the signal may move by
# at most FLAT_SHARE of the rise, back or on. Otherwise the run is the flank of a line, whose
# far side makes it look steeper (up to 1.52 times for a thin line, a Gaussian-blurred dark gap
# or twig), or it was cut short by a neighbouring feature (its rise underestimated).
FLAT_REACH = 1.0
FLAT_SHARE = 0.2
MAX_REACH = 16  # samples: wider edges (a blur of sigma 6 px and more) are judged over this much
# Pixels: how precisely the steepest step of a flank is located (8-bit levels make the top of a
# blurred line's slope flat). A line is taken as narrow as this allows: lines narrower than about
# three times their blur all have nearly the same shape, so their correction swings with it.
LINE_NOISE = 0.5
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
    """Steepness of the sharpest edges, worst direction first (see the module docstring).

    Tiles of the same shape (all but those at the frame's border) are measured together, in one
    pass over all their rows, so the cost does not grow with the number of steps per edge.
    """
    margin = len(_PREFILTER) // 2
    width, height = luma.size
    shapes: dict[tuple[int, ...], list[np.ndarray]] = {}
    for left, top, right, bottom in tiles.most_detailed(DETAIL_TILES):
        box = (max(0, left - margin), max(0, top - margin), min(width, right + margin), min(height, bottom + margin))
        crop = np.asarray(luma.crop(box), dtype=np.float32)
        shapes.setdefault(crop.shape, []).append(crop)
    smoothed = [_prefilter(np.stack(same)) for same in shapes.values()]  # one filter pass per shape, not per tile
    per_direction = []
    for across in (True, False):
        steepness: list[np.ndarray] = []
        for same in smoothed:
            block = same if across else same.transpose(0, 2, 1)
            lines = np.ascontiguousarray(block).reshape(-1, block.shape[2])
            edges, rows = _edge_steepness(lines)
            steepness.append(_tile_percentiles(edges, rows // block.shape[1], len(same)))
        values = np.sort(np.concatenate(steepness))[::-1] if steepness else np.zeros(0)
        if values.size:
            per_direction.append(float(np.mean(values[: max(1, round(values.size * SHARPEST_SHARE))])))
    if not per_direction:
        return None
    return round(min(1.0, _SQRT_2PI * min(per_direction)), 3)


def region_sharpness(image: Image.Image, box: tuple[int, int, int, int]) -> float | None:
    """Sharpness of one region of a photo at native resolution (a face), on the scale of ``sharpness``.

    The frame's sharpness ranks many tiles and keeps the steepest; a region judged on its own is
    one piece, so its edges are pooled instead: each direction's ``EDGE_PERCENTILE`` of all the
    region's edges, the worse direction kept, as within one tile. 1 is a perfect step,
    ``1 / sqrt(1 + sigma**2)`` a Gaussian blur of sigma px. ``None`` when neither direction has
    ``MIN_EDGES`` edges (nothing to judge). Only the region is converted to grey.
    """
    margin = len(_PREFILTER) // 2  # the pre-filter reads this far beyond the box, as for a tile
    width, height = image.size
    left, top, right, bottom = box
    crop = (max(0, left - margin), max(0, top - margin), min(width, right + margin), min(height, bottom + margin))
    if min(crop[2] - crop[0], crop[3] - crop[1]) <= len(_PREFILTER):
        return None
    smoothed = _prefilter(np.asarray(image.crop(crop).convert("L"), dtype=np.float32))
    per_direction = []
    for lines in (smoothed, np.ascontiguousarray(smoothed.T)):
        edges, _ = _edge_steepness(lines)
        if edges.size >= MIN_EDGES:
            per_direction.append(float(np.percentile(edges, EDGE_PERCENTILE)))
    if not per_direction:
        return None
    return round(min(1.0, _SQRT_2PI * min(per_direction)), 3)


def _tile_percentiles(values: np.ndarray, tile: np.ndarray, tiles: int) -> np.ndarray:
    """Each tile's ``EDGE_PERCENTILE`` of its edges (as np.percentile, linear), for the tiles
    with at least ``MIN_EDGES`` of them."""
    counts = np.bincount(tile, minlength=tiles)
    ranked = values[np.lexsort((values, tile))]
    begins = (np.cumsum(counts) - counts)[counts >= MIN_EDGES]
    counts = counts[counts >= MIN_EDGES]
    position = EDGE_PERCENTILE / 100 * (counts - 1)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, counts - 1)
    low, high = ranked[begins + below].astype(np.float64), ranked[begins + above].astype(np.float64)
    return low + (high - low) * (position - below)


def _prefilter(pixels: np.ndarray) -> np.ndarray:
    """Separable 1-px Gaussian over the last two axes (an image, or a stack of them), 'valid' part
    only (no invented border)."""
    taps = len(_PREFILTER)
    rows = sum(weight * pixels[..., index : pixels.shape[-1] - taps + 1 + index] for index, weight in enumerate(_PREFILTER))
    return sum(weight * rows[..., index : rows.shape[-2] - taps + 1 + index, :] for index, weight in enumerate(_PREFILTER))


@functools.cache  # computed when a line is first measured, not when every command imports this module
def _bar_table(points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """How a line's flank misleads, by the line's shape (see :func:`_edge_steepness`).

    A bar of width ``u`` (in units of its blur sigma) blurred by a Gaussian: for a flank, the
    distance between the steepest points of the two flanks times steepest step / rise (a ratio
    that depends on ``u`` alone: 1.21 for a thin line, ``u`` for a wide bar), and how much
    steeper than an edge of the same blur the flank reads (1.52 for a thin line, 1 for a wide
    bar, whose flanks are edges).
    """
    ratio, excess = [], []
    for u in np.linspace(0.05, 8.0, points):
        x = np.linspace(-u / 2 - 6.0, 0.0, 4001)
        slope = np.exp(-0.5 * (x + u / 2) ** 2) - np.exp(-0.5 * (x - u / 2) ** 2)
        steepest = int(np.argmax(slope))
        height = math.erf(u / (2 * math.sqrt(2)))
        step = slope[steepest] / _SQRT_2PI
        ratio.append(2 * abs(x[steepest]) * step / height)
        excess.append(_SQRT_2PI * step / height)
    # Strictly increasing for np.interp (it is, up to the grid, for thin lines where it is flat).
    return np.maximum.accumulate(np.asarray(ratio)) + np.arange(points) * 1e-9, np.asarray(excess)


def _edge_steepness(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each edge along the rows: the largest one-pixel step over the whole rise, and its row.

    An edge is a monotonic run of pixels whose total rise is at least ``EDGE_CONTRAST`` and
    whose steepest step is at least ``EDGE_SLOPE``; runs cut by the tile's border are left out
    (half an edge looks twice as steep). For a Gaussian edge of width sigma (after the
    pre-filter) the ratio is 1 / (sqrt(2 pi) sigma).

    That holds only for an edge that stands alone, so a run counts only where the signal stays
    flat beyond both its ends (``FLAT_REACH``, ``FLAT_SHARE``). Where it turns back at one end,
    the run is the flank of a line (a dark gap, a twig, a grass blade) whose other flank follows:
    once such a line is narrower than a few times its blur, its flank reads steeper than an edge
    of the same blur, up to 1.52 times (a 4-px gap blurred by 3 px read like an edge blurred by
    2). When the other flank turns back at the shared apex and is flat beyond, the pair is one
    line: it is measured against the mean of its two sides, and its steepness is divided by the
    excess a blurred bar of its shape has (:func:`_bar_table`; the shape is the distance between
    the two steepest steps, relative to the width). Runs that continue beyond an end (cut short
    by a small wiggle) and runs between two lines (dense texture) are not measured.
    """
    steps = np.diff(lines, axis=1)
    length = steps.shape[1]
    signs = np.sign(steps).astype(np.int8)
    starts = np.ones(signs.shape, dtype=bool)
    starts[:, 1:] = signs[:, 1:] != signs[:, :-1]
    first = np.flatnonzero(starts.ravel())
    flat_steps, flat_signs, samples = steps.ravel(), signs.ravel(), lines.ravel()
    last = np.append(first[1:], signs.size) - 1
    whole = (first % length != 0) & (last % length != length - 1)
    # A run's rise is the difference of its end samples up to float32 rounding: most runs are far
    # below EDGE_CONTRAST on that alone, and only the others are summed step by step as before.
    row_offset = first // length  # samples have one more column than steps
    ends = samples[last + row_offset + 1] - samples[first + row_offset]
    candidates = np.flatnonzero(whole & (flat_signs[first] != 0) & (np.abs(ends) >= EDGE_CONTRAST - 0.5))
    nothing = np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.intp)
    if candidates.size == 0:
        return nothing
    lengths = last[candidates] - first[candidates] + 1
    begins = np.cumsum(lengths) - lengths
    compact = flat_steps[np.arange(lengths.sum()) + np.repeat(first[candidates] - begins, lengths)]
    rise, peak = np.abs(np.add.reduceat(compact, begins)), np.maximum.reduceat(np.abs(compact), begins)
    measured = (rise >= EDGE_CONTRAST) & (peak >= EDGE_SLOPE)
    runs, rise, peak = candidates[measured], rise[measured], peak[measured]
    if runs.size == 0:
        return nothing
    start = first[runs]
    sign = flat_signs[start].astype(np.float32)
    row = start // length
    low, high = start % length, last[runs] % length + 1  # the samples at the run's two ends
    reach = np.clip(np.ceil(FLAT_REACH * rise / peak), 2, MAX_REACH).astype(np.intp)
    top = row * (length + 1) + high  # flat indices of the samples at the run's ends
    bottom = top - high + low
    # The highest and lowest samples within each run's reach beyond its top and below its bottom;
    # in order of reach, so that offset k reads only the runs that reach that far. Windows that
    # leave the row belong to runs that are not measured (``fits``); they are only kept in the arrays.
    order = np.argsort(reach, kind="stable")
    ahead, behind = top[order], bottom[order]
    beyond_high = np.full(runs.size, -np.inf, dtype=samples.dtype)
    beyond_low = np.full(runs.size, np.inf, dtype=samples.dtype)
    below_high, below_low = beyond_high.copy(), beyond_low.copy()
    for offset, begin in enumerate(np.searchsorted(reach[order], np.arange(1, int(reach.max()) + 1)), start=1):
        after = samples[np.minimum(ahead[begin:] + offset, samples.size - 1)]
        np.maximum(beyond_high[begin:], after, out=beyond_high[begin:])
        np.minimum(beyond_low[begin:], after, out=beyond_low[begin:])
        before = samples[np.maximum(behind[begin:] - offset, 0)]
        np.maximum(below_high[begin:], before, out=below_high[begin:])
        np.minimum(below_low[begin:], before, out=below_low[begin:])
    unsorted = np.empty_like(order)
    unsorted[order] = np.arange(order.size)
    beyond_high, beyond_low, below_high, below_low = (values[unsorted] for values in (beyond_high, beyond_low, below_high, below_low))
    # Oriented so that positive is "on" (the rise goes on) and negative is "back" (the signal
    # returns, as over the apex of a line): the most on and the most back beyond each end.
    at_top, at_bottom, rising = samples[top], samples[bottom], sign > 0
    on_after = np.where(rising, beyond_high - at_top, at_top - beyond_low)
    back_after_by = np.where(rising, at_top - beyond_low, beyond_high - at_top)
    on_before = np.where(rising, at_bottom - below_low, below_high - at_bottom)
    back_before_by = np.where(rising, below_high - at_bottom, at_bottom - below_low)
    tolerance = FLAT_SHARE * rise
    back_after, back_before = back_after_by > tolerance, back_before_by > tolerance
    fits = (low >= reach) & (high + reach <= length)
    alone = fits & (on_after <= tolerance) & (on_before <= tolerance)
    edges = alone & ~back_after & ~back_before
    # Flanks of lines: back over the apex at one end only; the neighbouring run across the apex
    # must be such a flank too, turning back towards this one.
    to_apex = alone & back_after & ~back_before  # the apex is beyond the top
    from_apex = alone & back_before & ~back_after  # the apex is below the bottom
    # The neighbouring runs, across a flat apex (equal samples: zero steps) where there is one.
    moving = flat_signs[first] != 0
    index = np.arange(first.size)
    following = np.minimum.accumulate(np.where(moving, index, first.size)[::-1])[::-1]
    preceding = np.maximum.accumulate(np.where(moving, index, -1))
    slot = np.full(first.size + 1, -1, dtype=np.intp)
    slot[runs] = np.arange(runs.size)
    next_run = slot[following[np.minimum(runs + 1, first.size - 1)]]
    previous_run = slot[preceding[np.maximum(runs - 1, 0)]]
    paired = np.where(to_apex, next_run, np.where(from_apex, previous_run, -1))
    partner = np.maximum(paired, 0)
    line = (paired >= 0) & np.where(to_apex, from_apex[partner], to_apex[partner]) & (row[partner] == row)
    values, rows = [peak[edges] / rise[edges]], [row[edges]]
    if line.any():
        flank, other = np.flatnonzero(line), partner[line]
        steepest = np.zeros(runs.size)
        steepest[flank] = _steepest_step(flat_steps, first, last, runs[flank], sign[flank], peak[flank])
        distance = np.abs(steepest[flank] - steepest[other])
        steepness = (peak[flank] + peak[other]) / (rise[flank] + rise[other])
        excess = np.interp(np.maximum(distance - LINE_NOISE, 0) * steepness, *_bar_table())
        values.append(steepness / excess)
        rows.append(row[flank])
    return np.concatenate(values), np.concatenate(rows)


def _steepest_step(steps: np.ndarray, first: np.ndarray, last: np.ndarray, runs: np.ndarray, sign: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """Where each of the given runs has its steepest step (flat index, to a fraction of a pixel)."""
    begin, lengths = first[runs], last[runs] - first[runs] + 1
    ends = np.cumsum(lengths)
    owner = np.repeat(np.arange(runs.size), lengths)
    index = np.arange(owner.size) + np.repeat(begin - ends + lengths, lengths)
    hits = np.flatnonzero(steps[index] * sign[owner] == peak[owner])  # in order: per run, its first steepest
    first_hit = hits[np.r_[True, owner[hits][1:] != owner[hits][:-1]]]
    steepest = index[first_hit]
    # A parabola through the steepest step and its neighbours (inside the row: runs are whole).
    left, middle, right = steps[steepest - 1] * sign, peak, steps[steepest + 1] * sign
    curvature = left - 2 * middle + right
    shift = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0), 0.0)
    return steepest + np.clip(shift, -0.5, 0.5)


def _noise(luma: Image.Image, tiles: _Tiles) -> float | None:
    """Immerkaer (1996) on the flattest patches, unless they look like texture (see the module docstring)."""
    low, high = NOISE_LEVELS
    patches = [
        patch
        for box in tiles.flattest(FLAT_TILES)
        for patch in _patches(np.asarray(luma.crop(box), dtype=np.float32))
    ]
    if not patches:
        return None
    stack = np.stack(patches)
    levels = stack.mean(axis=(1, 2))
    stack = stack[(low <= levels) & (levels <= high)]
    if not len(stack):
        return None
    estimates = _immerkaer(stack)
    noise = float(np.percentile(estimates, NOISE_PERCENTILE))
    flattest = np.argsort(estimates)[: max(1, len(estimates) // 10)]
    noise_like = float(np.mean(estimates[flattest] / np.maximum(_step_noise(stack)[flattest], 1e-6)))
    if noise > NOISY_ABOVE and noise_like < NOISE_LIKE:
        return None
    return round(noise, 2)


def _patches(pixels: np.ndarray) -> list[np.ndarray]:
    """The whole NOISE_PATCH-square patches of a tile, row by row."""
    return [
        pixels[top : top + NOISE_PATCH, left : left + NOISE_PATCH]
        for top in range(0, pixels.shape[0] - NOISE_PATCH + 1, NOISE_PATCH)
        for left in range(0, pixels.shape[1] - NOISE_PATCH + 1, NOISE_PATCH)
    ]


def _immerkaer(patches: np.ndarray) -> np.ndarray:
    """Noise sigma of each patch from the mean absolute response to a mask that cancels smooth shading."""
    response = np.diff(np.diff(patches, n=2, axis=2), n=2, axis=1)
    return math.sqrt(math.pi / 2) * np.abs(response).mean(axis=(1, 2)).astype(np.float64) / 6


def _step_noise(patches: np.ndarray) -> np.ndarray:
    """The same sigma read from first differences, which texture inflates far more."""
    steps = (np.abs(np.diff(patches, axis=2)).mean(axis=(1, 2)) + np.abs(np.diff(patches, axis=1)).mean(axis=(1, 2))).astype(np.float64) / 2
    return math.sqrt(math.pi / 2) * steps / math.sqrt(2)


def sharpest_region(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The native-resolution tile whose edges are steepest (left, top, right, bottom): where the
    focus landed, for a loupe to open on.

    The tiles are those the frame's sharpness is judged on (the most detailed ones), each judged
    as ``sharpness`` judges one: its ``EDGE_PERCENTILE`` edge in each direction, the worse
    direction kept. ``None`` when no tile has ``MIN_EDGES`` edges in either direction.
    """
    luma = image.convert("L")
    margin = len(_PREFILTER) // 2
    width, height = luma.size
    best, chosen = -1.0, None
    for left, top, right, bottom in _Tiles(luma).most_detailed(DETAIL_TILES):
        box = (max(0, left - margin), max(0, top - margin), min(width, right + margin), min(height, bottom + margin))
        smoothed = _prefilter(np.asarray(luma.crop(box), dtype=np.float32))
        per_direction = []
        for lines in (smoothed, np.ascontiguousarray(smoothed.T)):
            edges, _ = _edge_steepness(lines)
            if edges.size >= MIN_EDGES:
                per_direction.append(float(np.percentile(edges, EDGE_PERCENTILE)))
        if per_direction and min(per_direction) > best:
            best, chosen = min(per_direction), (left, top, right, bottom)
    return chosen
