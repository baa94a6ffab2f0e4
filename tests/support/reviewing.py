"""The review for the tests: a library with the awkward parts, the CLI as a child process, the server in a thread, raw requests.

A request is sent as written (method, target, headers), with nothing normalised on the way, so
a test can send what an attacker's page or tool would.
"""

from __future__ import annotations

import http.client
import re
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from aescull.judge.checks import Checks
from aescull.review.catalog import Catalog
from aescull.review.images import Images
from aescull.review.server import TOKEN_HEADER, ReviewServer
from aescull.review.session import Review
from aescull.rows.record import ScoreRecord
from tests.support.bursts import START, burst_frame, exif_for
from tests.support.cli import subprocess_env
from tests.support.images import fake_raw_with_preview, photo_pixels, save_photo
from tests.support.library import LIGHTROOM_SIDECAR

URL = re.compile(rb"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)")
# Where the sharp patch of sharp.jpg is: the loupe must open on it, not on the frame's centre.
SHARP_BOX = (1100, 180, 1420, 460)
SHARP_SIZE = (1600, 1200)
# Started with SIGINT at its default, as at a terminal: a suite run as a background job would
# otherwise hand the child SIGINT ignored (see tests/support/interrupting.py).
LAUNCH = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); from aescull.cli.app import app; app(args=sys.argv[1:], prog_name='aescull')"


def sharp_patch_photo(path: Path) -> Path:
    """A soft frame (blurred 6 px) with one crisp, detailed patch off-centre, at SHARP_BOX."""
    pixels = photo_pixels(*SHARP_SIZE, seed=11)
    rng = np.random.default_rng(3)
    for _ in range(300):  # flat rectangles: edges everywhere, for the blur to soften
        left, top = int(rng.integers(0, SHARP_SIZE[0] - 60)), int(rng.integers(0, SHARP_SIZE[1] - 60))
        pixels[top : top + int(rng.integers(10, 60)), left : left + int(rng.integers(10, 60))] = rng.integers(20, 235, size=3)
    crisp = Image.fromarray(pixels)
    soft = crisp.filter(ImageFilter.GaussianBlur(6))
    soft.paste(crisp.crop(SHARP_BOX), SHARP_BOX[:2])
    soft.save(path, quality=92)
    return path


def make_review_library(root: Path) -> Path:
    """A RAW+JPEG pair with Lightroom's IMG.xmp (2 stars), a JPEG with Lightroom's IMG.jpg.xmp
    (2 stars), a burst of three, a photo sharp in one corner, a blurred one, and a symbolic link
    to a photo outside the library."""
    library = root / "lib"
    preview = Image.fromarray(photo_pixels(480, 320, seed=1))
    library.mkdir(parents=True)
    preview.save(library / "a.jpg", quality=92)
    fake_raw_with_preview(library / "a.CR2", preview)
    (library / "a.xmp").write_bytes(LIGHTROOM_SIDECAR)
    save_photo(library / "b.jpg", 480, 320, seed=2, quality=92)
    (library / "b.jpg.xmp").write_bytes(LIGHTROOM_SIDECAR)
    (library / "burst").mkdir()
    for index, (shift, blur) in enumerate([(0, 0.0), (3, 2.0), (5, 0.5)], start=1):
        frame = burst_frame("disc", shift, blur=blur).resize((640, 480))
        frame.save(library / "burst" / f"IMG_{index:04d}.jpg", "JPEG", quality=92, exif=exif_for(START + timedelta(seconds=0.3 * index)))
    sharp_patch_photo(library / "sharp.jpg")
    Image.fromarray(photo_pixels(480, 320, seed=5)).filter(ImageFilter.GaussianBlur(5)).save(library / "blurry.jpg", quality=92)
    save_photo(root / "elsewhere" / "secret.jpg", 320, 240, seed=9)
    (library / "outside.jpg").symlink_to(root / "elsewhere" / "secret.jpg")
    return library


@dataclass
class RunningReview:
    """``aescull review`` in a child process; ``stderr`` fills as it writes."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    stderr: bytearray

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"


@contextmanager
def running_review(arguments: Sequence[str], cwd: Path, timeout_s: float = 240.0) -> Iterator[RunningReview]:
    """``aescull review ARGUMENTS --no-open`` until the address is printed; killed at the end if still running."""
    process = subprocess.Popen([sys.executable, "-c", LAUNCH, "review", *arguments, "--no-open"], cwd=cwd, env=subprocess_env(cwd),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = bytearray()
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    found = None
    while found is None:
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise AssertionError(f"no address printed: {stderr.decode(errors='replace')}")
        if selector.select(timeout=0.5):
            stderr += process.stderr.read1(65536)  # type: ignore[attr-defined]
            found = URL.search(bytes(stderr))
    selector.close()

    def drain() -> None:
        for chunk in iter(lambda: process.stderr.read1(65536), b""):  # type: ignore[union-attr]
            stderr.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield RunningReview(process, int(found[1]), found[2].decode(), stderr)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
        reader.join(timeout=10)


def records_for(library: Path, checks: dict[str, Checks] | None = None, groups: dict[str, str] | None = None) -> list[ScoreRecord]:
    """Rows for every photo under ``library`` as scoring would give them (scores made up, best by
    name), without a model: the server's tests need shots, not scores."""
    photos = sorted(path for path in library.rglob("*") if path.suffix.lower() in (".jpg", ".cr2", ".png") and path.is_file())
    rows = []
    for index, path in enumerate(photos):
        status = path.stat()
        rows.append(ScoreRecord(path, round(0.9 - 0.05 * index, 4), size=status.st_size, mtime_ns=status.st_mtime_ns,
                                checks=(checks or {}).get(path.name), group=(groups or {}).get(path.name)))
    return [replace(row, rank_in_group=rank) for rank, row in enumerate(rows, start=1)]


@contextmanager
def serving(catalog: Catalog, can_apply: bool = True) -> Iterator[ReviewServer]:
    """The review's server over ``catalog`` in a thread of this process, closed (and the library released) at the end."""
    images = Images(catalog.root, 400, 2)
    review = Review(catalog, "ext", model_name="plumbing", model_version="test", can_apply=can_apply)
    server = ReviewServer(review, images, "test review")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        review.close()
        images.close()
        thread.join(timeout=30)


def request(port: int, method: str, target: str, headers: dict[str, str] | None = None, body: bytes | None = None,
            timeout_s: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request sent exactly as given; Host is 127.0.0.1:PORT unless ``headers`` says otherwise."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        if body is not None:
            sent.setdefault("Content-Length", str(len(body)))
        for name, value in sent.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def decide(server: ReviewServer, ids: list[int], action: str, stars: int = 0) -> tuple[int, bytes]:
    """A decision as the page sends it (token in the header, JSON)."""
    import json

    status, _, body = request(server.server_port, "POST", "/api/decide",
                              {TOKEN_HEADER: server.token, "Content-Type": "application/json", "Origin": f"http://{server.host}"},
                              json.dumps({"ids": ids, "action": action, "stars": stars}).encode())
    return status, body


def get_ok(port: int, token: str, target: str) -> bytes:
    """A read as the page makes it; it must be answered."""
    joiner = "&" if "?" in target else "?"
    status, _, body = request(port, "GET", f"{target}{joiner}token={token}")
    assert status == 200, (target, status, body[:200])
    return body
