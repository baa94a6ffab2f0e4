"""Generated exposure brackets, focus stacks, panoramas and steady bursts, with the EXIF a camera
writes (capture time with milliseconds, exposure settings), for the set tests."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from PIL.TiffImagePlugin import IFDRational

from tests.support.bursts import START
from tests.support.images import sharp_scene
from training import degrade

WIDTH, HEIGHT = 480, 320
# One camera's manual settings: 1/125 s, f/8, ISO 100, 35 mm.
SETTINGS = {"time": (1, 125), "f_number": (8, 1), "iso": 100, "focal_length": (35, 1)}


def camera_exif(seconds: float, bias: float = 0.0, mode: int = 0, **settings: object) -> bytes:
    """EXIF of a frame shot ``seconds`` after START: time with milliseconds, camera, exposure.

    ``settings`` overrides :data:`SETTINGS` (a pair is a rational); rationals are written as
    IFDRational, since Pillow writes a plain float as a rational exiftool reads as infinite.
    """
    taken = START + timedelta(seconds=seconds)
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R6"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    sub[0x9291] = f"{taken.microsecond // 1000:03d}"  # SubSecTimeOriginal
    sub[0x9204] = IFDRational(round(bias * 3), 3)  # ExposureBiasValue, in thirds of a stop
    sub[0xA402] = mode  # ExposureMode: 0 auto, 2 auto bracket
    sub[0x8822] = 1  # ExposureProgram: manual
    values = {**SETTINGS, **settings}
    for tag, name in ((0x829A, "time"), (0x829D, "f_number"), (0x920A, "focal_length")):
        numerator, denominator = values[name]  # type: ignore[misc]
        sub[tag] = IFDRational(numerator, denominator)
    sub[0x8827] = values["iso"]  # ISOSpeedRatings
    return exif.tobytes()


def save_shot(path: Path, image: Image.Image, seconds: float, **exposure: object) -> Path:
    """A camera JPEG shot ``seconds`` after START (its file time too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=92, exif=camera_exif(seconds, **exposure))  # type: ignore[arg-type]
    stamp = int((START + timedelta(seconds=seconds)).timestamp() * 1_000_000_000)
    os.utime(path, ns=(stamp, stamp))
    return path


def scene(seed: int = 3, width: int = WIDTH) -> Image.Image:
    return sharp_scene(width, HEIGHT, seed=seed)


def save_bracket(folder: Path, start: float = 0.0, stops: tuple[float, ...] = (-2.0, 0.0, 2.0), seed: int = 3) -> list[Path]:
    """An auto-exposure bracket: one scene at each of ``stops``, 0.1 s apart, ExposureBiasValue set."""
    base = scene(seed)
    return [
        save_shot(folder / f"BRK_{index + 1:04d}.jpg", degrade.exposure(base, stop), start + 0.1 * index, bias=stop)
        for index, stop in enumerate(stops)
    ]


def save_focus_stack(folder: Path, start: float = 0.0, frames: int = 3, seed: int = 5, sky: bool = False) -> list[Path]:
    """A focus stack: one framing and exposure, the sharp band moving down the frame, the rest out
    of focus. With ``sky`` the top band is a plain sky, so the frame focused there looks no sharper."""
    sharp = scene(seed)
    band = HEIGHT // frames
    if sky:
        sharp.paste(Image.linear_gradient("L").resize((WIDTH, band)).convert("RGB"), (0, 0))
    soft = sharp.filter(ImageFilter.GaussianBlur(4))
    paths = []
    for index in range(frames):
        frame = soft.copy()
        frame.paste(sharp.crop((0, index * band, WIDTH, (index + 1) * band)), (0, index * band))
        paths.append(save_shot(folder / f"STK_{index + 1:04d}.jpg", frame, start + 0.4 * index))
    return paths


def save_panorama(folder: Path, start: float = 0.0, frames: int = 3, step: float = 0.4, seed: int = 7) -> list[Path]:
    """A panorama: crops of one wide scene, each ``step`` of a frame further right, 1.5 s apart."""
    shift = round(WIDTH * step)
    wide = scene(seed, width=WIDTH + shift * (frames - 1))
    return [
        save_shot(folder / f"PAN_{index + 1:04d}.jpg", wide.crop((index * shift, 0, index * shift + WIDTH, HEIGHT)), start + 1.5 * index)
        for index in range(frames)
    ]


def save_steady_burst(folder: Path, start: float = 0.0, frames: int = 5, seed: int = 11, name: str = "BST") -> list[Path]:
    """An ordinary burst at fixed settings: the camera shakes by a few percent, every frame but
    the middle one is slightly blurred and some exposed differently (the light changed)."""
    rng = np.random.default_rng(seed)
    base = sharp_scene(WIDTH + 40, HEIGHT + 28, seed=seed)
    paths = []
    for index in range(frames):
        left, top = int(rng.integers(0, 40)), int(rng.integers(0, 28))
        frame = base.crop((left, top, left + WIDTH, top + HEIGHT))
        if index != frames // 2:
            frame = frame.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.8, 1.6))))
            if rng.random() < 0.5:
                frame = degrade.exposure(frame, float(rng.uniform(-0.6, 0.6)))
        paths.append(save_shot(folder / f"{name}_{index + 1:04d}.jpg", frame, start + 0.15 * index))
    return paths
