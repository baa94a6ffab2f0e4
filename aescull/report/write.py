"""Write the report where asked, atomically, and never over something aescull did not write.

Small libraries get one self-contained file (thumbnails as data URIs); large ones a
``<report>_thumbs/`` folder beside it, replaced on a rerun only when it holds nothing but an
earlier report's thumbnails.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

from aescull.fsutil import atomic_write
from aescull.report.render import render
from aescull.report.thumbnails import StoredThumbnail, ThumbnailSpool
from aescull.report.tiles import Tile

THUMBS_SUFFIX = "_thumbs"
_THUMB_NAME = re.compile(r"\d{6}\.jpg")


class ReportError(Exception):
    """The report cannot be written where asked; nothing was changed."""


def thumbs_folder_for(output: Path) -> Path:
    return output.with_name(output.stem + THUMBS_SUFFIX)


def check_destination(output: Path) -> None:
    """Refuse before any work when the report would overwrite something that is not ours."""
    if not output.parent.is_dir():
        raise ReportError(f"folder {output.parent} does not exist")
    if output.is_dir():
        raise ReportError(f"{output} is a folder; give the report's file name")
    folder = thumbs_folder_for(output)
    if folder.exists() and not _is_ours(folder):
        raise ReportError(f"{folder} exists and holds files aescull did not write; move it or choose another -o")


def _is_ours(folder: Path) -> bool:
    """An earlier report's thumbnails folder: only NNNNNN.jpg files in it."""
    return folder.is_dir() and not folder.is_symlink() and all(_THUMB_NAME.fullmatch(entry.name) and entry.is_file() for entry in folder.iterdir())


class ReportWriter:
    """Owns the spool folder; :meth:`write` turns it into the report (and maybe its folder)."""

    def __init__(self, output: Path) -> None:
        check_destination(output)
        self.output = output
        self.spool = ThumbnailSpool(Path(tempfile.mkdtemp(prefix=".aescull-thumbs-", dir=output.parent)))

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.spool.folder, ignore_errors=True)

    def write(self, tiles: list[Tile], below: float | None, title: str, sources: str, embed: bool) -> Path | None:
        """Write the page atomically; returns the thumbnails folder when one was made."""
        spool = self.spool
        folder = thumbs_folder_for(self.output)
        prefix = quote(folder.name, safe="") + "/"

        def source(tile: Tile) -> tuple[str, StoredThumbnail] | None:
            stored = spool.by_path.get(tile.path)
            if stored is None:
                return None
            return (spool.data_uri(stored) if embed else prefix + stored.name), stored

        page = render(tiles, source, below, title, sources)
        check_destination(self.output)  # the folder could have appeared while scoring
        if not embed:
            if folder.exists():
                shutil.rmtree(folder)
            os.chmod(spool.folder, 0o777 & ~_umask())  # mkdtemp made it private; the page's readers need it
            os.replace(spool.folder, folder)
            spool.folder.mkdir()  # so __exit__ has something harmless to remove
        elif folder.exists():
            shutil.rmtree(folder)  # an earlier, larger report's thumbnails would be stale
        atomic_write(self.output, page.encode("utf-8", "backslashreplace"))  # a non-UTF-8 name shows as \udce9, as on stderr
        return None if embed else folder



def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
