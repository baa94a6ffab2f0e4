"""The shipped model files and their sha256, without torch: the ONNX engine must not import it.

They are found inside the installed package (``aescull/_weights``) or, in a source checkout, in
the top-level ``weights/`` folder.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_FILE = "aescull-spp.pt"
# The sha256 of the shipped weights; a mismatch means a corrupt or swapped file.
WEIGHTS_SHA256 = "29a03720c006fb1bf8912ead905bba3f59747bfcf436413c7ab517886f72c7ee"
# The same network exported for ONNX Runtime by `python -m training.export_onnx` (docs/engines.md).
ONNX_FILE = "aescull-spp.onnx"
ONNX_SHA256 = "487e2dc35873993538aba52861c01a2d447231f3a18e31fe30dcb5ee7b837d17"


class WeightsError(RuntimeError):
    """The model file is missing, corrupt, or not an aescull model."""


def bundled_path(name: str) -> Path:
    """Where a bundled model file is, in a wheel install or in a source checkout."""
    package_dir = Path(__file__).resolve().parent.parent  # aescull/
    for candidate in (package_dir / "_weights" / name, package_dir.parent / "weights" / name):
        if candidate.is_file():
            return candidate
    raise WeightsError(f"bundled weights {name} not found next to {package_dir}")
