"""Filesystem steps that never lose a byte: atomic replace, fsync, verified copy, moves that never overwrite.

Shared by the library's changes (moves, sidecars, the journal), the report (its page) and the
model loader (sha256), so each is written once.
"""

from __future__ import annotations

import hashlib
import errno
import os
import shutil
from pathlib import Path

_CHUNK = 1 << 20
_TEMPORARY_MARK = ".aescull-tmp-"


class UnsafeFileOperation(OSError):
    """A step refused because it would overwrite or could not be verified; the original is kept."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def move_file(source: Path, target: Path) -> None:
    """Rename without ever replacing ``target``; across file systems, copy, verify, then delete."""
    try:
        os.link(source, target, follow_symlinks=False)  # fails if target exists, unlike rename
    except FileExistsError:
        raise UnsafeFileOperation(f"{target} already exists; not overwritten") from None
    except OSError as error:
        if error.errno == errno.EXDEV:
            copy_verified(source, target, expected_sha256=file_sha256(source))
        elif error.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):  # no hard links here
            if os.path.lexists(target):
                raise UnsafeFileOperation(f"{target} already exists; not overwritten") from None
            os.rename(source, target)
            fsync_directory(target.parent)
            fsync_directory(source.parent)
            return
        else:
            raise
    fsync_directory(target.parent)
    try:
        source.unlink()
    except OSError:  # e.g. a read-only source folder: take back the new name, keep the original
        target.unlink()
        raise
    fsync_directory(source.parent)


def copy_verified(source: Path, target: Path, expected_sha256: str) -> None:
    """Copy data and timestamps to a temp name, fsync, check size and sha256, then take the name."""
    temporary = temporary_path(target)
    try:
        with open(source, "rb") as reader, open(temporary, "xb") as writer:
            shutil.copyfileobj(reader, writer, _CHUNK)
            writer.flush()
            os.fsync(writer.fileno())
        shutil.copystat(source, temporary)
        if temporary.stat().st_size != source.stat().st_size or file_sha256(temporary) != expected_sha256:
            raise UnsafeFileOperation(f"copy of {source} does not match the original (size or sha256); original kept")
        try:
            os.link(temporary, target)
        except FileExistsError:
            raise UnsafeFileOperation(f"{target} already exists; not overwritten") from None
    finally:
        temporary.unlink(missing_ok=True)
    fsync_directory(target.parent)


def atomic_write(path: Path, data: bytes, mtime_ns: int | None = None) -> None:
    """Temp file in the same folder, fsync, rename over, fsync the folder: never a half-written sidecar.

    ``mtime_ns`` lets undo give a restored sidecar its old modification time back too.
    """
    temporary = temporary_path(path)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mtime_ns is not None:
            os.utime(temporary, ns=(mtime_ns, mtime_ns))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def temporary_path(path: Path) -> Path:
    """Where ``path``'s next version is written before it takes the name: hidden, same folder, ours."""
    return path.with_name(f".{path.name}{_TEMPORARY_MARK}{os.getpid()}")


def temporaries_of(path: Path) -> list[tuple[Path, int]]:
    """Temp files left beside ``path`` by any aescull process, with the pid that wrote each."""
    prefix = f".{path.name}{_TEMPORARY_MARK}"
    try:
        names = [entry.name for entry in os.scandir(path.parent) if entry.name.startswith(prefix)]
    except OSError:
        return []
    return [(path.with_name(name), int(name[len(prefix) :])) for name in names if name[len(prefix) :].isdigit()]


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` survive a power cut."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
