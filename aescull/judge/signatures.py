"""What a photo looks like, in 144 bytes: the layout of light and dark, and its colour.

Computed from the pixels the model already gets (3×H×W in [0, 1], any size), so grouping needs
no second decode and works with any model; compared by :func:`similarity_of`.
"""

from __future__ import annotations

import numpy as np

SIGNATURE_SIDE = 8  # the light-and-dark layout: SIGNATURE_SIDE × SIGNATURE_SIDE cells
COLOUR_SIDE = 2  # the colour: red and green shares in each of COLOUR_SIDE × COLOUR_SIDE cells
LAYOUT_LENGTH = SIGNATURE_SIDE * SIGNATURE_SIDE
_LENGTH = LAYOUT_LENGTH + 2 * COLOUR_SIDE * COLOUR_SIDE
# A thumbnail whose brightness varies less than this (standard deviation, pixels in [0, 1]) is
# "flat": its layout is mostly noise, so it is made to look less like everything, never more.
MIN_CONTRAST = 0.02
# Similarity lost per unit of mean colour difference. Measured on the synthetic bursts of
# evaluation.groups_eval (seeds 0-2): burst frames differ by about 0.01 (exposure and blur barely
# move a colour share), while two landscapes with the same bright-sky-over-field layout
# (correlation up to 0.79) differ by 0.03-0.05 (grey sky and green grass against blue sky and
# yellow grass), and a grey lamp and a green leaf by far more.
COLOUR_WEIGHT = 6.0


def _cell_sums(rgb: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel pixel sums over side × side cells (3 × side × side), and each cell's pixel count.

    One pass over the pixels (two ``reduceat``), so a signature costs about a millisecond.
    """
    _, height, width = rgb.shape
    if height < side or width < side:  # a tiny photo: repeat its pixels so that no cell is empty
        rgb = rgb.repeat(-(-side // height), axis=1).repeat(-(-side // width), axis=2)
        _, height, width = rgb.shape
    rows, columns = np.arange(side) * height // side, np.arange(side) * width // side
    sums = np.add.reduceat(np.add.reduceat(rgb, rows, axis=1, dtype=np.float64), columns, axis=2)
    return sums, np.outer(np.diff(rows, append=height), np.diff(columns, append=width))


def signature(pixels: np.ndarray) -> np.ndarray:
    """The photo's layout of light and dark on an 8×8 grid (minus its mean, scaled to unit
    length), then its colour: the red and green shares of R+G+B in each quarter of the frame.

    Computed from the pixels the model already gets (3×H×W in [0, 1], any size), so grouping
    needs no second decode and works with any model. See :func:`similarity_of`.
    """
    sums, counts = _cell_sums(np.asarray(pixels), SIGNATURE_SIDE)
    means = sums / counts
    thumbnail = 0.299 * means[0] + 0.587 * means[1] + 0.114 * means[2]
    centred = (thumbnail - thumbnail.mean()).ravel()
    layout = centred / max(float(np.linalg.norm(centred)), MIN_CONTRAST * SIGNATURE_SIDE)
    step = SIGNATURE_SIDE // COLOUR_SIDE
    colour = sums.reshape(3, COLOUR_SIDE, step, COLOUR_SIDE, step).sum(axis=(2, 4))
    shares = colour[:2] / np.maximum(colour.sum(axis=0), 1e-9)
    return np.concatenate([layout, shares.ravel()]).astype(np.float32)


def similarity_of(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Correlation of the two layouts, minus ``COLOUR_WEIGHT`` times their mean colour difference.

    The correlation is blind to a change of exposure (gain and offset), to blur and to the
    shifts and crops of a few percent between burst frames, yet low for most other scenes;
    colour shares survive exposure changes too, and tell apart scenes whose light and dark
    happen to fall alike. From -1 (nothing alike, or a signature missing) to 1.
    """
    if a is None or b is None:
        return -1.0
    return float(similarities(a, b[None])[0])


def similarities(one: np.ndarray, others: np.ndarray) -> np.ndarray:
    """:func:`similarity_of` between ``one`` and every row of ``others``, in one pass: grouping
    compares each photo with every photo of a group."""
    layouts = others[:, :LAYOUT_LENGTH] @ one[:LAYOUT_LENGTH]
    colours = np.abs(others[:, LAYOUT_LENGTH:] - one[LAYOUT_LENGTH:]).mean(axis=1)
    return np.maximum(layouts - COLOUR_WEIGHT * colours, -1.0)


def signature_bytes(vector: np.ndarray) -> bytes:
    """Half precision is plenty for a correlation and keeps a cached signature at 144 bytes."""
    return vector.astype("<f2").tobytes()


def signature_from_bytes(blob: bytes) -> np.ndarray | None:
    """None for a blob of another length (written by an older version): the photo is decoded again."""
    vector = np.frombuffer(blob, dtype="<f2")
    return vector.astype(np.float32) if vector.size == _LENGTH else None
