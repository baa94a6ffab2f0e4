"""The pixels a review shows: thumbnails, and 100 % crops centred where the photo is sharpest."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aescull.judge.checks import sharpest_region
from aescull.pipeline.decode import DecodeError, decode_upright
from aescull.review.catalog import Catalog
from aescull.review.images import Images, NotServed
from tests.support.images import fake_raw_with_preview, photo_pixels, save_oriented
from tests.support.reviewing import SHARP_BOX, SHARP_SIZE, records_for, sharp_patch_photo


def test_the_sharpest_region_is_the_one_crisp_patch_of_a_soft_frame(tmp_path: Path) -> None:
    box = sharpest_region(decode_upright(sharp_patch_photo(tmp_path / "sharp.jpg")))
    assert box is not None
    left, top, right, bottom = box
    assert SHARP_BOX[0] <= left and right <= SHARP_BOX[2] and SHARP_BOX[1] <= top and bottom <= SHARP_BOX[3]


def test_a_frame_without_edges_has_no_sharpest_region() -> None:
    assert sharpest_region(Image.new("RGB", (640, 480), (120, 130, 140))) is None


def test_the_upright_photo_is_the_native_pixels_turned_as_the_camera_said(tmp_path: Path) -> None:
    upright = Image.fromarray(photo_pixels(300, 200, seed=3))
    photo = save_oriented(tmp_path / "turned.jpg", upright, 6, quality=95)
    decoded = decode_upright(photo)
    assert decoded.size == (300, 200) and decoded.mode == "RGB"
    def difference(image: Image.Image) -> float:
        return float(np.abs(np.asarray(decoded, dtype=np.int16) - np.asarray(image, dtype=np.int16)).mean())

    assert difference(upright) < difference(upright.rotate(180)) / 3  # the picture as shot, JPEG noise aside
    raw = fake_raw_with_preview(tmp_path / "IMG.CR2", upright)
    assert decode_upright(raw).size == (300, 200)  # a RAW shows its camera preview
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    with pytest.raises(DecodeError):
        decode_upright(tmp_path / "broken.jpg")


@pytest.fixture()
def images(tmp_path: Path) -> tuple[Catalog, Images]:
    sharp_patch_photo(tmp_path / "sharp.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    catalog = Catalog(records_for(tmp_path), tmp_path)
    made = Images(tmp_path, 400, 2)
    yield catalog, made
    made.close()
    assert not made.spool.folder.exists()


def test_the_loupe_opens_on_the_sharp_patch_and_crops_native_pixels(images: tuple[Catalog, Images], tmp_path: Path) -> None:
    catalog, made = images
    shot = next(shot for shot in catalog.shots if shot.shown.path.name == "sharp.jpg")
    focus = made.focus(shot)
    assert (focus.width, focus.height) == SHARP_SIZE and focus.sharpest
    assert SHARP_BOX[0] < focus.x < SHARP_BOX[2] and SHARP_BOX[1] < focus.y < SHARP_BOX[3]
    crop = Image.open(io.BytesIO(made.crop(shot, focus.x - 100, focus.y - 50, 200, 100)))
    assert crop.size == (200, 100)  # one photo pixel per crop pixel: 100 %
    native = decode_upright(tmp_path / "sharp.jpg").crop((focus.x - 100, focus.y - 50, focus.x + 100, focus.y + 50))
    assert np.abs(np.asarray(crop, dtype=np.int16) - np.asarray(native, dtype=np.int16)).mean() < 3
    edge = Image.open(io.BytesIO(made.crop(shot, SHARP_SIZE[0] - 50, 0, 200, 100)))
    assert edge.size == (50, 100)  # cut at the photo's border, not padded
    thumbnail = Image.open(io.BytesIO(made.thumbnail(shot)))
    assert max(thumbnail.size) == 400 and made.thumbnail(shot) == made.thumbnail(shot)


def test_a_photo_that_cannot_be_decoded_has_no_pixels_to_show(images: tuple[Catalog, Images]) -> None:
    catalog, made = images
    broken = next(shot for shot in catalog.shots if shot.shown.path.name == "broken.jpg")
    for show in (made.thumbnail, made.focus, lambda shot: made.crop(shot, 0, 0, 10, 10)):
        with pytest.raises(NotServed):
            show(broken)
    sharp = next(shot for shot in catalog.shots if shot.shown.path.name == "sharp.jpg")
    with pytest.raises(NotServed):
        made.crop(sharp, 0, 0, 5000, 10)  # wider than any screen
