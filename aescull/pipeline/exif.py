"""EXIF through exifread, on a budget: orientation, capture time (with sub-seconds and offset), camera
and exposure settings.

Broken or hostile EXIF never fails a photo: it just means no metadata. exifread follows
whatever offsets and counts a file holds, so it reads through :class:`_BudgetedReader`.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import exifread
from PIL import Image

# A photo is read from its path (the local engine) or from its contents (engines that ship
# bytes between machines, such as Ray Data); both go through the same decoding.
Source = Path | bytes

# exifread follows whatever offsets and counts a file holds: an EXIF block of 5000 tags of 999
# values each costs it millions of reads (minutes), and a string tag may claim 4 GB. It reads
# through this budget instead; past it, the photo is scored without EXIF metadata. Real camera
# EXIF (maker notes are not read) takes far less: at most 423 reads and 5 kB for the photos in
# ../shared/data, so the budget leaves two orders of magnitude of room. Maker notes stay unread
# (details=False): exifread reads them a byte at a time, measured on those photos at 2,816-9,716
# reads (28-75 ms) for three Canons, 33,801 for a Konica Minolta and 81,416 (1.1 s) for a Sony,
# which is past the budget and would lose the whole EXIF block; the standard ExposureMode tag
# already says "auto bracket" (see aescull.judge.sets).
EXIF_MAX_READS = 50_000
EXIF_MAX_BYTES = 8 << 20
# exifread logs "PNG file does not have exif data." and the like as warnings: normal for a
# photo, not something to print once per file on the user's terminal.
logging.getLogger("exifread").setLevel(logging.ERROR)

# JPEG draft decoding keeps at least this many times the working size; Lanczos does the rest.


class _ExifBudgetSpent(Exception):
    """exifread read more of this file than any real EXIF block needs."""


class _BudgetedReader:
    """The file as exifread sees it: reads beyond ``EXIF_MAX_READS``/``EXIF_MAX_BYTES`` raise."""

    def __init__(self, handle: io.BufferedIOBase) -> None:
        self._handle = handle
        self._reads = 0
        self._bytes = 0

    def read(self, size: int = -1) -> bytes:
        self._reads += 1
        if size is None or size < 0 or self._reads > EXIF_MAX_READS or self._bytes + size > EXIF_MAX_BYTES:
            raise _ExifBudgetSpent
        data = self._handle.read(size)
        self._bytes += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


@dataclass(frozen=True)
class Exposure:
    """The exposure settings EXIF gives (None where it gives none): what tells an exposure
    bracket, a focus stack or a panorama apart from a burst (:mod:`aescull.judge.sets`)."""

    bias: float | None = None  # ExposureBiasValue, EV
    mode: int | None = None  # ExposureMode: 0 auto, 1 manual, 2 auto bracket
    program: int | None = None  # ExposureProgram: 1 manual, 2 program, 3 aperture priority, ...
    time: float | None = None  # ExposureTime, seconds
    f_number: float | None = None
    iso: float | None = None  # ISOSpeedRatings (PhotographicSensitivity)
    focal_length: float | None = None  # millimetres


@dataclass(frozen=True)
class ExifSummary:
    orientation: int = 1
    taken: str | None = None
    camera: str | None = None
    exposure: Exposure = Exposure()


def _clean(text: object) -> str:
    return str(text).replace("\x00", "").strip()


def _iso_time(value: str | None, offset: str | None, subsec: object = None) -> str | None:
    """ISO-8601, with the camera's sub-second digits when it wrote them: a burst shoots many
    frames within one second, and only the fraction tells them apart."""
    if not value:
        return None
    try:
        stamp = datetime.strptime(_clean(value)[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    iso = stamp.isoformat()
    fraction = _clean(subsec) if subsec is not None else ""
    if fraction.isdigit():
        iso += "." + fraction
    offset = _clean(offset) if offset else ""
    if len(offset) == 6 and offset[0] in "+-" and offset[3] == ":":
        iso += offset
    return iso


def _camera(make: object, model: object) -> str | None:
    make_text, model_text = _clean(make or ""), _clean(model or "")
    if model_text.lower().startswith(make_text.lower()):
        return model_text or None
    return f"{make_text} {model_text}".strip() or None


def _number(value: object) -> float | None:
    """A finite number from an EXIF value (a ratio, an int, a one-item list), else None."""
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _integer(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


def _exposure(values: dict[str, object]) -> Exposure:
    return Exposure(
        bias=_number(values.get("bias")),
        mode=_integer(values.get("mode")),
        program=_integer(values.get("program")),
        time=_number(values.get("time")),
        f_number=_number(values.get("f_number")),
        iso=_number(values.get("iso")),
        focal_length=_number(values.get("focal_length")),
    )


def _summary(values: dict[str, object]) -> ExifSummary:
    try:
        orientation = int(values.get("orientation") or 1)
    except (TypeError, ValueError):
        orientation = 1
    return ExifSummary(
        orientation=orientation if 1 <= orientation <= 8 else 1,
        taken=_iso_time(values.get("taken") or values.get("digitized"), values.get("offset"),  # type: ignore[arg-type]
                        values.get("subsec") if values.get("taken") else values.get("subsec_digitized")),
        camera=_camera(values.get("make"), values.get("model")),
        exposure=_exposure(values),
    )


def open_source(source: Source) -> io.BufferedIOBase:
    return open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)


def read_exif(source: Source) -> ExifSummary:
    """Orientation, capture time, camera and exposure via exifread; broken EXIF just means no metadata.

    exifread reads through a budget (``EXIF_MAX_READS``, ``EXIF_MAX_BYTES``), so no EXIF block,
    however hostile, can hang the run or fill memory.
    """
    try:
        with open_source(source) as handle:
            tags = exifread.process_file(_BudgetedReader(handle), details=False, extract_thumbnail=False)  # type: ignore[arg-type]
    except Exception:  # exifread raises many kinds of errors on hostile files; none is fatal.
        return ExifSummary()

    def first(name: str) -> object:
        tag = tags.get(name)
        if tag is None:
            return None
        values = getattr(tag, "values", None)
        if isinstance(values, list) and values and name == "Image Orientation":
            return values[0]
        return tag.printable if hasattr(tag, "printable") else str(tag)

    def value(name: str) -> object:
        """The tag's first value as stored (a ratio or an integer), not its printable text."""
        values = getattr(tags.get(name), "values", None)
        return values[0] if isinstance(values, list) and values else None

    return _summary(
        {
            "orientation": first("Image Orientation"),
            "taken": first("EXIF DateTimeOriginal"),
            "digitized": first("EXIF DateTimeDigitized"),
            "offset": first("EXIF OffsetTimeOriginal"),
            "subsec": first("EXIF SubSecTimeOriginal"),
            "subsec_digitized": first("EXIF SubSecTimeDigitized"),
            "make": first("Image Make"),
            "model": first("Image Model"),
            "bias": value("EXIF ExposureBiasValue"),
            "mode": value("EXIF ExposureMode"),
            "program": value("EXIF ExposureProgram"),
            "time": value("EXIF ExposureTime"),
            "f_number": value("EXIF FNumber"),
            "iso": value("EXIF ISOSpeedRatings"),
            "focal_length": value("EXIF FocalLength"),
        }
    )


def pillow_exif(image: Image.Image) -> ExifSummary:
    """EXIF as Pillow sees it; used for HEIF, whose EXIF box exifread often cannot parse."""
    exif = image.getexif()
    sub = exif.get_ifd(0x8769)
    return _summary(
        {
            "taken": sub.get(0x9003),
            "digitized": sub.get(0x9004),
            "offset": sub.get(0x9011),
            "subsec": sub.get(0x9291),
            "subsec_digitized": sub.get(0x9292),
            "make": exif.get(0x010F),
            "model": exif.get(0x0110),
            "bias": sub.get(0x9204),
            "mode": sub.get(0xA402),
            "program": sub.get(0x8822),
            "time": sub.get(0x829A),
            "f_number": sub.get(0x829D),
            "iso": sub.get(0x8827),
            "focal_length": sub.get(0x920A),
        }
    )
