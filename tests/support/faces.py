"""Face models stood in for, so the faces path runs on generated images (no photo of a person may ship)."""

from __future__ import annotations

import numpy as np
import pytest

from aescull.judge import faces


class StubModels:
    """Stands in for the models: a face is a grey square whose grey level names its blink.

    With no levels given, every crop holds one face (filling its centre half) with open eyes; with
    levels, a crop whose centre has another level holds none. ``calls`` counts landmark runs.
    """

    def __init__(self, blinks: dict[int, float] | None = None) -> None:
        self.blinks = blinks
        self.calls = 0

    def landmarks(self, pixels: np.ndarray) -> list[tuple[np.ndarray, dict[str, float]]]:
        self.calls += 1
        height, width = pixels.shape[:2]
        level = int(pixels[height // 2, width // 2, 0])
        if self.blinks is not None and level not in self.blinks:
            return []
        blink = 0.0 if self.blinks is None else self.blinks[level]
        size = min(width, height) / faces.CROP_CONTEXT
        centre = np.array([width / 2, height / 2])
        points = centre + np.random.default_rng(level).uniform(-size / 2, size / 2, (478, 2))
        points[list(faces._RIGHT_EYE_CORNERS)] = centre + (-0.3 * size, 0)
        points[list(faces._LEFT_EYE_CORNERS)] = centre + (0.3 * size, 0)
        return [(points, {"eyeBlinkLeft": blink, "eyeBlinkRight": blink})]

    def close(self) -> None:
        pass


def found_at(monkeypatch: pytest.MonkeyPatch, *boxes: faces.Box) -> None:
    """The search "finds" these boxes in every photo (the stub has no detector)."""
    monkeypatch.setattr(faces, "_find", lambda rgb, models, levels: list(boxes))


def stub_models(monkeypatch: pytest.MonkeyPatch, blinks: dict[int, float]) -> list[StubModels]:
    """Every model pool a run starts gets stubs (the extra need not be installed); the list holds them."""
    started: list[StubModels] = []

    def start(bundle: bytes) -> StubModels:
        started.append(StubModels(blinks))
        return started[-1]

    monkeypatch.setattr(faces, "_checked_bundle", lambda path: b"")
    monkeypatch.setattr(faces, "_start", start)
    return started
