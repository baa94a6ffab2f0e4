"""One hostile photo library, written in one place so that every command is run over all of it.

``write_corpus(root)`` writes every case and returns what each one must give. Cases that need
the running process to misbehave (a file that cannot be read, one deleted or replaced between
discovery and decoding, pillow-heif missing) are armed by ``hostile_runtime``; without it those
files are ordinary. ``WriteGuard`` fails any attempt to open an existing photo for writing.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import os
import stat
import struct
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aescull.pipeline.discover import is_photo
from tests.support.images import photo_pixels
from tests.support.library import LIGHTROOM_SIDECAR
from tests.support.sidecars import BILLION_LAUGHS, XXE

SCORES = None  # ``Case.expect`` for a file that must get a score


@dataclass(frozen=True)
class Case:
    """One file of the corpus: where it is, what it is, and what its row must say.

    ``expect`` is None for a file that must be scored, else a fragment of its ``error``;
    ``armed`` is the expectation while ``hostile_runtime`` is active (``race``: only with races),
    and ``armed_name`` the row's path then, when it is not the file's (an unreadable folder).
    """

    name: str
    what: str
    expect: str | None = SCORES
    armed: str | None = SCORES
    runtime: bool = False
    race: bool = False
    armed_name: str | None = None

    def expected(self, armed: bool, races: bool = True) -> str | None:
        return self.armed if armed and self.runtime and (races or not self.race) else self.expect

    def row_name(self, armed: bool) -> str:
        return self.armed_name if armed and self.armed_name else self.name


# ---------------------------------------------------------------- byte-level builders


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG of already filtered ``rows`` (each starting with its filter byte)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


def tiff_ifd(entries: list[tuple[int, int, int, bytes]], next_ifd: int = 0) -> bytes:
    """A little-endian IFD: (tag, type, count, 4 bytes of value or offset) per entry."""
    body = b"".join(struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00") for tag, kind, count, value in entries)
    return struct.pack("<H", len(entries)) + body + struct.pack("<I", next_ifd)


def exif_app1(tiff: bytes) -> bytes:
    """What Pillow's ``exif=`` wants: the APP1 payload, ``Exif\\0\\0`` then a TIFF structure."""
    return b"Exif\x00\x00" + tiff


def _long(value: int) -> bytes:
    return struct.pack("<I", value)


def _short(value: int) -> bytes:
    return struct.pack("<H", value)


SHORT, LONG, UNDEFINED = 3, 4, 7
ORIENTATION, EXIF_IFD, MAKER_NOTE = 0x0112, 0x8769, 0x927C


def looping_exif() -> bytes:
    """IFD0 -> IFD1 -> IFD0 again, and an EXIF sub-IFD pointer back at IFD0."""
    first_size = 2 + 2 * 12 + 4
    second = 8 + first_size
    ifd0 = tiff_ifd([(ORIENTATION, SHORT, 1, _short(6)), (EXIF_IFD, LONG, 1, _long(8))], next_ifd=second)
    ifd1 = tiff_ifd([(ORIENTATION, SHORT, 1, _short(3))], next_ifd=8)
    return exif_app1(b"II*\x00" + _long(8) + ifd0 + ifd1)


def truncated_exif() -> bytes:
    """IFD0 declares 40 entries; the segment ends after the first one."""
    ifd = tiff_ifd([(ORIENTATION, SHORT, 1, _short(6))])
    return exif_app1(b"II*\x00" + _long(8) + struct.pack("<H", 40) + ifd[2:14])


def ifd_bomb_exif(entries: int = 5000) -> bytes:
    """Thousands of tags of 999 values each: millions of tiny reads for a naive EXIF reader."""
    return exif_app1(b"II*\x00" + _long(8) + tiff_ifd([(0xC000 + i, SHORT, 999, _long(8)) for i in range(entries)]))


def huge_maker_note_exif(size: int = 60_000) -> bytes:
    """A MakerNote filling the whole APP1 segment, in the EXIF sub-IFD."""
    ifd0_size = 2 + 12 + 4
    exif_ifd = 8 + ifd0_size
    note = exif_ifd + 2 + 12 + 4
    ifd0 = tiff_ifd([(EXIF_IFD, LONG, 1, _long(exif_ifd))])
    sub = tiff_ifd([(MAKER_NOTE, UNDEFINED, size, _long(note))])
    return exif_app1(b"II*\x00" + _long(8) + ifd0 + sub + (bytes(range(256)) * (size // 256 + 1))[:size])


def ycck_jpeg(path: Path, cmyk: Image.Image) -> None:
    """A YCCK JPEG (Adobe transform 2) that decodes to ``cmyk``.

    Pillow writes CMYK inverted with Adobe transform 0. Storing the YCbCr of (C, M, Y) and K
    instead, and setting the transform byte to 2, gives what Photoshop writes for CMYK: libjpeg
    turns it back into the same CMYK.
    """
    c, m, y, k = cmyk.split()
    ycc = Image.merge("RGB", (c, m, y)).convert("YCbCr")
    stored = Image.merge("CMYK", [band.point(lambda v: 255 - v) for band in (*ycc.split(), k.point(lambda v: 255 - v))])
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95)
    data = bytearray(buffer.getvalue())
    transform = data.index(b"\xff\xee\x00\x0eAdobe") + 4 + len(b"Adobe") + 6  # after version and two flag words
    assert data[transform] == 0, "Pillow's CMYK JPEG should carry Adobe transform 0"
    data[transform] = 2
    path.write_bytes(bytes(data))


def jpeg_bytes(width: int, height: int, seed: int = 0, **save_args: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo_pixels(width, height, seed)).save(buffer, format="JPEG", **save_args)
    return buffer.getvalue()


def huge_jpeg(path: Path, width: int = 12_500, height: int = 8_000) -> Path:
    """A valid 100-megapixel baseline JPEG (uniform grey), built without 300 MB of pixels.

    Pillow's encoding of one grey 16x16 MCU (4:2:0, DC difference 0, every block ends at once)
    is four bytes; a JPEG whose frame header declares ``width`` x ``height`` and whose scan
    repeats those four bytes once per MCU is exactly what an encoder would have written.
    """
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 128, 128)).save(buffer, format="JPEG", quality=70)
    data = buffer.getvalue()
    scan_start = data.index(b"\xff\xda")
    headers_end = scan_start + 2 + struct.unpack(">H", data[scan_start + 2 : scan_start + 4])[0]
    one_mcu = data[headers_end:-2]
    assert one_mcu == b"\x28\xa2\x8a\x00", one_mcu.hex()
    frame = data.index(b"\xff\xc0") + 5
    headers = data[:frame] + struct.pack(">HH", height, width) + data[frame + 4 : headers_end]
    mcus = -(-width // 16) * -(-height // 16)
    path.write_bytes(headers + one_mcu * mcus + b"\xff\xd9")
    return path


# ---------------------------------------------------------------- the corpus

NON_UTF8_NAME = os.fsdecode(b"latin1-caf\xe9.jpg")
HOSTILE_BROKEN_NAME = os.fsdecode(b"broken\n\x1b[31mred-caf\xe9.jpg")


def write_corpus(root: Path) -> list[Case]:
    """Write every hostile case under ``root`` (about 2 MB, most of it the 100-MP JPEG)."""
    cases: list[Case] = []

    def place(name: str) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def add(name: str, what: str, content: bytes | None = None, **expectations: object) -> Path:
        path = place(name)
        if content is not None:
            path.write_bytes(content)
        cases.append(Case(name, what, **expectations))  # type: ignore[arg-type]
        return path

    def save(name: str, what: str, image: Image.Image, **arguments: object) -> Path:
        """``arguments``: the Case's expectations, and the rest for Pillow's save()."""
        expectations = {key: arguments.pop(key) for key in Case.__dataclass_fields__ if key in arguments}
        path = add(name, what, **expectations)
        image.save(path, **arguments)
        return path

    photo = Image.fromarray(photo_pixels(120, 80, seed=7))  # a short side the network can judge (65 px or more)
    real_jpeg = jpeg_bytes(640, 480, seed=1, quality=90)
    progressive = jpeg_bytes(640, 480, seed=2, quality=90, progressive=True)

    add("broken/zero.jpg", "zero-byte file", b"", expect="empty file")
    add("broken/truncated.jpg", "first half of a real baseline JPEG", real_jpeg[: len(real_jpeg) // 2], expect="truncated")
    add("broken/truncated-progressive.jpg", "first half of a progressive JPEG", progressive[: len(progressive) // 2], expect="truncated")
    add("broken/header-only.jpg", "a JPEG cut inside its headers", real_jpeg[:300], expect="truncated")
    add("broken/random.jpg", "random bytes named .jpg", np.random.default_rng(5).bytes(4096), expect="not an image")
    good_png = io.BytesIO()
    photo.save(good_png, format="PNG")
    bad_crc = bytearray(good_png.getvalue())
    bad_crc[8 + 8 + 13] ^= 0xFF  # the IHDR chunk's CRC
    add("broken/bad-crc.png", "PNG whose IHDR CRC is wrong", bytes(bad_crc), expect="damaged PNG file")
    idat = good_png.getvalue().index(b"IDAT")
    (length,) = struct.unpack(">I", good_png.getvalue()[idat - 4 : idat])
    bad_idat_crc = bytearray(good_png.getvalue())
    bad_idat_crc[idat + 4 + length] ^= 0xFF
    add("broken/bad-idat-crc.png", "PNG whose IDAT CRC is wrong but whose pixel data is intact (zlib's own Adler-32 "
        "checksum verifies it): Pillow, like most viewers, decodes it", bytes(bad_idat_crc))
    bad_idat_data = bytearray(good_png.getvalue())
    bad_idat_data[idat + 4 + length // 2] ^= 0x55
    add("broken/bad-idat-data.png", "PNG whose compressed pixel data is damaged", bytes(bad_idat_data), expect="data stream")
    add("broken/bomb.png", "decompression bomb: a 100-byte PNG declaring 30000x30000", png_bytes(30_000, 30_000, 8, 2, b"\x00" * 64),
        expect="image too large")

    huge_jpeg(add("formats/huge-100mp.jpg", "valid 100-megapixel JPEG (12500x8000)"))
    save("formats/cmyk.jpg", "CMYK JPEG (Adobe, inverted)", photo.convert("CMYK"), quality=95)
    ycck_jpeg(add("formats/ycck.jpg", "YCCK JPEG (Adobe transform 2, as Photoshop writes CMYK)"), photo.convert("CMYK"))
    ramp16 = np.linspace(0, 65535, 96 * 72).reshape(72, 96).astype(np.uint16)
    save("formats/gray16.png", "16-bit greyscale PNG", Image.fromarray(ramp16))
    rgb16 = (np.asarray(photo, dtype=np.uint16) * 257).astype(">u2")
    add("formats/rgb16.png", "48-bit (16 bits per channel) RGB PNG",
        png_bytes(120, 80, 16, 2, b"".join(b"\x00" + row.tobytes() for row in rgb16)))
    save("formats/bilevel.png", "1-bit PNG", photo.convert("1"))
    save("formats/bilevel-g4.tif", "1-bit TIFF, CCITT group 4", photo.convert("1"), compression="group4")
    palette = photo.convert("P")
    save("formats/palette-transparent.png", "palette PNG with a transparent index", palette, transparency=0)
    save("formats/palette-transparent.gif", "GIF with a transparent index", palette, transparency=0)
    frames = [Image.new("RGB", (96, 72), colour) for colour in ((0, 0, 255), (255, 255, 0), (255, 0, 0))]
    save("formats/animated.gif", "animated GIF (first frame is blue)", frames[0], save_all=True, append_images=frames[1:])
    save("formats/animated.webp", "animated WebP (first frame is blue)", frames[0], save_all=True, append_images=frames[1:], lossless=True)
    save("formats/sliver.png", "1x3000 pixels", Image.new("RGB", (1, 3000), (200, 100, 50)), expect="too small to judge")
    save("formats/one-pixel.png", "1x1 pixel", Image.new("RGB", (1, 1), (200, 100, 50)), expect="too small to judge")
    heic = "HEIC photo (armed: pillow-heif made unimportable)"
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        save("formats/photo.heic", heic, photo, quality=-1, armed="pillow-heif", runtime=True)
    except ImportError:
        add("formats/photo.heic", heic, b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, expect="pillow-heif", armed="pillow-heif", runtime=True)

    exif = Image.Exif()
    exif[ORIENTATION] = 99
    save("exif/orientation-99.jpg", "EXIF orientation 99 (valid: 1-8)", photo, exif=exif.tobytes())
    save("exif/looping-ifd.jpg", "EXIF IFD chain that loops, sub-IFD pointing at IFD0", photo, exif=looping_exif())
    save("exif/truncated-ifd.jpg", "EXIF IFD declaring 40 entries, holding 1", photo, exif=truncated_exif())
    save("exif/ifd-bomb.jpg", "EXIF IFD of 5000 tags x 999 values", photo, exif=ifd_bomb_exif())
    save("exif/huge-makernote.jpg", "60 kB MakerNote", photo, exif=huge_maker_note_exif())

    save("sidecars/xxe.jpg", "photo whose XMP sidecar has an XXE entity", photo)
    place("sidecars/xxe.jpg.xmp").write_bytes(XXE)
    save("sidecars/laughs.jpg", "photo whose XMP sidecar is a billion-laughs bomb", photo)
    place("sidecars/laughs.jpg.xmp").write_bytes(BILLION_LAUGHS)
    save("sidecars/lightroom.jpg", "photo with an ordinary Lightroom sidecar", photo)
    place("sidecars/lightroom.xmp").write_bytes(LIGHTROOM_SIDECAR)

    links = root / "links"
    links.mkdir()
    (links / "loop.jpg").symlink_to("loop.jpg")
    cases.append(Case("links/loop.jpg", "symlink to itself", expect="cannot read"))
    (links / "dangling.jpg").symlink_to("nowhere.jpg")
    cases.append(Case("links/dangling.jpg", "broken symlink", expect="not found"))
    (links / "up").symlink_to("..")
    photo.save(place("links/target/real.jpg"))
    (links / "alias.jpg").symlink_to("target/real.jpg")
    cases.append(Case("links/alias.jpg", "symlink to links/target/real.jpg, which is then not listed again; "
                      "links/up -> .. beside it is a folder loop"))

    for name, what in (
        ("names/with space.jpg", "space in the name"),
        ("names/café ☕ 写真.jpg", "non-ASCII UTF-8 name"),
        ("names/new\nline.jpg", "newline in the name"),
        ("names/-leading-dash.jpg", "leading dash"),
        ("names/" + NON_UTF8_NAME, "name that is not valid UTF-8 (Latin-1 byte 0xE9)"),
        ("names/quote\"'comma,.jpg", "quotes and a comma"),
    ):
        save(name, what, photo, quality=90)
    add("names/" + HOSTILE_BROKEN_NAME, "empty file whose name holds a newline, a terminal escape and a Latin-1 byte",
        b"", expect="empty file")

    save("races/vanishes.jpg", "deleted between discovery and decoding (armed)", photo, armed="not found", runtime=True, race=True)
    save("races/replaced.jpg", "replaced by a text file between discovery and decoding (armed)", photo,
         armed="not an image", runtime=True, race=True)
    save("unreadable/locked.jpg", "unreadable: open() raises PermissionError (armed)", photo, armed="permission denied", runtime=True)
    save("unreadable/sealed/inside.jpg", "in a folder whose listing raises PermissionError (armed)", photo,
         armed="cannot read folder", armed_name="unreadable/sealed", runtime=True)
    (root / "odd").mkdir()
    os.mkfifo(root / "odd" / "pipe.jpg")
    cases.append(Case("odd/pipe.jpg", "FIFO named .jpg", expect="not a regular file"))
    save("odd/folder.jpg/inside.png", "a folder named folder.jpg, walked into", photo)
    return cases


# ---------------------------------------------------------------- runtime hostility


@contextmanager
def hostile_runtime(root: Path, races: bool = True) -> Iterator[None]:
    """Make the armed cases misbehave: unreadable file and folder, no pillow-heif, and (with
    ``races``) one file deleted and one replaced just before aescull first opens them."""
    locked = os.fsencode(root / "unreadable" / "locked.jpg")
    sealed = os.fsencode(root / "unreadable" / "sealed")
    vanishing = {os.fsencode(root / "races" / "vanishes.jpg")} if races else set()
    replacing = {os.fsencode(root / "races" / "replaced.jpg")} if races else set()
    real_open, real_scandir = builtins.open, os.scandir

    def key(file: object) -> bytes | None:
        if isinstance(file, int):
            return None
        return os.fsencode(os.path.abspath(os.fspath(file)))  # type: ignore[arg-type]

    def hostile_open(file: object, *args: object, **kwargs: object) -> object:
        path = key(file)
        if path == locked:
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
        if path in vanishing:
            vanishing.discard(path)
            os.unlink(path)
        if path in replacing:
            replacing.discard(path)
            with real_open(path + b".new", "wb") as handle:
                handle.write(b"this is a text file now\n")
            os.replace(path + b".new", path)
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    def hostile_scandir(path: object = ".") -> object:
        if key(path) == sealed:
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(sealed))
        return real_scandir(path)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builtins, "open", hostile_open)
        patch.setattr(io, "open", hostile_open)
        patch.setattr(os, "scandir", hostile_scandir)
        patch.setitem(sys.modules, "pillow_heif", None)
        yield


class WriteGuard:
    """Fails (and records) any open of an existing photo for writing, through every open there is."""

    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC

    def __init__(self) -> None:
        self.violations: list[str] = []

    def _check(self, file: object, writing: bool) -> None:
        if not writing or isinstance(file, int):
            return
        path = os.fsdecode(os.fspath(file))  # type: ignore[arg-type]
        if is_photo(Path(path)) and os.path.exists(path):
            self.violations.append(path)
            raise PermissionError(errno.EPERM, "test guard: a photo was opened for writing", path)

    @contextmanager
    def active(self) -> Iterator[WriteGuard]:
        real_open, real_os_open = builtins.open, os.open

        def guarded_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
            self._check(file, any(flag in mode for flag in "wax+"))
            return real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

        def guarded_os_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
            self._check(path, bool(flags & self.WRITE_FLAGS))
            return real_os_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(builtins, "open", guarded_open)
            patch.setattr(io, "open", guarded_open)
            patch.setattr(os, "open", guarded_os_open)
            yield self


@contextmanager
def enforced_permissions() -> Iterator[None]:
    """Folder write permission as an ordinary user meets it, even for root (who ignores mode bits):
    creating, linking, renaming or removing an entry of a folder without its write bit raises EACCES."""

    def check(path: object) -> None:
        folder = os.path.dirname(os.path.abspath(os.fsdecode(path)))  # type: ignore[call-overload]
        if not os.stat(folder).st_mode & stat.S_IWUSR:
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))  # type: ignore[call-overload]

    def creating(path: object) -> bool:
        return not isinstance(path, int) and not os.path.lexists(path)  # type: ignore[arg-type]

    def guard(real: Callable[..., object], *checked: int, when: Callable[..., bool] = lambda *_, **__: True) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            if when(*args, **kwargs):
                for index in checked:
                    check(args[index])
            return real(*args, **kwargs)

        return wrapper

    def opens_new_file(file: object, mode: str = "r", *args: object, **kwargs: object) -> bool:
        return any(flag in mode for flag in "wax") and creating(file)

    def os_opens_new_file(path: object, flags: int, *args: object, **kwargs: object) -> bool:
        return bool(flags & os.O_CREAT) and creating(path)

    with pytest.MonkeyPatch.context() as patch:
        for name in ("mkdir", "rmdir", "unlink", "remove"):
            patch.setattr(os, name, guard(getattr(os, name), 0))
        patch.setattr(os, "link", guard(os.link, 1))
        for name in ("rename", "replace"):
            patch.setattr(os, name, guard(getattr(os, name), 0, 1))
        patch.setattr(os, "open", guard(os.open, 0, when=os_opens_new_file))
        patch.setattr(builtins, "open", guard(builtins.open, 0, when=opens_new_file))
        patch.setattr(io, "open", builtins.open)
        yield


@contextmanager
def disk_full_at_fsync(of: Callable[[str], bool]) -> Iterator[list[str]]:
    """ENOSPC from ``os.fsync`` of every file whose path ``of`` accepts, as a full disk reports
    delayed allocation; yields the paths that failed."""
    real_fsync = os.fsync
    failed: list[str] = []

    def fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        if of(path):
            failed.append(path)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        yield failed


# ---------------------------------------------------------------- invariants


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under ``root`` and what it is: sha256 and mtime of a file, a link's target,
    folder, FIFO. aescull's own journal and lock file aside."""
    entries: dict[str, object] = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            info = os.lstat(path)
            if name in (".aescull-journal.jsonl", ".aescull.lock"):
                continue
            if stat.S_ISLNK(info.st_mode):
                entries[relative] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[relative] = "folder"
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    entries[relative] = (hashlib.sha256(handle.read()).hexdigest(), info.st_mtime_ns)
            else:
                entries[relative] = "special"
    return entries


def file_hashes(entries: dict[str, object], photos_only: bool = False) -> Counter[str]:
    """The multiset of file hashes in a ``snapshot``."""
    return Counter(
        value[0]
        for name, value in entries.items()
        if isinstance(value, tuple) and value[0] != "link" and (not photos_only or is_photo(Path(name)))
    )


def leftovers(root: Path) -> list[str]:
    """aescull temp files that outlived the command that made them."""
    return [os.path.join(folder, name) for folder, _, files in os.walk(root) for name in files if ".aescull-tmp-" in name]
