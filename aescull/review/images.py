"""Pixels for the page, made on demand and cached: grid thumbnails, and 100 % crops for the loupe.

Thumbnails are those the scoring decode cut (spooled to a private temporary folder as they
arrive, as the report does); a photo that run did not decode (a cache hit) is opened when the
page first asks, in JPEG draft mode, and kept. The loupe needs the native pixels: a photo is
decoded whole once (upright, a RAW's embedded preview) and kept while it is among the last few
viewed (a budget in pixels), so panning and comparing crop from memory; each crop is encoded
once and kept too. Decoding is bounded to ``workers`` photos at a time, so a burst of requests
queues instead of taking every core and all the memory.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aescull.report.thumbnails import ThumbnailSpool
from aescull.review.catalog import ReviewShot

if TYPE_CHECKING:
    from PIL import Image

    from aescull.pipeline.decode import Thumbnail

# Native pixels kept decoded for the loupe: four 24-MP photos (about 290 MB as RGB); at least one is always kept.
UPRIGHT_BUDGET_PIXELS = 100_000_000
CROP_BUDGET_BYTES = 64 << 20  # encoded crops kept
MAX_CROP_SIDE = 4096  # a crop wider than any screen is refused rather than encoded
CROP_QUALITY = 92  # with 4:4:4 chroma: focus is judged on fine detail


class NotServed(Exception):
    """The shot's pixels cannot be given: the message says why, in words for the page."""


@dataclass(frozen=True)
class Focus:
    """The photo's native size (upright) and the point a loupe opens on: the centre of its sharpest tile, or of the frame."""

    width: int
    height: int
    x: int
    y: int
    sharpest: bool

    def as_json(self) -> dict[str, object]:
        return {"width": self.width, "height": self.height, "x": self.x, "y": self.y, "sharpest": self.sharpest}


class _Budgeted(OrderedDict):
    """Least recently used first; :meth:`keep` drops the oldest entries beyond the budget (never the newest)."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget
        self.used = 0
        self.sizes: dict[object, int] = {}

    def recall(self, key: object) -> object | None:
        if key not in self:
            return None
        self.move_to_end(key)
        return self[key]

    def keep(self, key: object, value: object, size: int) -> None:
        if key in self:
            self.used -= self.sizes[key]
        self[key] = value
        self.sizes[key] = size
        self.used += size
        while self.used > self.budget and len(self) > 1:
            oldest, _ = self.popitem(last=False)
            self.used -= self.sizes.pop(oldest)


class Images:
    """Thumbnails, focus points and crops of the shots of the library in ``root``; :meth:`close` removes the spool folder."""

    def __init__(self, root: Path, side: int, workers: int) -> None:
        self.root = root.absolute()
        self.side = side
        self.spool = ThumbnailSpool(Path(tempfile.mkdtemp(prefix="aescull-review-")))
        self._lock = threading.Lock()
        self._decoding = threading.BoundedSemaphore(max(1, workers))
        self._upright = _Budgeted(UPRIGHT_BUDGET_PIXELS)
        self._crops = _Budgeted(CROP_BUDGET_BYTES)
        self._focus: dict[int, Focus] = {}

    def close(self) -> None:
        shutil.rmtree(self.spool.folder, ignore_errors=True)

    def keep(self, path: Path, thumbnail: Thumbnail) -> None:
        """For the scoring run's ``on_thumbnail``: the thumbnail it cut anyway."""
        with self._lock:
            self.spool.add(str(path), thumbnail)

    def thumbnail(self, shot: ReviewShot) -> bytes:
        key = str(shot.shown.path)
        with self._lock:
            stored = self.spool.by_path.get(key)
        if stored is None:
            from aescull.pipeline.decode import DecodeError, decode

            path = self._library_file(shot)
            with self._decoding:
                try:
                    made = decode(path, self.side, self.side).thumbnail
                except DecodeError as error:
                    raise NotServed(str(error)) from None
            assert made is not None
            with self._lock:
                self.spool.add(key, made)
                stored = self.spool.by_path[key]
        return (self.spool.folder / stored.name).read_bytes()

    def focus(self, shot: ReviewShot) -> Focus:
        with self._lock:
            known = self._focus.get(shot.number)
        if known is not None:
            return known
        from aescull.judge.checks import sharpest_region

        image = self._native(shot)
        with self._decoding:
            box = sharpest_region(image)
        if box is None:
            focus = Focus(image.width, image.height, image.width // 2, image.height // 2, sharpest=False)
        else:
            focus = Focus(image.width, image.height, (box[0] + box[2]) // 2, (box[1] + box[3]) // 2, sharpest=True)
        with self._lock:
            self._focus[shot.number] = focus
        return focus

    def crop(self, shot: ReviewShot, left: int, top: int, width: int, height: int) -> bytes:
        """The native pixels of (left, top, width, height), clamped to the photo, as a JPEG."""
        if not (0 < width <= MAX_CROP_SIDE and 0 < height <= MAX_CROP_SIDE):
            raise NotServed(f"a crop is 1 to {MAX_CROP_SIDE} pixels a side")
        key = (shot.number, left, top, width, height)
        with self._lock:
            cached = self._crops.recall(key)
        if isinstance(cached, bytes):
            return cached
        image = self._native(shot)
        left, top = max(0, min(left, image.width - 1)), max(0, min(top, image.height - 1))
        region = image.crop((left, top, min(image.width, left + width), min(image.height, top + height)))
        buffer = io.BytesIO()
        region.save(buffer, "JPEG", quality=CROP_QUALITY, subsampling=0)
        encoded = buffer.getvalue()
        with self._lock:
            self._crops.keep(key, encoded, len(encoded))
        return encoded

    def _native(self, shot: ReviewShot) -> Image.Image:
        with self._lock:
            kept = self._upright.recall(shot.number)
        if kept is not None:
            return kept  # type: ignore[return-value]
        from aescull.pipeline.decode import DecodeError, decode_upright

        path = self._library_file(shot)
        with self._decoding:
            try:
                image = decode_upright(path)
            except DecodeError as error:
                raise NotServed(str(error)) from None
        with self._lock:
            self._upright.keep(shot.number, image, image.width * image.height)
        return image

    def _library_file(self, shot: ReviewShot) -> Path:
        """The shot's file, checked again now to lie inside the library (it could have become a link out of it)."""
        path = shot.shown.path
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise NotServed("the file is no longer inside the library")
        return path
