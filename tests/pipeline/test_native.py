"""The native readings of the decode's larger image (aescull.pipeline.native) and decode(native=True)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import ImageFilter

from aescull.pipeline import native
from aescull.pipeline.decode import decode, decode_bytes
from tests.support.scenes import edges
from training import degrade


def test_sharpness_follows_the_checks_scale() -> None:
    """A perfect step reads about 1 and an edge blurred by sigma px about 1 / sqrt(1 + sigma^2)."""
    assert native.read(edges(), (512, 320)).sharpness > 0.9
    for sigma in (1.0, 2.0, 3.0):
        blurred = native.read(edges().filter(ImageFilter.GaussianBlur(sigma)), (512, 320))
        assert abs(blurred.sharpness - 1 / np.sqrt(1 + sigma**2)) < 0.12, (sigma, blurred)


def test_a_sharp_subject_on_a_soft_background_reads_sharp_and_a_missed_focus_does_not() -> None:
    image = edges()
    bokeh = native.read(degrade.FOCUS_COPIES["bokeh"](image), (512, 320))
    missed = native.read(degrade.FOCUS_COPIES["missed"](image), (512, 320))
    assert bokeh.sharpness > 0.8 > 0.5 > missed.sharpness


def test_noise_and_blockiness_read_what_they_say() -> None:
    image = edges()
    clean = native.read(image, (512, 320))
    noisy = native.read(degrade.gaussian_noise(image, 8.0), (512, 320))
    assert clean.noise < 1.0 and 5.0 < noisy.noise < 12.0  # luminance noise of sigma-8 RGB noise, ~0.67 x 8
    assert clean.blockiness < 1.35 and native.read(degrade.pixelate(image, 4), (512, 320)).blockiness > 1.8


def test_the_scale_is_one_where_the_image_is_no_larger_than_the_working_size() -> None:
    image = edges(512, 320)
    assert native.read(image, image.size).scale == 1.0
    assert native.read(edges(), (512, 320)).scale == 2.0


def test_a_huge_image_is_read_at_two_to_four_working_sizes_whatever_its_format(tmp_path: Path) -> None:
    """A PNG is decoded whole; it is box-reduced before the readings, so they match the JPEG draft's."""
    image = edges(2048, 1280)
    image.save(tmp_path / "a.png")
    image.save(tmp_path / "a.jpg", quality=95)
    png, jpeg = decode(tmp_path / "a.png", 256, native=True).native, decode(tmp_path / "a.jpg", 256, native=True).native
    assert png is not None and jpeg is not None
    assert 2.0 <= png.scale < 4.0 and 2.0 <= jpeg.scale < 4.0
    assert abs(png.sharpness - jpeg.sharpness) < 0.15


def test_decode_reads_only_when_asked_and_never_changes_the_pixels(tmp_path: Path) -> None:
    edges(1600, 1000).save(tmp_path / "p.jpg", quality=90)
    plain, read = decode(tmp_path / "p.jpg", 512), decode(tmp_path / "p.jpg", 512, native=True)
    assert plain.native is None and read.native is not None
    assert torch.equal(plain.pixels, read.pixels)
    from_bytes = decode_bytes((tmp_path / "p.jpg").read_bytes(), tmp_path / "p.jpg", 512, native=True)
    assert from_bytes.native == read.native
