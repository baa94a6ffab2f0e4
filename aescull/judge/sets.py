"""Sets that must stay whole: exposure brackets, focus stacks and panorama sequences.

A bracket, a stack or a panorama is shot as a burst is (frames seconds apart, one camera, one
place), but every frame of it is needed: culling the best and dropping the rest, as for a burst,
destroys it. So photos are walked in capture order, per folder and camera, and two consecutive
frames shot at most :data:`SET_WINDOW` seconds apart are linked when

- **bracket**: both say ExposureMode = auto bracket; or their ExposureBiasValue differs by at
  least :data:`BIAS_STEP` EV, or both were shot in manual mode and their exposure (time, aperture
  and ISO) differs by at least :data:`MANUAL_EV_STEP` EV, while they show one scene;
- **stack**: the same exposure settings, near-identical framing, and the sharp region moved:
  some part of each frame is much sharper than in the other;
- **panorama**: the same exposure settings, and the layout of one matches a shifted part of the
  other, far better than it matches unshifted.

A chain of links is a set; frames at the same settings and framing extend a chain on either side
(a stack frame focused on a sky shows no change of focus). Pure functions, no I/O: records in, the same records with ``set_kind``
and ``set_id``. What they compare per photo (:class:`SetClues`) comes from the pixels the model
scores and from EXIF, so finding sets decodes nothing twice.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aescull.judge.groups import stable_id
from aescull.pipeline.discover import is_raw
from aescull.rows.record import capture_time

if TYPE_CHECKING:
    from aescull.pipeline.exif import Exposure
    from aescull.rows.record import ScoreRecord

SET_KINDS = ("bracket", "stack", "panorama")  # also the order that breaks a tie between link kinds
# Frames of a set follow each other within this many seconds: an auto bracket or a camera's focus
# bracketing takes fractions of a second a frame, a hand-held panorama or a manual stack a few.
SET_WINDOW = 5.0
# Brackets step by a third of a stop at least; a burst keeps its exposure compensation.
BIAS_STEP = 0.25
# In manual mode the camera changes nothing by itself: a change of a stop is the photographer's.
MANUAL_EV_STEP = 0.9
AUTO_BRACKET = 2  # EXIF ExposureMode
MANUAL_PROGRAM = 1  # EXIF ExposureProgram
# Two exposure settings are the same within this relative difference (a rational's rounding).
SAME_SETTING = 0.01

DETAIL_SIDE = 8  # where the detail is: DETAIL_SIDE × DETAIL_SIDE cells
LAYOUT_SIDE = 32  # the layout compared for shifts: LAYOUT_SIDE × LAYOUT_SIDE grey cells
_BAND = 3  # the layout loses its light falloff (a box mean of 2·_BAND+1 cells): skies match anything
_ALIGNED = 3  # cells of shift (about 10 %) still "unshifted": the jitter of a burst, focus breathing
_MIN_PAN = 0.15  # a panorama step moves the view by 15-70 % of the frame...
_MAX_PAN = 0.70
_MAX_DRIFT = 0.15  # ...and drifts less than this across the other axis
# One scene for a bracket: the unshifted layouts correlate at least this much. Clipping at ±2 EV
# lowers it to 0.38 on the photos of ../shared/data; different scenes shot seconds apart reached 0.21.
BRACKET_SCENE = 0.3
# Near-identical framing for a stack (generated stacks: 0.99-1.0; burst frames: 0.42-0.99).
STACK_FRAMING = 0.7
# A stack's frames each have at least _STACK_CELLS cells this many times sharper than the other
# frame; the sharpness of a cell is its Laplacian energy over its gradient energy, so how much of
# an edge falls in a cell does not count, only how crisp it is. Burst frames (jitter, blur, other
# exposure) reached 3.4 (ln 1.21) over 510 pairs; stacks blurred 2.5 px outside the sharp band 2.7-9.
STACK_SHARPER = 4.0
_STACK_CELLS = 3
_FLAT = 1e-4  # a cell with less gradient energy than this (grey in [0, 1]) has no detail to judge
# A panorama step: the shifted layouts correlate at least this much (generated: 0.92-0.98), and
# this much better than unshifted (generated: 0.6-0.9). Bursts and scene changes reached 0.61 / 0.48.
PANORAMA_MATCH = 0.75
PANORAMA_GAIN = 0.3

CLUES_VERSION = 1  # of what set_clues computes: the cache keeps clues of this version only
_CLUES_LENGTH = 2 * DETAIL_SIDE * DETAIL_SIDE * 2 + LAYOUT_SIDE * LAYOUT_SIDE  # bytes of features_bytes


@dataclass(frozen=True)
class SetClues:
    """What set detection compares for one photo: its EXIF exposure, where its detail is and how
    crisp (``detail``: 2 × 8 × 8, the log of the Laplacian and of the gradient energy of each
    cell), and its layout of light and dark (``layout``: 32 × 32 grey in [0, 1])."""

    exposure: Exposure
    detail: np.ndarray
    layout: np.ndarray


def _cell_means(grey: np.ndarray, side: int) -> np.ndarray:
    height, width = grey.shape
    if height < side or width < side:  # a tiny photo: repeat its pixels so that no cell is empty
        grey = grey.repeat(-(-side // height), axis=0).repeat(-(-side // width), axis=1)
        height, width = grey.shape
    rows, columns = np.arange(side) * height // side, np.arange(side) * width // side
    sums = np.add.reduceat(np.add.reduceat(grey, rows, axis=0, dtype=np.float64), columns, axis=1)
    return sums / np.outer(np.diff(rows, append=height), np.diff(columns, append=width))


def set_clues(pixels: np.ndarray, exposure: Exposure) -> SetClues:
    """The clues of a photo from the pixels the model gets (3×H×W in [0, 1]) and its EXIF exposure.

    A few milliseconds at the working size: two differences and two cell sums over the pixels.
    """
    rgb = np.asarray(pixels, dtype=np.float32)
    grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    if min(grey.shape) < 3:
        grey = np.pad(grey, 1, mode="edge")
    centre = grey[1:-1, 1:-1]
    laplacian = 4 * centre - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    across, down = grey[1:-1, 2:] - grey[1:-1, :-2], grey[2:, 1:-1] - grey[:-2, 1:-1]
    energies = np.stack([_cell_means(laplacian * laplacian, DETAIL_SIDE), _cell_means(across * across + down * down, DETAIL_SIDE)])
    detail = np.log(energies + 1e-12).astype(np.float32)
    return SetClues(exposure, detail, _cell_means(grey, LAYOUT_SIDE).astype(np.float32))


def features_bytes(clues: SetClues) -> bytes:
    """The pixel clues as the cache keeps them: the detail in half precision, the layout in bytes (1.3 kB)."""
    layout = np.clip(np.round(clues.layout * 255.0), 0, 255).astype(np.uint8)
    return clues.detail.astype("<f2").tobytes() + layout.tobytes()


def clues_from_bytes(blob: bytes, exposure: Exposure) -> SetClues | None:
    """None for a blob of another length (written by another version): the photo is decoded again."""
    if len(blob) != _CLUES_LENGTH:
        return None
    split = 2 * DETAIL_SIDE * DETAIL_SIDE * 2
    detail = np.frombuffer(blob[:split], dtype="<f2").astype(np.float32).reshape(2, DETAIL_SIDE, DETAIL_SIDE)
    layout = np.frombuffer(blob[split:], dtype=np.uint8).astype(np.float32).reshape(LAYOUT_SIDE, LAYOUT_SIDE) / 255.0
    return SetClues(exposure, detail, layout)


# ---------------------------------------------------------------- comparing two frames


def _band(layout: np.ndarray) -> np.ndarray:
    """The layout less its local mean: edges and shapes, not the light's slow falloff."""
    padded = np.pad(layout.astype(np.float64), _BAND, mode="edge")
    summed = np.pad(padded, ((1, 0), (1, 0))).cumsum(axis=0).cumsum(axis=1)
    k = 2 * _BAND + 1
    box = (summed[k:, k:] - summed[:-k, k:] - summed[k:, :-k] + summed[:-k, :-k]) / (k * k)
    return layout - box


def _shift_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``a[y+dy, x+dx]`` with ``b[y, x]`` over their overlap, for every
    shift: entry ``[dy % 2H, dx % 2W]``. Six FFTs of the zero-padded layouts give all shifts at once."""
    height, width = a.shape
    shape = (2 * height, 2 * width)
    ones = np.ones_like(a)

    def spectrum(values: np.ndarray) -> np.ndarray:
        return np.fft.rfft2(values, shape)

    def correlate(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return np.fft.irfft2(first * np.conj(second), shape)

    fa, fa2, fone, fb, fb2 = spectrum(a), spectrum(a * a), spectrum(ones), spectrum(b), spectrum(b * b)
    count = np.maximum(np.round(correlate(fone, fone)), 1.0)
    sum_a, sum_b = correlate(fa, fone), correlate(fone, fb)
    var_a = correlate(fa2, fone) - sum_a * sum_a / count
    var_b = correlate(fone, fb2) - sum_b * sum_b / count
    covariance = correlate(fa, fb) - sum_a * sum_b / count
    with np.errstate(invalid="ignore", divide="ignore"):
        result = covariance / np.sqrt(np.maximum(var_a, 0) * np.maximum(var_b, 0))
    return np.where((var_a > 1e-9) & (var_b > 1e-9), result, -1.0)


def _shift_masks(side: int) -> tuple[np.ndarray, np.ndarray]:
    """Which entries of :func:`_shift_correlations` are "unshifted", and which a panorama step."""
    offsets = np.fft.fftfreq(2 * side, 1 / (2 * side)).astype(int)  # 0, 1, ..., -1
    dy, dx = np.abs(offsets)[:, None], np.abs(offsets)[None, :]
    aligned = (dy <= _ALIGNED) & (dx <= _ALIGNED)
    along = lambda main, cross: (main >= _MIN_PAN * side) & (main <= _MAX_PAN * side) & (cross <= _MAX_DRIFT * side)  # noqa: E731
    return aligned, along(dx, dy) | along(dy, dx)


_ALIGNED_MASK, _PAN_MASK = _shift_masks(LAYOUT_SIDE)


@dataclass(frozen=True)
class _Match:
    aligned: float  # the best correlation within a few cells of no shift
    shifted: float  # the best correlation at a panorama step


def _match(a: SetClues, b: SetClues) -> _Match:
    correlations = _shift_correlations(_band(a.layout), _band(b.layout))
    return _Match(float(correlations[_ALIGNED_MASK].max()), float(correlations[_PAN_MASK].max()))


def _exposure_value(exposure: Exposure) -> float | None:
    """log2 of the light the settings let in (more time, wider aperture, higher ISO: more)."""
    if not (exposure.time and exposure.f_number and exposure.iso) or min(exposure.time, exposure.f_number, exposure.iso) <= 0:
        return None
    return math.log2(exposure.time * exposure.iso / exposure.f_number**2)


def _alike(first: float | None, second: float | None) -> bool:
    return first is not None and second is not None and abs(first - second) <= SAME_SETTING * max(abs(first), abs(second), 1e-9)


def _same_settings(a: Exposure, b: Exposure) -> bool:
    """Exposure time, aperture, ISO and focal length all known and the same, and no change of compensation."""
    settings = all(_alike(getattr(a, name), getattr(b, name)) for name in ("time", "f_number", "iso", "focal_length"))
    return settings and abs((a.bias or 0.0) - (b.bias or 0.0)) < BIAS_STEP


def _bracketed(a: Exposure, b: Exposure) -> str | None:
    """"camera" when the camera says both frames are of an auto bracket, "exposure" when their
    exposure differs as only a bracket's does seconds apart, else None."""
    if a.mode == AUTO_BRACKET and b.mode == AUTO_BRACKET:
        return "camera"
    if a.bias is not None and b.bias is not None and abs(a.bias - b.bias) >= BIAS_STEP:
        return "exposure"
    ev_a, ev_b = _exposure_value(a), _exposure_value(b)
    if a.program == b.program == MANUAL_PROGRAM and ev_a is not None and ev_b is not None and abs(ev_a - ev_b) >= MANUAL_EV_STEP:
        return "exposure"
    return None


def _focus_moved(a: np.ndarray, b: np.ndarray) -> bool:
    """Each frame has :data:`_STACK_CELLS` cells at least :data:`STACK_SHARPER` times crisper than the other's."""
    busy = (a[1] > math.log(_FLAT)) & (b[1] > math.log(_FLAT))
    sharper = np.where(busy, (a[0] - a[1]) - (b[0] - b[1]), 0.0).ravel()
    threshold = math.log(STACK_SHARPER)
    return int((sharper >= threshold).sum()) >= _STACK_CELLS and int((sharper <= -threshold).sum()) >= _STACK_CELLS


# Two frames at the same settings and framing, with no sign of a set between them: such a link
# only extends a set found through another link (a stack frame focused on a part with no detail,
# a sky, shows no change of focus; leaving it out would cull part of the stack).
_ALIKE = "alike"


def _link(a: SetClues, b: SetClues) -> str | None:
    """How two frames shot seconds apart belong to one set ("bracket", "stack", "panorama"),
    whether they could extend one (:data:`_ALIKE`), or None."""
    bracketed = _bracketed(a.exposure, b.exposure)
    if bracketed == "camera":
        return "bracket"
    if bracketed is not None:
        return "bracket" if _match(a, b).aligned >= BRACKET_SCENE else None
    if not _same_settings(a.exposure, b.exposure):
        return None
    match = _match(a, b)
    if match.aligned >= STACK_FRAMING and _focus_moved(a.detail, b.detail):
        return "stack"
    if match.shifted >= PANORAMA_MATCH and match.shifted - match.aligned >= PANORAMA_GAIN:
        return "panorama"
    return _ALIKE if match.aligned >= STACK_FRAMING else None


# ---------------------------------------------------------------- sets of a library


@dataclass(frozen=True)
class _Frame:
    index: int
    time: float
    path: str


def _runs(frames: list[_Frame], records: Sequence[ScoreRecord], window: float) -> list[tuple[str, list[_Frame]]]:
    """Maximal chains of linked consecutive frames that hold at least one link of a set kind
    (a chain of alike frames alone is a burst), each with its kind: the most frequent such link."""
    runs: list[tuple[str, list[_Frame]]] = []
    members, kinds = [frames[0]], Counter[str]()
    for previous, frame in zip(frames, frames[1:]):
        clues_a, clues_b = records[previous.index].clues, records[frame.index].clues
        assert clues_a is not None and clues_b is not None
        kind = _link(clues_a, clues_b) if frame.time - previous.time <= window else None
        if kind is not None:
            members.append(frame)
            kinds[kind] += 1
            continue
        _close(members, kinds, runs)
        members, kinds = [frame], Counter()
    _close(members, kinds, runs)
    return runs


def _close(members: list[_Frame], kinds: Counter[str], runs: list[tuple[str, list[_Frame]]]) -> None:
    if any(kinds[kind] for kind in SET_KINDS):
        runs.append((max(SET_KINDS, key=lambda kind: (kinds[kind], -SET_KINDS.index(kind))), members))


def mark_sets(records: Sequence[ScoreRecord], window: float = SET_WINDOW) -> list[ScoreRecord]:
    """The records, in their order, with ``set_kind`` and ``set_id`` filled for the frames of a set.

    Frames are compared only with the next frame of the same folder and camera: an export or a
    copy elsewhere does not break a set apart, and neither does a second camera. Records without
    clues (failed, or scored without ``signatures``) are in no set; the RAW file of a RAW+JPEG pair
    is in its JPEG's.
    """
    paths = {record.path for record in records if record.ok}
    followers = {index for index, record in enumerate(records) if record.ok and record.pair in paths and is_raw(record.path)}
    sequences: dict[tuple[Path, str | None], list[_Frame]] = {}
    for index, record in enumerate(records):
        if not record.ok or index in followers or record.clues is None:
            continue
        time = capture_time(record.taken, record.mtime_ns)
        if time is not None:
            sequences.setdefault((record.path.parent, record.camera), []).append(_Frame(index, time, str(record.path)))
    found: list[tuple[str, list[_Frame]]] = []
    for frames in sequences.values():
        frames.sort(key=lambda frame: (frame.time, frame.path))
        found.extend(_runs(frames, records, window))
    found.sort(key=lambda run: (run[1][0].time, run[1][0].path))
    placed: dict[Path, tuple[str, str]] = {}
    seen: set[str] = set()
    for kind, members in found:
        set_id = stable_id("s", records[members[0].index], seen)  # named as group ids are
        for frame in members:
            placed[records[frame.index].path] = (kind, set_id)
    marked = []
    for index, record in enumerate(records):
        place = placed.get(record.pair if index in followers else record.path)  # type: ignore[arg-type]
        marked.append(replace(record, set_kind=place[0], set_id=place[1]) if place else record)
    return marked
