"""What must hold before a command changes the library, checked before anything is touched.

A typo in a PATH, a stray token (``--bottom 10 %``), PATHs with no common folder, a read-only
memory card: each is refused with one line and exit 2, and nothing is moved, written or created.
A dry run meets the same checks, so it says when the real run would fail.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from aescull.library.errors import ActionError


class Refused(ActionError):
    """The run would not do what the user meant (or could not be carried out): nothing was done."""


def existing_paths(paths: Sequence[Path]) -> None:
    """Every PATH typed must exist: a missing one is a typo, and acting on the rest would surprise."""
    missing = [str(path) for path in paths if not (path.exists() or path.is_symlink())]
    if missing:
        raise Refused(f"{', '.join(missing)}: no such file or folder; nothing was changed")


def typed_root(paths: Sequence[Path]) -> Path | None:
    """The folder the user typed (or the folder of a typed file) that holds every PATH, if one does."""
    folders = [(path if path.is_dir() else path.parent).absolute() for path in paths]
    return next((folder for folder in folders if all(other.is_relative_to(folder) for other in folders)), None)


def cull_folder_root(paths: Sequence[Path], common: Path) -> Path:
    """The root a default cull folder (``<root>/_culled``) goes in: never above what the user typed."""
    root = typed_root(paths)
    if root is None:
        raise Refused(
            f"{', '.join(str(path) for path in paths)} have no common folder among them, so the cull folder would land in "
            f"{common}, above what you typed: give --move-to DIR, or cull one folder at a time; nothing was changed"
        )
    return root


def writable(folder: Path) -> bool:
    """Whether files can be created in ``folder``, or in the nearest folder above it that exists."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK)


def check_writable(action: str, root: Path, destination: Path | None) -> None:
    """A move needs to remove files from the library, a tag to write sidecars beside them, a copy
    only its destination: refuse up front what the real run could not do."""
    if action in ("move", "tag") and not os.access(root, os.W_OK):
        hint = "its photos cannot be moved; copy the culls out of it with --copy --move-to DIR" if action == "move" else (
            "sidecars cannot be written beside its photos")
        raise Refused(f"{root} is read-only: {hint}; nothing was changed")
    if action in ("move", "copy") and destination is not None and not writable(destination):
        raise Refused(f"{destination}: cannot create files there (read-only or no permission); nothing was changed")
