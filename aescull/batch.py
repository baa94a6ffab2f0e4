"""Moved to :mod:`aescull.pipeline.batch`; this alias goes in the next release (see docs/changelog.md)."""

from aescull.pipeline.batch import SCORED_COLUMNS, Scorer, read_files

__all__ = ["SCORED_COLUMNS", "Scorer", "read_files"]
