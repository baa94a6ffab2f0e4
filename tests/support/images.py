"""Photos made with Pillow for the tests: photo-like pixels, crisp scenes, EXIF orientations, fake RAWs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def photo_pixels(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB array: smooth gradients plus some texture, different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(x / (width / 3.0) + seed),
            128 + 100 * np.cos(y / (height / 2.0) + seed),
            255 * (x + y) / (width + height),
        ],
        axis=-1,
    )
    noise = rng.normal(0, 12, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def save_photo(path: Path, width: int = 120, height: int = 80, seed: int = 0, **save_args: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo_pixels(width, height, seed)).save(path, **save_args)
    return path


def sharp_scene(width: int = 512, height: int = 384, seed: int = 0) -> Image.Image:
    """A clean, well-exposed frame with crisp edges: overlapping flat rectangles over a soft
    gradient, highlights near white but never clipped, no noise. Every check passes on it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack([60 + 80 * x / width, 70 + 60 * y / height, np.full_like(x, 110.0)], axis=-1)
    for _ in range(40):
        w, h = int(rng.integers(width // 16, width // 4)), int(rng.integers(height // 16, height // 4))
        left, top = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        pixels[top : top + h, left : left + w] = rng.uniform(15, 240, size=3)
    return Image.fromarray(pixels.round().astype(np.uint8))


# The transpose that stores a photo so that applying EXIF orientation N shows it upright again.
STORE_FOR_ORIENTATION = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def save_oriented(path: Path, upright: Image.Image, orientation: int, **save_args: object) -> Path:
    method = STORE_FOR_ORIENTATION[orientation]
    stored = upright if method is None else upright.transpose(method)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, exif=exif.tobytes(), **save_args)
    return path


def fake_raw_with_preview(path: Path, preview: Image.Image, orientation: int = 1) -> Path:
    """A TIFF container (as CR2/NEF/ARW/DNG are) with the camera's JPEG preview inside."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    container = io.BytesIO()
    Image.new("L", (16, 16)).save(container, format="TIFF", exif=exif.tobytes())
    jpeg = io.BytesIO()
    preview.save(jpeg, format="JPEG", quality=95)
    thumbnail = io.BytesIO()
    preview.resize((16, 12)).save(thumbnail, format="JPEG")
    path.write_bytes(container.getvalue() + thumbnail.getvalue() + jpeg.getvalue() + b"\x00" * 32)
    return path


def mixed_library(root: Path) -> Path:
    """Photos of several formats, sizes and orientations, a RAW+JPEG pair, a lone RAW and bad files."""
    (root / "sub").mkdir(parents=True)
    save_photo(root / "a.jpg", 120, 80, seed=1, quality=90)
    save_photo(root / "b.png", 80, 120, seed=2)
    save_photo(root / "big.jpg", 700, 500, seed=3, quality=85)  # decoded in JPEG draft mode
    save_oriented(root / "sub" / "rotated.jpg", Image.fromarray(photo_pixels(144, 96, seed=4)), 6, quality=95)
    save_photo(root / "sub" / "c.webp", 100, 100, seed=5)
    preview = Image.fromarray(photo_pixels(120, 80, seed=6))
    fake_raw_with_preview(root / "sub" / "IMG_0002.ARW", preview)
    preview.save(root / "sub" / "IMG_0002.JPG", quality=95)
    fake_raw_with_preview(root / "sub" / "IMG_0003.NEF", Image.fromarray(photo_pixels(96, 72, seed=7)))
    save_photo(root / "icon.png", 20, 12, seed=8)  # too small to judge: an error row in every engine
    (root / "zero.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("not a photo")
    whole = (root / "a.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    return root
