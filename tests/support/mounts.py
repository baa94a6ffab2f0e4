"""A read-only view of a folder, as a memory card or a write-protected share is: a read-only bind mount."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def read_only_view(source: Path, target: Path) -> Iterator[Path]:
    """``source`` seen read-only at ``target`` (needs root and mount(8); skips the test otherwise)."""
    target.mkdir(parents=True)

    def run(*arguments: str) -> bool:
        try:
            return subprocess.run(["mount", *arguments], capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    if not run("--bind", str(source), str(target)):
        pytest.skip("a read-only bind mount needs root and mount(8)")
    try:
        if not run("-o", "remount,bind,ro", str(target)) or os.access(target, os.W_OK):
            pytest.skip("this machine does not allow read-only bind mounts")
        yield target
    finally:
        subprocess.run(["umount", str(target)], capture_output=True, timeout=30)
