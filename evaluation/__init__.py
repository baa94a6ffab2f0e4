"""Measurements of the shipped model and the judges on data: agreement, grouping, checks (source checkout only)."""

from pathlib import Path

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def photos_in(folder: Path) -> list[Path]:
    """The photos of a data folder (such as ../shared/data/photos), in name order, so every
    evaluation reads the same ones in the same order."""
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in PHOTO_SUFFIXES)
