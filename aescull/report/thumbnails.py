"""Thumbnails for the report: spooled to disk while the rows arrive, decoded only for rows that need one.

Thumbnails come from the scoring decode (see :func:`aescull.pipeline.decode.decode`); only photos
that run did not decode (cache hits, rows read from a file) are opened again, in draft mode.
Spooling keeps memory flat however large the library.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aescull.report.tiles import Tile

if TYPE_CHECKING:
    from aescull.pipeline.decode import Thumbnail

@dataclass(frozen=True)
class StoredThumbnail:
    name: str  # file name inside the spool folder
    width: int
    height: int


class ThumbnailSpool:
    """Thumbnails on disk while the rows arrive, keyed by the row's path text."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.by_path: dict[str, StoredThumbnail] = {}

    def add(self, path: str, thumbnail: Thumbnail) -> None:
        name = f"{len(self.by_path) + 1:06d}.jpg"
        (self.folder / name).write_bytes(thumbnail.jpeg)
        self.by_path[path] = StoredThumbnail(name, thumbnail.width, thumbnail.height)

    def alias(self, path: str, other: str) -> bool:
        """A RAW half of a pair shows its JPEG's thumbnail: they are one shot."""
        stored = self.by_path.get(other)
        if stored is not None:
            self.by_path[path] = stored
        return stored is not None

    def data_uri(self, stored: StoredThumbnail) -> str:
        return "data:image/jpeg;base64," + base64.b64encode((self.folder / stored.name).read_bytes()).decode("ascii")


def fill_missing_thumbnails(
    tiles: list[Tile], pairs: Mapping[str, str], spool: ThumbnailSpool, side: int, workers: int, warn: Callable[[str], None]
) -> int:
    """Thumbnails for rows the scoring run did not decode; returns how many could not be made.

    Failed rows are left without one (their file was tried already). The RAW half of a pair
    waits for its JPEG's thumbnail and is opened only when that one could not be made.
    """
    from aescull.pipeline.discover import is_raw

    wanted = [tile.path for tile in tiles if tile.error is None]
    present = set(wanted)

    def waits_for_pair(path: str) -> bool:
        return is_raw(Path(path)) and pairs.get(path) in present

    waiting = [path for path in wanted if waits_for_pair(path)]
    waiting_set = set(waiting)
    failed = _decode_into(spool, [path for path in wanted if path not in spool.by_path and path not in waiting_set], side, workers, warn)
    for path in waiting:
        spool.alias(path, pairs[path])
    return failed + _decode_into(spool, [path for path in waiting if path not in spool.by_path], side, workers, warn)


def _decode_into(spool: ThumbnailSpool, paths: list[str], side: int, workers: int, warn: Callable[[str], None]) -> int:
    from aescull.pipeline.decode import DecodeError, decode

    def make(path: str) -> Thumbnail | str:
        try:
            thumbnail = decode(Path(path), side, side).thumbnail
        except DecodeError as error:
            return str(error)
        assert thumbnail is not None
        return thumbnail

    failed = 0
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="aescull-thumb") as pool:
        for path, result in zip(paths, pool.map(make, paths)):
            if isinstance(result, str):
                failed += 1
                warn(f"{path}: no thumbnail: {result}")
            else:
                spool.add(path, result)
    return failed
