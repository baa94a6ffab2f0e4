"""Small generated scenes and burst frames of them, with EXIF capture times, for the grouping tests."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SCENES = ("disc", "stripes", "corner", "blobs")
WIDTH, HEIGHT = 160, 120
START = datetime(2024, 6, 1, 9, 0, 0)


def scene_pixels(scene: str, width: int = WIDTH, height: int = HEIGHT, tint: tuple[float, float, float] = (1.0, 0.9, 0.8)) -> np.ndarray:
    """Clearly different layouts of light and dark (a texture on top, so JPEG has detail to keep)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / width, y / height
    if scene == "disc":
        light = 40 + 190 * (((u - 0.3) ** 2 + (v - 0.35) ** 2) < 0.05)
    elif scene == "stripes":
        light = 128 + 100 * np.sin(u * 4 * np.pi)
    elif scene == "corner":
        light = 30 + 200 * ((u > 0.55) & (v > 0.5)) + 40 * v
    elif scene == "blobs":
        light = 128 + 60 * np.cos(v * 3 * np.pi) * np.cos(u * 2 * np.pi + 1) + 50 * (u - 0.5)
    else:
        raise ValueError(scene)
    texture = np.random.default_rng(len(scene)).normal(0, 8, size=(height, width))
    return np.clip((light + texture)[..., None] * np.array(tint, dtype=np.float32), 0, 255).astype(np.uint8)


def landscape(seed: int) -> Image.Image:
    """A distinct scene of the kind an 8×8 thumbnail confuses: a horizon, somewhere between a
    third and two thirds up, and four dark objects around it. Most pairs of them are 0.5-0.9
    alike (none near-identical), so a loose grouping chains them all."""
    rng = np.random.default_rng(seed)
    y = np.mgrid[0:HEIGHT, 0:WIDTH][0].astype(np.float32)
    horizon = HEIGHT * rng.uniform(0.3, 0.7)
    sky = np.array([150, 170, 200]) * (1.1 - 0.4 * y / HEIGHT)[..., None]
    ground = np.array([90, 110, 60]) * (0.7 + 0.4 * (y - horizon) / HEIGHT)[..., None]
    pixels = np.where((y < horizon)[..., None], sky, ground) + rng.normal(0, 6, size=(HEIGHT, WIDTH, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, centre, radius, shade = rng.uniform(0, WIDTH), rng.uniform(horizon - 20, horizon + 10), rng.uniform(8, 25), int(rng.uniform(30, 90))
        draw.ellipse((x - radius, centre - radius, x + radius, centre + radius), fill=(shade, shade + 10, shade - 10))
    return image


def burst_frame(scene: str, shift: int = 0, gain: float = 1.0, blur: float = 0.0, tint: tuple[float, float, float] = (1.0, 0.9, 0.8)) -> Image.Image:
    """One frame: the scene moved by ``shift`` pixels, exposed ``gain`` times brighter, blurred."""
    big = Image.fromarray(scene_pixels(scene, WIDTH + 16, HEIGHT + 16, tint))
    frame = big.crop((8 + shift, 8 + shift // 2, 8 + shift + WIDTH, 8 + shift // 2 + HEIGHT))
    if gain != 1.0:
        frame = Image.fromarray(np.clip(np.asarray(frame, dtype=np.float32) * gain, 0, 255).astype(np.uint8))
    return frame.filter(ImageFilter.GaussianBlur(blur)) if blur else frame


def exif_for(taken: datetime) -> bytes:
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    sub[0x9291] = f"{taken.microsecond // 1000:03d}"
    return exif.tobytes()


def save_frame(path: Path, image: Image.Image, seconds: float | None, mtime_seconds: float | None = None) -> Path:
    """A JPEG taken ``seconds`` after START (EXIF with milliseconds), or without EXIF when None;
    its file time is the capture time, or ``mtime_seconds`` after START."""
    path.parent.mkdir(parents=True, exist_ok=True)
    taken = START + timedelta(seconds=seconds or 0.0)
    image.save(path, "JPEG", quality=92, **({} if seconds is None else {"exif": exif_for(taken)}))
    file_time = START + timedelta(seconds=mtime_seconds if mtime_seconds is not None else seconds or 0.0)
    stamp = int(file_time.timestamp() * 1_000_000_000)
    os.utime(path, ns=(stamp, stamp))
    return path


def make_shoot(root: Path) -> Path:
    """A shoot: a 3-frame burst of the disc (one sharp frame), the stripes 1 s later (a new
    scene within the burst window), the disc reframed two minutes later (alike, but no
    duplicate), and an export of the disc without EXIF, dated a day later."""
    save_frame(root / "IMG_0001.jpg", burst_frame("disc", 0, blur=2.0), 0.0)
    save_frame(root / "IMG_0002.jpg", burst_frame("disc", 3), 0.25)
    save_frame(root / "IMG_0003.jpg", burst_frame("disc", 5, gain=1.2, blur=2.0), 0.5)
    save_frame(root / "IMG_0004.jpg", burst_frame("stripes", 0), 1.5)
    save_frame(root / "IMG_0005.jpg", burst_frame("stripes", 2, blur=1.5), 1.75)
    save_frame(root / "IMG_0006.jpg", burst_frame("disc", 12), 120.0)
    save_frame(root / "export" / "disc.jpg", burst_frame("disc", 3), None, mtime_seconds=86_400.0)
    return root
