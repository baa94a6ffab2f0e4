"""aescull: score, rank and cull photos with a bundled SPP network.

The heavy parts (ONNX Runtime or torch, the model) load only when ``score_paths``,
``load_scoring_model`` (either runtime) or ``load_model`` (the torch checkpoint) is first used, so
``aescull --help`` and ``--version`` start instantly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "score_paths", "load_model", "load_scoring_model", "ScoreRecord"]

if TYPE_CHECKING:
    from aescull.rows.record import ScoreRecord
    from aescull.pipeline.local import score_paths
    from aescull.model.checkpoint import load_model
    from aescull.model.inference import load_scoring_model

_LAZY = {
    "score_paths": "aescull.pipeline.local",
    "ScoreRecord": "aescull.rows.record",
    "load_model": "aescull.model.checkpoint",
    "load_scoring_model": "aescull.model.inference",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aescull' has no attribute {name!r}")
