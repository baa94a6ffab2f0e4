"""Entry points that moved out of the wheel, kept for one release (see docs/changelog.md)."""

from __future__ import annotations

import importlib
import sys


def run_moved(old: str, new: str) -> None:
    """Run ``python -m NEW`` for a caller of ``python -m OLD``; both need a source checkout."""
    print(f"aescull: `python -m {old}` is now `python -m {new}`; this alias goes in the next release", file=sys.stderr)
    try:
        module = importlib.import_module(f"{new}.__main__" if "." not in new else new)
    except ModuleNotFoundError:
        sys.exit(f"aescull: `python -m {new}` needs a source checkout of aescull (it is not part of the wheel); run it from the checkout's root")
    sys.exit(module.main())
