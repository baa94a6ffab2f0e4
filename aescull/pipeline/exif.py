"""EXIF through exifread, on a budget: orientation, capture time (with sub-seconds and offset) and camera.

Broken or hostile EXIF never fails a photo: it just means no metadata. exifread follows
whatever offsets and counts a file holds, so it reads through :class:`_BudgetedReader`.
"""

from __future__ import annotations

import io
import logging
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
# ../shared/data, so the budget leaves two orders of magnitude of room.
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
class ExifSummary:
    orientation: int = 1
    taken: str | None = None
    camera: str | None = None


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
    )


def open_source(source: Source) -> io.BufferedIOBase:
    return open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)


def read_exif(source: Source) -> ExifSummary:
    """Orientation, capture time and camera via exifread; broken EXIF just means no metadata.

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
        }
    )
