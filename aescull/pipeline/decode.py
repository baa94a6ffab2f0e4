"""Turn a photo file into what the model sees: upright RGB pixels at the working size.

Why each step:
- EXIF orientation (read with exifread) is applied first, so a portrait shot stored sideways
  is judged upright and the 8 orientations of one photo give the same score.
- JPEG draft mode lets libjpeg downscale in the DCT domain (1/2, 1/4, 1/8), so a 24-MP JPEG is
  never fully decoded when the model only needs ~0.25 MP; it stops at twice the working size
  and a Lanczos resize does the rest, keeping the aspect ratio (longest side <= ``max_side``;
  never upscaled; ``max_side=0`` keeps every pixel).
- Every colour mode becomes RGB: 16-bit is scaled (not clipped), transparency is composited
  over mid-grey (128, 128, 128), which neither brightens nor darkens the photo's exposure.
- Reported width/height are the full-size photo as displayed (after orientation), not the
  working size.
"""

from __future__ import annotations

import io
import stat
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from aescull.judge.checks import Checks, measure
from aescull.judge.faces import Face
from aescull.model.config import MIN_SHORT_SIDE
from aescull.pipeline.discover import is_raw
from aescull.pipeline.exif import ExifSummary, Exposure, Source, open_source, pillow_exif, read_exif

# Pixels in the largest photo we decode: 200 MP is above any current camera (the 100-MP
# medium-format ones included); a file declaring more is treated as a decompression bomb.
MAX_IMAGE_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# Pillow only warns between 1x and 2x the limit; make the whole range an error we can report.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
# Pillow warns once per malformed metadata tag it skips ("Tag data larger than file"): thousands
# of stderr lines for one hostile EXIF block, about a photo that still decodes.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


# Drafting straight to the working size (1) is fastest but softens the photo, and the model
# sees softness: on 24-MP JPEGs at 512 px it moved scores by up to 0.022 from a full decode
# with Lanczos. 2 (as Pillow's thumbnail) costs ~20 ms more per photo and kept that under
# 0.008; 4 kept it under 0.002 for ~3x the decode time. Only a full decode matches exactly.
DRAFT_OVERSAMPLE = 2
BACKGROUND = (128, 128, 128)
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})
# How many candidate JPEG starts to try when looking for a RAW file's embedded preview.
MAX_PREVIEW_CANDIDATES = 64
EMPTY_FILE = "empty file (0 bytes)"
# Finds and measures the faces of an upright photo at native size (aescull.judge.faces, run in a
# decoding thread with that thread's models).
FaceMeasure = Callable[[Image.Image], tuple[Face, ...]]


class DecodeError(Exception):
    """A file that cannot become pixels; the message is the short text of the ``error`` column."""


@dataclass(frozen=True)
class PhotoInfo:
    """What a row reports about the photo itself."""

    width: int
    height: int
    taken: str | None
    camera: str | None
    exposure: Exposure = Exposure()


@dataclass(frozen=True)
class Thumbnail:
    """A small upright JPEG for the contact sheet, made from pixels the scoring decode already has."""

    jpeg: bytes
    width: int
    height: int


@dataclass(frozen=True)
class DecodedPhoto:
    info: PhotoInfo
    pixels: np.ndarray  # 3×H×W float32 in [0, 1], C-contiguous, upright, at the working size
    thumbnail: Thumbnail | None = None  # only when decode() was asked for one
    checks: Checks | None = None  # measured at native resolution, when asked for
    faces: tuple[Face, ...] | None = None  # found and measured at native resolution, when asked for


def working_size(width: int, height: int, max_side: int, min_short_side: int = 0) -> tuple[int, int]:
    """Scale so the longest side is at most ``max_side``, keeping the aspect ratio; never upscale.

    With ``min_short_side``, a frame so elongated that its short side would fall below it keeps
    that short side instead (a 6000×400 panorama is judged at 975×65, not 512×34), as far as its
    own pixels allow: the network needs a few cells of its grid across the frame to judge it.
    """
    longest, shortest = max(width, height), min(width, height)
    if max_side <= 0 or longest <= max_side:
        return width, height
    scale = max(max_side / longest, min(1.0, min_short_side / shortest))
    return max(1, round(width * scale)), max(1, round(height * scale))


def make_thumbnail(image: Image.Image, side: int, quality: int = 80) -> Thumbnail:
    """Longest side at most ``side`` (never upscaled), aspect kept; JPEG keeps a 5,000-photo report small."""
    small = image if image.mode == "RGB" else image.convert("RGB")
    size = working_size(small.width, small.height, side)
    if small.size != size:
        small = small.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=quality, optimize=True)
    return Thumbnail(buffer.getvalue(), small.width, small.height)


def _pillow_input(source: Source) -> Path | io.BytesIO:
    return source if isinstance(source, Path) else io.BytesIO(source)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB, scaling high bit depths and flattening transparency."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float32)
        peak = 65535.0 if mode != "F" and (mode.startswith("I;16") or array.max(initial=0) > 255) else 255.0
        if mode == "F" and array.max(initial=0) <= 1.0:
            peak = 1.0
        gray = np.clip(array * (255.0 / peak), 0, 255).round().astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _open_raw_preview(source: Source) -> Image.Image:
    """The camera's embedded JPEG preview: demosaicing a RAW is slow and not what a culler needs."""
    try:
        import rawpy

        with rawpy.imread(str(source) if isinstance(source, Path) else io.BytesIO(source)) as raw:
            thumb = raw.extract_thumb()
        if thumb.format == rawpy.ThumbFormat.JPEG:
            return Image.open(io.BytesIO(thumb.data))
        return Image.fromarray(thumb.data)
    except Exception:  # rawpy missing, or LibRaw cannot read this file: look for the JPEG ourselves.
        return _scan_for_preview(source)


def _scan_for_preview(source: Source) -> Image.Image:
    """Largest JPEG embedded in the file (TIFF-based RAWs and CR3 store their previews whole)."""
    data = source.read_bytes() if isinstance(source, Path) else source
    best: tuple[int, int] | None = None
    start = data.find(b"\xff\xd8\xff")
    tried = 0
    while start != -1 and tried < MAX_PREVIEW_CANDIDATES:
        tried += 1
        try:
            with Image.open(io.BytesIO(data[start:])) as candidate:
                area = candidate.width * candidate.height
            if candidate.format == "JPEG" and (best is None or area > best[0]):
                best = (area, start)
        except Exception:  # most 0xFFD8FF matches are not JPEG starts
            pass
        start = data.find(b"\xff\xd8\xff", start + 3)
    if best is None:
        raise DecodeError("no embedded preview JPEG found in this RAW file")
    return Image.open(io.BytesIO(data[best[1] :]))


def _open_heif(source: Source) -> Image.Image:
    try:
        import pillow_heif
    except ImportError as error:
        raise DecodeError("HEIC/HEIF needs pillow-heif: pip install 'aescull[heif]'") from error
    pillow_heif.register_heif_opener()
    return Image.open(_pillow_input(source))


def _open(source: Source, name: Path) -> tuple[Image.Image, ExifSummary]:
    """``name`` (the file's path) picks HEIF and RAW handling by its extension."""
    if name.suffix.lower() in HEIF_EXTENSIONS:
        image = _open_heif(source)
        # pillow-heif has already applied the HEIF rotation and reset EXIF orientation to 1.
        return image, pillow_exif(image)
    image = _open_raw_preview(source) if is_raw(name) else Image.open(_pillow_input(source))
    return image, read_exif(source)


# Leading bytes of the formats a camera, phone or editor writes: a file that starts like one but
# that Pillow cannot open is a damaged photo, not "not an image".
_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF8": "GIF", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


def _unidentified(source: Source) -> str:
    try:
        with open_source(source) as handle:
            head = handle.read(12)
    except OSError:
        head = b""
    kind = next((name for signature, name in _SIGNATURES.items() if head.startswith(signature)), None)
    if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    return f"damaged {kind} file: its headers cannot be read" if kind else "not an image, or an unsupported format"


def _describe(error: BaseException, source: Source) -> str:
    """One short line for the ``error`` column."""
    if isinstance(error, DecodeError):
        return str(error)
    if isinstance(error, FileNotFoundError):
        return "file not found (moved or deleted?)"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(error, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"image too large: more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels (decompression bomb guard)"
    if isinstance(error, UnidentifiedImageError):
        return _unidentified(source)
    message = " ".join(str(error).split())
    if "truncated" in message.lower():
        return "truncated file: image data ends early"
    return f"cannot decode: {message or type(error).__name__}"[:200]


@contextmanager
def _reported_as_decode_error(source: Source) -> Iterator[None]:
    """Every failure to read a photo becomes its row's one-line error text."""
    try:
        yield
    except DecodeError:
        raise
    except Exception as error:
        raise DecodeError(_describe(error, source)) from error


def _check_readable(path: Path) -> None:
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device named .jpg would block or never end
        raise DecodeError("not a regular file")
    if info.st_size == 0:
        raise DecodeError(EMPTY_FILE)


def decode(
    path: Path, max_side: int, thumbnail_side: int = 0, checks: bool = False, draft: bool = True, faces: FaceMeasure | None = None
) -> DecodedPhoto:
    """Decode one file for the model; raises :class:`DecodeError` with a one-line reason.

    With ``thumbnail_side`` > 0 a thumbnail is cut from the same upright pixels (before the
    resize to the working size), so a report needs no second decode. It never changes the
    working pixels, hence never the score.

    With ``checks``, :func:`aescull.judge.checks.measure` also looks at the native pixels. Where the
    model's pixels were decoded at full size anyway (PNG, TIFF, small JPEGs) the same image is
    measured; a JPEG the draft mode scaled down is decoded a second time at full size for the
    checks only, so the model's pixels, and so the score, are the same with or without checks.
    ``faces`` receives the same native pixels, upright (a face detector needs them upright): the
    checks and the faces share that one full-size decode.

    ``draft=False`` decodes every JPEG at full size before the resize: slower on large JPEGs,
    but the pixels, and so the score, are those of a full-resolution decode (see DRAFT_OVERSAMPLE).
    """
    with _reported_as_decode_error(path):
        _check_readable(path)
        return _decode_source(path, path, max_side, thumbnail_side, checks, draft, faces)


def read_photo_bytes(path: Path) -> bytes:
    """A photo file's contents for :func:`decode_bytes`, failing with the reasons :func:`decode`
    gives for the same file (engines read on one machine and decode on another)."""
    with _reported_as_decode_error(path):
        _check_readable(path)
        return path.read_bytes()


def decode_bytes(data: bytes, name: str | Path, max_side: int, draft: bool = True) -> DecodedPhoto:
    """Decode a file's contents exactly as :func:`decode` decodes the file, for engines that move
    bytes rather than paths between machines; ``name`` is the file's path (its extension matters)."""
    data = bytes(data)
    with _reported_as_decode_error(data):
        if not data:
            raise DecodeError(EMPTY_FILE)
        return _decode_source(data, Path(name), max_side, draft=draft)


def _decode_source(
    source: Source, name: Path, max_side: int, thumbnail_side: int = 0, checks: bool = False, draft: bool = True,
    faces: FaceMeasure | None = None,
) -> DecodedPhoto:
    image, exif = _open(source, name)
    with image:
        stored_width, stored_height = image.size
        if stored_width * stored_height > MAX_IMAGE_PIXELS:
            raise Image.DecompressionBombError("too many pixels")
        swapped = exif.orientation in (5, 6, 7, 8)
        width, height = (stored_height, stored_width) if swapped else (stored_width, stored_height)
        target = working_size(width, height, max_side, MIN_SHORT_SIDE)
        if draft and image.format == "JPEG":
            stored_target = (target[1], target[0]) if swapped else target
            image.draft("RGB", (stored_target[0] * DRAFT_OVERSAMPLE, stored_target[1] * DRAFT_OVERSAMPLE))
        rgb = _to_rgb(image)
        measured, found = None, None
        if checks or faces is not None:
            native = rgb if image.size == (stored_width, stored_height) else _native_rgb(source, name)
            measured = measure(native) if checks else None
            found = faces(_orient(native, exif.orientation)) if faces is not None else None
        upright = _orient(rgb, exif.orientation)
        thumbnail = make_thumbnail(upright, thumbnail_side) if thumbnail_side > 0 else None
        if upright.size != target:
            upright = upright.resize(target, Image.Resampling.LANCZOS)
        pixels = np.ascontiguousarray(np.asarray(upright, dtype=np.uint8).transpose(2, 0, 1), dtype=np.float32)
    pixels /= 255.0
    info = PhotoInfo(width, height, exif.taken, exif.camera, exif.exposure)
    return DecodedPhoto(info, pixels, thumbnail, measured, found)


def _native_rgb(source: Source, name: Path) -> Image.Image:
    """Every pixel of the photo, as stored (a second decode, for a JPEG the model's decode drafted)."""
    image, _ = _open(source, name)
    with image:
        return _to_rgb(image).copy()


# EXIF orientation -> the transpose that shows the photo upright (as ImageOps.exif_transpose).
_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orient(image: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSES.get(orientation)
    return image if method is None else image.transpose(method)


def decode_upright(path: Path) -> Image.Image:
    """The photo at native resolution, upright, in 8-bit RGB: what a loupe shows at 100 %
    (a RAW file's embedded preview); raises :class:`DecodeError` with the reasons :func:`decode` gives."""
    with _reported_as_decode_error(path):
        _check_readable(path)
        image, exif = _open(path, path)
        with image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError("too many pixels")
            upright = _orient(_to_rgb(image), exif.orientation)
            return upright.copy() if upright is image else upright
