from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from aescull.pipeline import decode as decode_module
from aescull.pipeline.decode import MIN_SHORT_SIDE, DecodeError, decode, working_size
from tests.support.models import REPO
from tests.support.images import fake_raw_with_preview, save_oriented
from tests.support.images import photo_pixels, save_photo

@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_before_scaling(tmp_path: Path, orientation: int) -> None:
    upright = Image.fromarray(photo_pixels(150, 100))
    path = save_oriented(tmp_path / f"o{orientation}.png", upright, orientation)
    photo = decode(path, max_side=120)
    assert (photo.info.width, photo.info.height) == (150, 100)
    expected = decode(save_oriented(tmp_path / "ref.png", upright, 1), max_side=120)
    assert photo.pixels.shape == (3, 80, 120)
    assert np.array_equal(photo.pixels, expected.pixels)


@pytest.mark.parametrize("orientation", range(2, 9))
def test_jpeg_orientation_shows_the_photo_upright(tmp_path: Path, orientation: int) -> None:
    upright = Image.fromarray(photo_pixels(144, 96, seed=2))
    reference = decode(save_oriented(tmp_path / "o1.jpg", upright, 1, quality=95), max_side=108).pixels
    photo = decode(save_oriented(tmp_path / "o.jpg", upright, orientation, quality=95), max_side=108)
    assert (photo.info.width, photo.info.height) == (144, 96)
    assert photo.pixels.shape == reference.shape == (3, 72, 108)
    assert float(np.abs(photo.pixels - reference).mean()) < 0.01  # only JPEG rounding differs


@pytest.mark.parametrize(("width", "height"), [(100, 400), (200, 400), (400, 400), (400, 200), (400, 100), (3, 400)])
def test_aspect_ratio_is_kept_and_never_upscaled(tmp_path: Path, width: int, height: int) -> None:
    """The longest side goes to max_side, unless the short side would then be too thin to judge:
    it keeps MIN_SHORT_SIDE (as far as the photo has pixels), the aspect ratio kept either way."""
    path = save_photo(tmp_path / "a.png", width, height)
    photo = decode(path, max_side=128)
    shown = photo.pixels.shape[2], photo.pixels.shape[1]
    assert shown == working_size(width, height, 128, MIN_SHORT_SIDE)
    assert abs(shown[0] / shown[1] - width / height) < 0.05 * width / height + 0.34 and max(shown) <= max(width, height)
    assert max(shown) == 128 or min(shown) == min(MIN_SHORT_SIDE, width, height)
    assert tuple(decode(path, max_side=1000).pixels.shape) == (3, height, width)
    assert tuple(decode(path, max_side=0).pixels.shape) == (3, height, width)


def test_a_panorama_keeps_its_shape_and_enough_pixels_across_to_be_judged(tmp_path: Path) -> None:
    photo = decode(save_photo(tmp_path / "pano.jpg", 6000, 400, quality=90), max_side=512)
    assert tuple(photo.pixels.shape) == (3, 65, 975)  # 512 x 34 would leave the network one row of cells


def test_tiny_image_is_decoded_at_its_own_size(tmp_path: Path) -> None:
    photo = decode(save_photo(tmp_path / "tiny.png", 8, 8), max_side=512)
    assert tuple(photo.pixels.shape) == (3, 8, 8)


def test_large_jpeg_uses_draft_mode_and_reports_full_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (8000, 6000), (90, 140, 200)).save(path, quality=80)
    drafted: list[tuple[int, int]] = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: Image.Image, mode: str, size: tuple[int, int]) -> object:
        result = real_draft(self, mode, size)
        drafted.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    photo = decode(path, max_side=512)
    assert (photo.info.width, photo.info.height) == (8000, 6000)
    assert tuple(photo.pixels.shape) == (3, 384, 512)
    assert drafted == [(2000, 1500)]  # libjpeg decoded at 1/4 scale (twice 512 px), never the full 48 MP


@pytest.mark.parametrize(
    ("mode", "maker"),
    [
        ("L", lambda: Image.fromarray(photo_pixels(64, 48)).convert("L")),
        ("RGBA", lambda: Image.fromarray(photo_pixels(64, 48)).convert("RGBA")),
        ("CMYK", lambda: Image.fromarray(photo_pixels(64, 48)).convert("CMYK")),
        ("P", lambda: Image.fromarray(photo_pixels(64, 48)).convert("P")),
    ],
)
def test_colour_modes_become_rgb(tmp_path: Path, mode: str, maker: object) -> None:
    image = maker()  # type: ignore[operator]
    suffix = ".jpg" if mode == "CMYK" else ".png"
    path = tmp_path / f"m{suffix}"
    image.save(path)
    assert Image.open(path).mode == mode
    photo = decode(path, max_side=512)
    reference = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    assert tuple(photo.pixels.shape) == (3, 48, 64)
    tolerance = 0.05 if mode == "CMYK" else 1e-6  # CMYK: JPEG compression only
    assert np.abs(photo.pixels.transpose(1, 2, 0) - reference).mean() < tolerance


def test_transparency_is_composited_over_mid_grey(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    rgba.save(tmp_path / "t.png")
    palette = rgba.convert("RGB").convert("P")
    palette.info["transparency"] = palette.getpixel((5, 5))
    palette.save(tmp_path / "p.png", transparency=palette.getpixel((5, 5)))
    for name in ("t.png", "p.png"):
        pixels = decode(tmp_path / name, max_side=0).pixels
        assert pixels[:, 5, 5].tolist() == pytest.approx([128 / 255] * 3)
        assert pixels[:, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0]) or name == "p.png"


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64 * 32).reshape(32, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    pixels = decode(tmp_path / "g16.png", max_side=0).pixels
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, -1] == 1.0
    assert 0.45 < float(pixels[0, 16, 0]) < 0.55  # mid-ramp is mid-grey, not white


def test_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (20, 10), colour) for colour in ((0, 0, 255), (255, 255, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    pixels = decode(tmp_path / "anim.gif", max_side=0).pixels
    assert pixels[:, 5, 5].tolist() == pytest.approx([0.0, 0.0, 1.0], abs=0.02)


@pytest.mark.parametrize("suffix", [".tif", ".webp", ".bmp"])
def test_other_formats(tmp_path: Path, suffix: str) -> None:
    photo = decode(save_photo(tmp_path / f"x{suffix}", 40, 30), max_side=0)
    assert tuple(photo.pixels.shape) == (3, 30, 40)


def test_exif_time_and_camera(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    exif.get_ifd(0x8769)[0x9003] = "2023:05:01 14:03:22"
    exif.get_ifd(0x8769)[0x9011] = "+02:00"
    path = save_photo(tmp_path / "e.jpg", exif=exif.tobytes())
    info = decode(path, max_side=64).info
    assert (info.taken, info.camera) == ("2023-05-01T14:03:22+02:00", "Canon EOS R5")


def test_heic_with_orientation(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    upright = Image.fromarray(photo_pixels(64, 32))
    path = save_oriented(tmp_path / "h.heic", upright, 6, quality=-1)
    photo = decode(path, max_side=0)
    assert (photo.info.width, photo.info.height) == (64, 32)
    assert tuple(photo.pixels.shape) == (3, 32, 64)


def test_heic_without_pillow_heif_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "h.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)
    with pytest.raises(DecodeError, match=r"pip install 'aescull\[heif\]'"):
        decode(path, max_side=64)


def test_raw_is_scored_through_its_largest_embedded_preview(tmp_path: Path) -> None:
    preview = Image.fromarray(photo_pixels(160, 120))
    path = fake_raw_with_preview(tmp_path / "IMG_0001.NEF", preview, orientation=8)
    photo = decode(path, max_side=0)
    assert (photo.info.width, photo.info.height) == (120, 160)
    assert tuple(photo.pixels.shape) == (3, 160, 120)


def test_raw_without_preview_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.CR2"
    path.write_bytes(b"II*\x00" + b"\x01" * 500)
    with pytest.raises(DecodeError, match="no embedded preview"):
        decode(path, max_side=64)


def bomb_png(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(("width", "height"), [(30000, 30000), (16000, 14000)])
def test_decompression_bomb_is_a_clear_error(tmp_path: Path, width: int, height: int) -> None:
    with pytest.raises(DecodeError, match="image too large"):
        decode(bomb_png(tmp_path / "bomb.png", width, height), max_side=64)


def test_bad_files_raise_one_line_reasons(tmp_path: Path) -> None:
    good = save_photo(tmp_path / "good.jpg", 200, 150)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("hello, not a photo\n")
    expected = {
        truncated: "truncated",
        empty: "empty file",
        text: "not an image",
        tmp_path / "gone.jpg": "file not found",
    }
    for path, reason in expected.items():
        with pytest.raises(DecodeError, match=reason) as caught:
            decode(path, max_side=64)
        assert "\n" not in str(caught.value)


def test_permission_denied_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_photo(tmp_path / "locked.jpg")

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(decode_module, "read_exif", deny)
    with pytest.raises(DecodeError, match="permission denied"):
        decode(path, max_side=64)


def test_fifo_named_like_a_photo_does_not_block(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(DecodeError, match="not a regular file"):
        decode(tmp_path / "pipe.jpg", max_side=64)


def test_exif_less_png_prints_nothing_on_stderr(tmp_path: Path) -> None:
    """exifread's 'PNG file does not have exif data' must not reach the terminal once per file."""
    import subprocess

    path = save_photo(tmp_path / "plain.png")
    code = f"from pathlib import Path; from aescull.pipeline.decode import decode; decode(Path({str(path)!r}), 64)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0
    assert result.stderr == ""
