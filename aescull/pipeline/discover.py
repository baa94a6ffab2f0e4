"""Find the photos under the paths a user typed, in an order that is the same on every run.

Paths keep the spelling the user typed (``photos/a.jpg``, not an absolute path), so rows are
stable and easy to read. Folders are walked depth-first with each folder's entries sorted by
name; hidden entries are skipped; a symlinked folder is entered once (its resolved path is
remembered), so a link loop cannot recurse forever.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".heic", ".heif", ".hif"}
)
RAW_EXTENSIONS = frozenset({".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2"})
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe"})


@dataclass(frozen=True)
class Candidate:
    """One file to score. ``pair`` links a RAW and the camera JPEG of the same shot."""

    path: Path
    pair: Path | None = None
    error: str | None = None


def is_photo(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in IMAGE_EXTENSIONS or suffix in RAW_EXTENSIONS


def is_raw(path: Path) -> bool:
    return path.suffix.lower() in RAW_EXTENSIONS


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def pair_raw_with_jpeg(paths: list[Path]) -> dict[Path, Path]:
    """Map each RAW to the JPEG of the same folder and stem, and back (one shot, two files)."""
    jpegs: dict[tuple[Path, str], Path] = {}
    for path in paths:
        if path.suffix.lower() in JPEG_EXTENSIONS:
            jpegs.setdefault((path.parent, path.stem), path)
    pairs: dict[Path, Path] = {}
    for path in paths:
        jpeg = jpegs.get((path.parent, path.stem)) if is_raw(path) else None
        if jpeg is not None and jpeg not in pairs:
            pairs[path] = jpeg
            pairs[jpeg] = path
    return pairs


def _with_pairs(paths: list[Path]) -> Iterator[Candidate]:
    pairs = pair_raw_with_jpeg(paths)
    for path in paths:
        yield Candidate(path, pairs.get(path))


def _walk(root: Path, recursive: bool, seen_dirs: set[Path]) -> Iterator[tuple[Candidate, str | None]]:
    """Candidates with their real path when it comes for free: a file that is not a symlink
    is its resolved folder plus its name, so only symlinks need resolving (several system
    calls each, the largest cost of a re-run over a cached library)."""
    try:
        resolved = root.resolve()
        if resolved in seen_dirs:
            return
        seen_dirs.add(resolved)
        with os.scandir(root) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python < 3.13)
        yield Candidate(root, error=f"cannot read folder: {getattr(error, 'strerror', None) or error}"), None
        return
    files: list[Path] = []
    real_paths: dict[Path, str] = {}
    folders: list[Path] = []
    for entry in entries:
        if _is_hidden(entry.name):
            continue
        path = root / entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:  # e.g. a symlink loop: not a folder we can enter; decoding will say why
            is_dir = False
        if is_dir:
            folders.append(path)
        elif is_photo(path):
            files.append(path)
            if not entry.is_symlink():
                real_paths[path] = os.path.join(resolved, entry.name)
    for candidate in _with_pairs(files):
        yield candidate, real_paths.get(candidate.path)
    if recursive:
        for folder in folders:
            yield from _walk(folder, recursive, seen_dirs)


def discover(paths: Iterable[str | os.PathLike[str]], recursive: bool = True) -> Iterator[Candidate]:
    """Yield every photo under ``paths`` once, in argument order, each folder sorted by name.

    Files named explicitly are always yielded, whatever their extension or name (the decoder
    then says what is wrong with them); a path that does not exist becomes an error row.
    Within a folder, a file's own row precedes the rows of its subfolders.
    """
    seen_files: set[str] = set()
    seen_dirs: set[Path] = set()
    explicit: list[Path] = []

    def flush_explicit() -> Iterator[Candidate]:
        yield from _with_pairs(explicit)
        explicit.clear()

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from flush_explicit()
            for candidate, real_path in _walk(path, recursive, seen_dirs):
                if _first_time(candidate.path, seen_files, real_path):
                    yield candidate
        elif path.exists() or path.is_symlink():
            if _first_time(path, seen_files):
                explicit.append(path)
        else:
            yield from flush_explicit()
            yield Candidate(path, error="no such file or folder")
    yield from flush_explicit()


def _first_time(path: Path, seen: set[str], real_path: str | None = None) -> bool:
    """True the first time a file is met, so overlapping arguments give one row per file."""
    if real_path is None:
        try:
            real_path = str(path.resolve())
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
            real_path = str(path.absolute())
    if real_path in seen:
        return False
    seen.add(real_path)
    return True
