"""Faces on generated images only (no photo of a person may ship): the search covers the frame,
faces are counted and judged one by one, the model file is checked, and the extra explains
itself when it is missing. The tests that run MediaPipe skip cleanly without it."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aescull.judge import faces
from aescull.judge.faces import FaceModelError, FacesUnavailable, FaceVerdict, Thresholds
from tests.support.faces import StubModels, found_at
from tests.support.models import REPO

needs_mediapipe = pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None,
    reason="mediapipe is not installed: the optional extra aescull[faces] (pip install '.[faces]') runs these",
)


def test_one_blinker_in_a_group_is_counted_and_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    image = Image.new("RGB", (1200, 500), (0, 0, 0))
    squares = {60: ((100, 150, 300, 350), 0.05), 120: ((500, 150, 700, 350), 0.8), 180: ((900, 150, 1100, 350), 0.1)}
    for level, (box, _) in squares.items():
        image.paste((level, level, level), box)
    found_at(monkeypatch, *(box for box, _ in reversed(squares.values())))
    verdict = faces.judge_faces(image, StubModels({level: blink for level, (_, blink) in squares.items()}))  # type: ignore[arg-type]
    assert (verdict.faces, verdict.eyes_closed) == (3, 1)
    assert verdict.reasons == ("eyes-closed",)
    assert [Thresholds().eyes_closed(face) for face in verdict.found] == [False, True, False]  # left to right
    assert verdict.face_sharpness == pytest.approx(1.0, abs=0.05)  # the squares are perfect steps


def test_small_faces_are_counted_but_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    image = Image.new("RGB", (400, 400), (0, 0, 0))
    box = (185, 185, 215, 215)  # the stub's eyes are 0.6 x 30 = 18 px apart
    image.paste((90, 90, 90), box)
    found_at(monkeypatch, box)
    verdict = faces.judge_faces(image, StubModels({90: 0.9}))  # type: ignore[arg-type]
    assert (verdict.faces, verdict.eyes_closed, verdict.face_sharpness, verdict.reasons) == (1, 0, None, ())
    (face,) = verdict.found
    assert face.eye_distance == pytest.approx(18, abs=0.5) and not Thresholds().judges(face)
    judged_anyway = FaceVerdict.judged(verdict.found, Thresholds(min_eye_distance=10))
    assert (judged_anyway.eyes_closed, judged_anyway.reasons) == (1, ("eyes-closed",))


def test_measured_faces_are_judged_again_by_other_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a cache keeps (the measured faces) gives the verdict of any thresholds, as a fresh run would."""
    image = Image.new("RGB", (600, 400), (0, 0, 0))
    image.paste((150, 150, 150), (200, 100, 400, 300))
    found_at(monkeypatch, (200, 100, 400, 300))
    found = faces.measure_faces(image, StubModels({150: 0.5}))  # type: ignore[arg-type]
    for thresholds in (Thresholds(), Thresholds(closed_eyes=0.6), Thresholds(face_soft=1.01)):
        assert FaceVerdict.judged(found, thresholds) == faces.judge_faces(image, StubModels({150: 0.5}), thresholds)  # type: ignore[arg-type]
    assert FaceVerdict.judged(found).reasons == ("eyes-closed",)
    assert FaceVerdict.judged(found, Thresholds(closed_eyes=0.6)).reasons == ()
    assert FaceVerdict.judged(found, Thresholds(face_soft=1.01)).reasons == ("eyes-closed", "face-soft")


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0, 3.0])
def test_a_face_is_as_sharp_as_its_native_pixels(monkeypatch: pytest.MonkeyPatch, sigma: float) -> None:
    """A face's sharpness is read on the full-size pixels of its features, on the scale of
    ``sharpness``: an edge blurred by sigma px reads 1 / sqrt(1 + sigma^2)."""
    y, x = np.mgrid[0:600, 0:900]
    board = Image.fromarray(np.where((x // 24 + y // 24) % 2, 180, 60).astype(np.uint8)).convert("RGB")
    image = _gaussian(board, sigma)
    found_at(monkeypatch, (300, 150, 600, 450))  # a 300-px face: the landmarker sees it reduced, the focus does not
    (face,) = faces.measure_faces(image, StubModels())  # type: ignore[arg-type]
    assert face.sharpness == pytest.approx(1 / math.sqrt(1 + sigma**2), abs=0.04)


def test_a_soft_face_on_a_sharp_background_is_soft(monkeypatch: pytest.MonkeyPatch) -> None:
    y, x = np.mgrid[0:600, 0:900]
    board = Image.fromarray(np.where((x // 24 + y // 24) % 2, 180, 60).astype(np.uint8)).convert("RGB")
    box = (300, 150, 600, 450)
    board.paste(_gaussian(board, 3).crop((250, 100, 650, 500)), (250, 100))  # the face and a margin, focus missed
    found_at(monkeypatch, box)
    verdict = faces.judge_faces(board, StubModels())  # type: ignore[arg-type]
    assert verdict.reasons == ("face-soft",) and verdict.face_sharpness is not None and verdict.face_sharpness < 0.35


@pytest.mark.parametrize("size", [(500, 500), (2560, 1600), (6000, 4000), (1000, 150)])
def test_each_level_holds_every_face_up_to_half_a_tile_whole(size: tuple[int, int]) -> None:
    width, height = size
    pyramid = faces._levels(width, height, 2)
    assert pyramid[0][1] == [(0, 0, width, height)]
    for side, windows in pyramid[1:]:
        assert side >= faces.MIN_TILE
        assert all(0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height for x0, y0, x1, y1 in windows)
        face = side // 2
        for x in range(0, width - face + 1, max(1, face // 3)):
            for y in range(0, height - face + 1, max(1, face // 3)):
                assert any(x0 <= x and y0 <= y and x + face <= x1 and y + face <= y1 for x0, y0, x1, y1 in windows)


def test_no_level_of_tiles_under_the_minimum() -> None:
    assert len(faces._levels(300, 300, 2)) == 1  # 0.4 x 300 = 120 < MIN_TILE
    assert len(faces._levels(500, 500, 2)) == 2  # 200, then 80 < MIN_TILE
    assert [len(windows) for _, windows in faces._levels(6000, 4000, 2)] == [1, 12, 96]  # the passes on a 24-MP frame


def test_same_face_merges_overlapping_boxes_and_keeps_neighbours() -> None:
    assert faces._same_face((100, 100, 200, 200), (110, 95, 205, 190))
    assert not faces._same_face((100, 100, 200, 200), (230, 100, 330, 200))


def test_without_mediapipe_the_extra_explains_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # `import mediapipe` now fails as if it were not installed
    with pytest.raises(FacesUnavailable, match=r"pip install 'aescull\[faces\]'"):
        faces.check_available()
    with pytest.raises(FacesUnavailable, match=r"aescull\[faces\]"):
        faces.load_models()


def test_importing_the_module_does_not_import_mediapipe() -> None:
    probe = "import sys, aescull.judge.faces; assert 'mediapipe' not in sys.modules, 'mediapipe imported'"
    subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=True, timeout=120)


def test_the_shipped_model_is_the_one_measured_with_its_notice_and_licence() -> None:
    path = faces.default_model_path()
    assert path == REPO / "weights" / faces.MODEL_FILE  # in a checkout; the wheel test checks the installed one
    assert path.stat().st_size == 3_758_596
    assert faces.MODEL_SHA256 in (path.parent / "NOTICE.face_landmarker.txt").read_text()
    assert "Apache License" in (path.parent / "LICENSE.Apache-2.0.txt").read_text()


def test_a_missing_or_corrupt_model_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(faces, "check_available", lambda: None)  # the file is checked before mediapipe is used
    with pytest.raises(FaceModelError, match="not found"):
        faces.load_models(tmp_path / "missing.task")
    corrupt = bytearray(faces.default_model_path().read_bytes())
    corrupt[len(corrupt) // 2] ^= 0xFF
    (tmp_path / faces.MODEL_FILE).write_bytes(bytes(corrupt))
    with pytest.raises(FaceModelError, match="sha256"):
        faces.load_models(tmp_path / faces.MODEL_FILE)
    with pytest.raises(FaceModelError, match="sha256"):
        faces.ModelPool(2, tmp_path / faces.MODEL_FILE)


def test_a_pool_that_fails_to_start_closes_the_models_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[_Started] = []

    def start(bundle: bytes) -> _Started:
        if len(started) == 2:
            raise RuntimeError("cannot start a third")
        started.append(_Started())
        return started[-1]

    monkeypatch.setattr(faces, "_checked_bundle", lambda path: b"")
    monkeypatch.setattr(faces, "_start", start)
    with pytest.raises(RuntimeError, match="third"):
        faces.ModelPool(4)
    assert [models.closed for models in started] == [True, True]


class _Started:
    closed = False

    def close(self) -> None:
        self.closed = True


def _scene() -> Image.Image:
    rng = np.random.default_rng(1)
    scene = (np.indices((900, 1400)).sum(axis=0)[..., None] % 256 + rng.normal(0, 8, (900, 1400, 3))).clip(0, 255)
    return Image.fromarray(scene.astype(np.uint8))


@needs_mediapipe
def test_the_real_models_load_quietly_and_find_no_face_in_a_synthetic_scene(capfd: pytest.CaptureFixture[str]) -> None:
    with faces.load_models() as models:
        verdict = faces.judge_faces(_scene(), models)
        odd = [faces.judge_faces(Image.new(mode, size), models) for mode in ("L", "RGBA") for size in ((1, 1), (3, 500), (129, 40))]
    assert (verdict.faces, verdict.reasons, verdict.face_sharpness) == (0, (), None)
    assert all(found.faces == 0 for found in odd)  # tiny, thin, grey or transparent: judged, no error
    assert capfd.readouterr().err == ""  # MediaPipe's start-up and shut-down lines are held back


@needs_mediapipe
def test_a_pool_gives_each_thread_its_own_models() -> None:
    scene = _scene().resize((700, 450))
    results: list[FaceVerdict] = []
    borrowed: set[int] = set()

    def work() -> None:
        with pool.borrow() as models:
            borrowed.add(id(models))
            results.append(faces.judge_faces(scene, models))

    with faces.ModelPool(2) as pool:
        with pool.borrow() as held:  # one borrowed here: the threads get the other, one after the other
            threads = [threading.Thread(target=work) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        assert id(held) not in borrowed and len(borrowed) == 1
    assert [verdict.faces for verdict in results] == [0, 0]


def _gaussian(image: Image.Image, sigma: float) -> Image.Image:
    """An exact separable Gaussian (edge-replicated), so sigma means what the scale says."""
    if sigma == 0:
        return image
    radius = math.ceil(4 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    pixels = np.asarray(image, dtype=np.float64)
    wide = np.pad(pixels, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    rows = sum(w * wide[:, i : i + pixels.shape[1]] for i, w in enumerate(kernel))
    both = sum(w * rows[i : i + pixels.shape[0]] for i, w in enumerate(kernel))
    return Image.fromarray(np.clip(both + 0.5, 0, 255).astype(np.uint8))
