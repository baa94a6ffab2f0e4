"""Measure :mod:`aescull.judge.faces` on faces-dev and on photos without people; print the tables.

    python -m evaluation.faces_eval --data ../shared/data/faces-dev --photos ../shared/data/photos
        [--sections range,crops,frames,groups,photos,sweep,blur,timing] [--threads N]

Sections (all by default; a summary of the figures the issue asks for comes last):

- range: the detector alone, on crops pasted into a 640-px photo at a fraction of its width:
  the share of faces it finds at each size (why the frame is searched in tiles).
- crops: closed-eye recall and precision, false ``eyes-closed`` on open crops, the flag rate per
  note category, and a 5-fold cross-validation of the threshold rule against other blendshape
  scores (blink vs laugh, squint, looking down). Tight crops are padded with a grey border of
  half their size (a detector needs context; faces-dev's README warns that crop style alone
  separates its two classes, so the rule reads blendshapes only).
- frames: faces counted per whole frame against the labelled count, and the flags, per tile level.
- groups: synthetic group frames (crops pasted on a photo without people): one blinker among
  open faces must be flagged, an all-open group must not be.
- photos: faces "found" in the photos without people (all false), and the time, per tile level.
- sweep: the small-face bound: crops reduced to a given eye distance and judged anyway.
- blur: face sharpness after an exact Gaussian blur at native scale (whole frames and crops),
  the share flagged at several ``face_soft`` values: the calibration of that threshold.
- timing: ms per photo added (decode excluded): no face, 1 face, group; on the cores allowed,
  then again pinned to one core (``--threads 1`` pins the process and MediaPipe's threads).

Nothing is written: the data stay where they are.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from aescull.judge import faces
from aescull.judge.faces import Face, FaceModels, FaceVerdict, Thresholds
from evaluation import photos_in

SECTIONS = ("range", "crops", "frames", "groups", "photos", "sweep", "blur", "timing")
NOTES = {
    "glasses": ("glasses",),
    "smiling/laughing": ("smil", "laugh", "grin"),
    "squint/squeezed/narrow": ("squint", "squeez", "narrow"),
    "eye makeup": ("makeup",),
    "child/baby": ("child", "baby"),
    "greyscale/sepia": ("greyscale", "sepia", "b/w"),
    "blurry/low-res": ("blur", "low-res"),
    "watermark": ("watermark",),
    "hand on face": ("hand on face",),
    "ambiguous/lids low": ("ambiguous", "lids low", "downcast", "half-"),
    "none of these": (),
}
BLUR_SIGMAS = (0.0, 1.0, 1.5, 2.0, 2.5, 3.0)
SOFT_CUTS = (0.30, 0.33, 0.35, 0.38, 0.40, 0.45)  # face_soft candidates shown in the blur section
RANGE_BACKGROUND = "mate-backgrounds__Wood.jpg"  # of --photos (the first photo where it is absent)
Row = dict[str, str]


class Data:
    """faces-dev's labels and images, and the photos without people."""

    def __init__(self, dev: Path, photos: Path) -> None:
        self.dev, self.photos = dev, photos
        with open(dev / "labels.csv", newline="", encoding="utf-8") as handle:
            self.rows: list[Row] = list(csv.DictReader(handle))
        self.crops = [row for row in self.rows if "/wholeframe/" not in row["file"]]
        self.frames = [row for row in self.rows if "/wholeframe/" in row["file"]]
        self.photo_paths = photos_in(photos)

    def image(self, row: Row) -> Image.Image:
        """A whole frame as it is, a tight crop on a grey border half its size each side."""
        with Image.open(self.dev / row["file"]) as opened:
            rgb = opened.convert("RGB")
        return rgb if "/wholeframe/" in row["file"] else padded(rgb)

    def photo(self, path: Path) -> Image.Image:
        with Image.open(path) as opened:
            return opened.convert("RGB")


def padded(rgb: Image.Image) -> Image.Image:
    pixels = np.asarray(rgb)
    border = max(pixels.shape[:2]) // 2
    return Image.fromarray(np.pad(pixels, ((border, border), (border, border), (0, 0)), constant_values=128))


def main_face(found: tuple[Face, ...], image: Image.Image) -> Face | None:
    """The face nearest the centre: a crop's own face (others are neighbours at its edge)."""
    if not found:
        return None
    centre = np.array(image.size) / 2
    return min(found, key=lambda face: float(np.linalg.norm((np.array(face.box[:2]) + face.box[2:]) / 2 - centre)))


def gaussian(image: Image.Image, sigma: float) -> Image.Image:
    """An exact separable Gaussian (edge-replicated), so sigma means what the sharpness scale says."""
    if sigma == 0:
        return image
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    pixels = np.asarray(image, dtype=np.float32)
    wide = np.pad(pixels, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    rows = sum(w * wide[:, i : i + pixels.shape[1]] for i, w in enumerate(kernel))
    both = sum(w * rows[i : i + pixels.shape[0]] for i, w in enumerate(kernel))
    return Image.fromarray(np.clip(both + 0.5, 0, 255).astype(np.uint8))


def _notes(row: Row) -> list[str]:
    text = row["notes"].lower()
    return [name for name, keys in NOTES.items() if keys and any(key in text for key in keys)] or ["none of these"]


def _range(data: Data, models: FaceModels, summary: dict[str, str]) -> None:
    print("=== detector range: 40 closed + 40 open crops pasted into a 640x640 photo ===")
    rng = np.random.default_rng(1)
    picks = [r for r in data.crops if r["label"] == "closed"][:40] + [r for r in data.crops if r["label"] == "open"][:40]
    named = [path for path in data.photo_paths if path.name == RANGE_BACKGROUND]
    background = data.photo((named or data.photo_paths)[0]).resize((640, 640))
    for fraction in (0.08, 0.10, 0.12, 0.15, 0.20, 0.30, 0.50):
        side, hits = int(fraction * 640), 0
        for row in picks:
            canvas = background.copy()
            x, y = (int(v) for v in rng.integers(0, 640 - side, 2))
            with Image.open(data.dev / row["file"]) as crop:
                canvas.paste(crop.convert("RGB").resize((side, side), Image.Resampling.LANCZOS), (x, y))
            hits += any(
                abs((x0 + x1) / 2 - x - side / 2) < side / 2 and abs((y0 + y1) / 2 - y - side / 2) < side / 2
                for x0, y0, x1, y1 in models.detect(np.asarray(canvas))
            )
        print(f"  face {fraction:.2f} of the frame ({fraction * 128:.0f} px of the detector's 128): found {hits}/{len(picks)}")
    print()


def _crops(data: Data, models: FaceModels, summary: dict[str, str]) -> None:
    print("=== crops (150 closed, 150 open; grey border of half the crop) ===")
    thresholds = Thresholds()
    results: list[tuple[Row, FaceVerdict, Face | None]] = []
    cheek_squint = 0.0
    for row in data.crops:
        image = data.image(row)
        verdict = faces.judge_faces(image, models, thresholds)
        results.append((row, verdict, main_face(verdict.found, image)))
        # Only KEPT_BLENDSHAPES stay with a face: read cheekSquint from the raw landmarker.
        cheeks = [max(shapes["cheekSquintLeft"], shapes["cheekSquintRight"]) for _, shapes in models.landmarks(np.asarray(image))]
        cheek_squint = max([cheek_squint, *cheeks])
    closed = [r for r in results if r[0]["label"] == "closed"]
    opened = [r for r in results if r[0]["label"] == "open"]
    for name, group in (("closed", closed), ("open", opened)):
        found = sum(1 for _, _, f in group if f is not None)
        judged = sum(1 for _, _, f in group if f is not None and thresholds.judges(f))
        extra = sum(1 for _, v, _ in group if v.faces > 1)
        print(f"{name}: face found {found}/{len(group)}, judged {judged}, crops with more than one face {extra}")
    hits = sum(1 for _, v, _ in closed if v.eyes_closed)
    alarms = sum(1 for _, v, _ in opened if v.eyes_closed)
    print(f"closed-eye recall {hits}/{len(closed)} = {hits / len(closed):.3f}")
    print(f"false eyes-closed on open crops {alarms}/{len(opened)} = {alarms / len(opened):.3f}")
    print(f"precision {hits}/{hits + alarms} = {hits / max(1, hits + alarms):.3f} (at this 50:50 mix)")
    summary["closed-eye recall (crops)"] = f"{hits}/{len(closed)} = {hits / len(closed):.3f}"
    summary["open crops flagged eyes-closed"] = f"{alarms}/{len(opened)} = {100 * alarms / len(opened):.1f} %"
    summary["closed-eye precision (crops, 50:50)"] = f"{hits}/{hits + alarms} = {hits / max(1, hits + alarms):.3f}"
    print("\nflag rate per note category (eyes-closed flagged / crops with that note):")
    print(f"{'note':26s} {'closed':>12s} {'open':>12s}")
    for note in NOTES:
        cells = []
        for group in (closed, opened):
            with_note = [v for r, v, _ in group if note in _notes(r)]
            flagged = sum(1 for v in with_note if v.eyes_closed)
            cells.append(f"{flagged}/{len(with_note)}" + (f" {flagged / len(with_note):.2f}" if with_note else ""))
        print(f"{note:26s} {cells[0]:>12s} {cells[1]:>12s}")

    def listed(group: list[tuple[Row, FaceVerdict, Face | None]], flagged: bool) -> list[str]:
        return [
            f"  {r['file'].split('/')[-1]} blink {f.blink if f else None} {r['notes'].split(';', 2)[-1].strip()}"
            for r, v, f in group
            if bool(v.eyes_closed) is flagged
        ]

    print("\nmissed closed:", *listed(closed, False), sep="\n")
    print("open flagged:", *listed(opened, True), sep="\n")
    _scores_cv([(r, f) for r, _, f in results if f is not None and thresholds.judges(f)], summary)
    print(f"cheekSquintLeft/Right, the largest over all {len(results)} crops (raw landmarker): {cheek_squint:.2g}")
    judged = [f for _, _, f in results if f is not None and thresholds.judges(f)]
    sharp = [f.sharpness for f in judged if f.sharpness is not None]
    soft = sum(1 for s in sharp if s < thresholds.face_soft)
    print(
        f"\nface sharpness on the crops (web photos, many upscaled): median {statistics.median(sharp):.3f}, "
        f"below face_soft {soft}/{len(sharp)}, not measurable {len(judged) - len(sharp)}"
    )


def _scores_cv(judged: list[tuple[Row, Face]], summary: dict[str, str]) -> None:
    """5-fold CV, 20 repeats: each score's threshold set on the training folds as the lowest that
    flags at most 1 % of their open faces, then applied to the held-out fold."""
    closed = np.array([row["label"] == "closed" for row, _ in judged])

    def mean(face: Face, left: str, right: str) -> float:
        return (face.blendshapes[left] + face.blendshapes[right]) / 2

    def blink(face: Face) -> float:
        return mean(face, "eyeBlinkLeft", "eyeBlinkRight")

    scores: dict[str, Callable[[Face], float] | None] = {
        "mean(blinkL,R) [default]": blink,
        "max(blinkL,R)": lambda f: max(f.blendshapes["eyeBlinkLeft"], f.blendshapes["eyeBlinkRight"]),
        "min(blinkL,R) (both eyes)": lambda f: min(f.blendshapes["eyeBlinkLeft"], f.blendshapes["eyeBlinkRight"]),
        "mean blink - 0.2 smile": lambda f: blink(f) - 0.2 * mean(f, "mouthSmileLeft", "mouthSmileRight"),
        "mean blink - 0.3 jawOpen": lambda f: blink(f) - 0.3 * f.blendshapes["jawOpen"],
        "mean blink - 0.2 squint": lambda f: blink(f) - 0.2 * mean(f, "eyeSquintLeft", "eyeSquintRight"),
        "mean blink - 0.2 lookDown": lambda f: blink(f) - 0.2 * mean(f, "eyeLookDownLeft", "eyeLookDownRight"),
        "logistic regression, 9 blendshapes": None,
    }
    matrix = np.array([[face.blendshapes[name] for name in faces.KEPT_BLENDSHAPES] for _, face in judged])
    rng = np.random.default_rng(20251201)
    print("\nblink vs laugh / squint / look-down: 5-fold CV x20 (threshold: <= 1 % of the training folds' open faces above it)")
    print("held-out recall / open flagged:")
    for name, score in scores.items():
        values = None if score is None else np.array([score(face) for _, face in judged])
        recalls, alarms = [], []
        for _ in range(20):
            folds = np.array_split(rng.permutation(len(judged)), 5)
            flagged = np.zeros(len(judged), dtype=bool)
            for k, test in enumerate(folds):
                train = np.concatenate([fold for j, fold in enumerate(folds) if j != k])
                if values is None:
                    weights = _logistic(matrix[train], closed[train])
                    train_values, test_values = _affine(matrix[train], weights), _affine(matrix[test], weights)
                else:
                    train_values, test_values = values[train], values[test]
                opened = np.sort(train_values[~closed[train]])[::-1]
                flagged[test] = test_values > opened[int(0.01 * len(opened))]
            recalls.append(flagged[closed].mean())
            alarms.append(flagged[~closed].mean())
        print(f"  {name:36s} recall {np.mean(recalls):.3f}  open flagged {np.mean(alarms):.3f}")
        if score is blink:
            summary["blink rule, 5-fold CV x20"] = f"recall {np.mean(recalls):.3f}, open flagged {100 * np.mean(alarms):.1f} %"
    blinks = np.array([face.blink for _, face in judged])
    print("mean blink on the full set: recall / open flagged at thresholds")
    for threshold in (0.30, 0.33, 0.35, 0.38, 0.40, 0.45):
        print(f"  {threshold:.2f}: {np.mean(blinks[closed] > threshold):.3f} / {np.mean(blinks[~closed] > threshold):.3f}")
    print(
        "highest open:",
        " ".join(f"{v:.3f}" for v in sorted(blinks[~closed])[-3:]),
        "| lowest closed:",
        " ".join(f"{v:.3f}" for v in sorted(blinks[closed])[:8]),
    )


def _logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1e-2) -> np.ndarray:
    design = np.c_[x, np.ones(len(x))]
    weights = np.zeros(design.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-design @ weights))
        gradient = design.T @ (p - y) + ridge * np.r_[weights[:-1], 0]
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + ridge * np.eye(len(weights))
        weights -= np.linalg.solve(hessian, gradient)
    return weights


def _affine(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.c_[x, np.ones(len(x))] @ weights


def _frames(data: Data, models: FaceModels, summary: dict[str, str]) -> None:
    print(f"\n=== whole frames ({len(data.frames)} frames, {sum(int(r['faces']) for r in data.frames)} faces counted by eye) ===")
    thresholds = Thresholds()
    images = {row["file"]: data.image(row) for row in data.frames}
    for levels in (0, 1, 2):
        counted, total, flagged_open, lines = 0, 0, 0, []
        for row in data.frames:
            verdict = faces.judge_faces(images[row["file"]], models, thresholds, levels)
            expected = int(row["faces"])
            counted += min(verdict.faces, expected)
            total += expected
            flagged_open += row["label"] == "open" and bool(verdict.eyes_closed)
            detail = ", ".join(
                f"{f.box[2] - f.box[0]}px eyes {f.eye_distance:.0f}"
                + (f" blink {f.blink:.2f} sharp {f.sharpness}" if thresholds.judges(f) else " (not judged)")
                for f in verdict.found
            )
            lines.append(
                f"  {row['file'].split('/')[-1]:18s} {row['label']:5s} labelled {expected} found {verdict.faces} "
                f"closed {verdict.eyes_closed} face_sharpness {verdict.face_sharpness} {list(verdict.reasons)}  [{detail}]"
            )
        opened = sum(1 for row in data.frames if row["label"] == "open")
        print(f"tile_levels {levels}: faces counted {counted}/{total} = {counted / total:.2f}, all-open frames flagged {flagged_open}/{opened}")
        if levels == faces.TILE_LEVELS:
            print(*lines, sep="\n")
        summary[f"faces counted in whole frames, tile_levels {levels}"] = f"{counted}/{total}"
        if levels == faces.TILE_LEVELS:
            summary["all-open whole frames flagged eyes-closed"] = f"{flagged_open}/{opened}"


def _groups(data: Data, models: FaceModels, summary: dict[str, str]) -> None:
    """Crops pasted in a row on a photo without people, faces 180 px wide (eyes ~60-70 px apart)."""
    print("\n=== synthetic groups: 4-6 crops pasted on a photo without people ===")
    rng = np.random.default_rng(7)
    closed = [r["file"] for r in data.crops if r["label"] == "closed"]
    opened = [r["file"] for r in data.crops if r["label"] == "open"]
    for blinkers in (0, 1):
        flagged, counted, placed, exact = 0, 0, 0, 0
        for trial in range(40):
            count = int(rng.integers(4, 7))
            picks = list(rng.choice(opened, count - blinkers, replace=False)) + list(rng.choice(closed, blinkers, replace=False))
            canvas = data.photo(data.photo_paths[trial % len(data.photo_paths)]).resize((1500, 1000))
            for slot, name in enumerate(rng.permutation(picks)):
                with Image.open(data.dev / name) as crop:
                    face = crop.convert("RGB").resize((180, 180), Image.Resampling.LANCZOS)
                canvas.paste(face, (40 + slot * 240 + int(rng.integers(0, 30)), 300 + int(rng.integers(-150, 150))))
            verdict = faces.judge_faces(canvas, models)
            flagged += verdict.eyes_closed > 0
            exact += verdict.eyes_closed == blinkers
            counted += min(verdict.faces, count)
            placed += count
        print(f"{blinkers} blinker(s): frames flagged {flagged}/40, eyes_closed count exact in {exact}/40, faces counted {counted}/{placed}")
        summary[f"synthetic groups with {blinkers} blinker(s) flagged"] = f"{flagged}/40 (count exact {exact}/40)"


def _photos(data: Data, models: FaceModels, summary: dict[str, str]) -> None:
    print(f"\n=== {len(data.photo_paths)} photos without people (any face is a false one) ===")
    images = [(path, data.photo(path)) for path in data.photo_paths]
    for levels in (0, 1, 2):
        false = []
        for path, image in images:
            verdict = faces.judge_faces(image, models, Thresholds(), levels)
            if verdict.faces:
                false.append(f"{path.name} {[f.box for f in verdict.found]} flags {list(verdict.reasons)}")
        passes = sum(len(windows) for _, windows in faces._levels(2560, 1600, levels))
        print(f"tile_levels {levels} ({passes} passes at 2560x1600): false faces in {len(false)}/{len(images)} photos")
        for line in false:
            print(f"  {line}")
        if levels == faces.TILE_LEVELS:
            summary["photos without people with a face found"] = f"{len(false)}/{len(images)}"


def _sweep(data: Data, models: FaceModels, summary: dict[str, str]) -> None:
    print("\n=== small-face bound: crops reduced to an eye distance, judged anyway ===")
    native: dict[str, float] = {}
    for row in data.crops:
        image = data.image(row)
        face = main_face(faces.measure_faces(image, models, 0), image)
        if face is not None:
            native[row["file"]] = face.eye_distance
    print(f"native eye distance of the crops: min {min(native.values()):.0f}, median {statistics.median(native.values()):.0f} px")
    default = Thresholds().closed_eyes
    print(f"{'eye px':>6s} {'found':>6s} {'recall':>7s} {'open fl.':>8s}  (at {default})   threshold for <=1 % open: recall")
    for target in (12, 16, 20, 25, 30, 40, 60):
        blinks, labels, found, tried = [], [], 0, 0
        for row in data.crops:
            if native.get(row["file"], 0) <= target:
                continue
            tried += 1
            with Image.open(data.dev / row["file"]) as opened:
                original = opened.convert("RGB")
            scale = target / native[row["file"]]
            small = original.resize((max(8, round(original.width * scale)), max(8, round(original.height * scale))), Image.Resampling.LANCZOS)
            image = padded(small)
            face = main_face(faces.measure_faces(image, models, 0), image)
            if face is None:
                continue
            found += 1
            blinks.append(face.blink)
            labels.append(row["label"] == "closed")
        blink, closed = np.array(blinks), np.array(labels)
        opened_blinks = np.sort(blink[~closed])[::-1]
        threshold = opened_blinks[int(0.01 * len(opened_blinks))]
        print(
            f"{target:6d} {found / tried:6.2f} {np.mean(blink[closed] > default):7.3f} {np.mean(blink[~closed] > default):8.3f}"
            f"                 {threshold:.2f}: {np.mean(blink[closed] > threshold):.3f}"
        )


def _blur(data: Data, models: FaceModels, summary: dict[str, str]) -> None:
    default = Thresholds().face_soft
    cuts = tuple(sorted({*SOFT_CUTS, default}))
    print(f"\n=== face sharpness after a Gaussian blur at native scale (judged faces; default face_soft {default}) ===")
    for name, chosen in (("whole frames", data.frames), ("crops (every 3rd)", data.crops[::3])):
        print(f"{name}: sigma -> faces found, judged, not measurable, sharpness median / min / max, share of judged flagged at {cuts}")
        originals = [data.image(row) for row in chosen]
        for sigma in BLUR_SIGMAS:
            values, unmeasured, found = [], 0, 0
            for image in originals:
                verdict = faces.judge_faces(gaussian(image, sigma), models)
                found += verdict.faces
                for face in verdict.found:
                    if Thresholds().judges(face):
                        if face.sharpness is None:
                            unmeasured += 1
                        else:
                            values.append(face.sharpness)
            judged = len(values) + unmeasured  # a face whose sharpness cannot be measured is never flagged
            rates = " ".join(f"{sum(value < cut for value in values) / judged:.2f}" for cut in cuts) if judged else "-"
            spread = f"{statistics.median(values):.3f} / {min(values):.3f} / {max(values):.3f}" if values else "-"
            print(
                f"  sigma {sigma:3.1f} (ideal step {1 / np.sqrt(1 + sigma**2):.2f}): {found:3d} found, {judged:3d} judged, "
                f"{unmeasured} not measurable, {spread}; flagged {rates}"
            )
            if judged and sigma in (0.0, 1.5, 2.0, 2.5, 3.0):
                flagged = sum(1 for value in values if value < default)
                lowest = f", lowest {min(values):.3f}" if values else ""
                summary[f"face-soft, {name}, sigma {sigma}"] = f"{flagged}/{judged} judged faces flagged ({unmeasured} not measurable{lowest})"


def _timing(data: Data, models: FaceModels, summary: dict[str, str]) -> None:
    cores = len(os.sched_getaffinity(0))
    print(
        f"\n=== ms per photo added, decode excluded ({cores} core{'s' if cores > 1 else ''}; median over the photos of the best of 3 rounds; "
        "wall clock, and CPU time of all the process's threads: on a shared machine wall is inflated) ==="
    )
    photos = [data.photo(path) for path in data.photo_paths]
    crops = [data.image(row) for row in data.crops[::6]]
    frames = [data.image(row) for row in data.frames]
    large = [photos[0].resize((6000, 4000), Image.Resampling.LANCZOS)]  # the passes are those of a 24-MP 3:2 frame
    start = time.perf_counter()
    with faces.load_models():
        pass
    print(f"loading the models: {1000 * (time.perf_counter() - start):.0f} ms")
    # The best of many calls is close to what each step costs alone.
    tile = np.asarray(photos[0].reduce(20).crop((0, 0, 128, 80)))
    face = crops[0].crop((crops[0].width // 4, crops[0].height // 4, 3 * crops[0].width // 4, 3 * crops[0].height // 4))
    steps: dict[str, Callable[[], object]] = {
        "detector pass (128 px, no face)": lambda: models.detect(tile),
        "landmarker on one face crop": lambda: models.landmarks(np.asarray(face)),
        "box-reduce a photo by 2 (a level's view)": lambda: photos[0].reduce(2),
    }
    cells = []
    for name, step in steps.items():
        best = float("inf")
        for _ in range(30):
            begin = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - begin)
        cells.append(f"{name} {1000 * best:.1f}")
    print("best of 30 calls, ms: " + " | ".join(cells))
    size = [int(statistics.median(image.size[axis] for image in photos)) for axis in (0, 1)]
    for levels in (0, 1, 2):
        cells = []
        for name, images in (
            (f"no face ({len(photos)} photos, ~{size[0]}x{size[1]})", photos),
            (f"1 face ({len(crops)} padded crops)", crops),
            (f"group ({len(frames)} whole frames)", frames),
            ("24 MP, no face (the first photo upscaled to 6000x4000)", large),
        ):
            wall, cpu = [], []
            for image in images:
                best_wall = best_cpu = float("inf")
                for _ in range(3):
                    begin, begin_cpu = time.perf_counter(), time.process_time()
                    faces.judge_faces(image, models, Thresholds(), levels)
                    best_wall = min(best_wall, time.perf_counter() - begin)
                    best_cpu = min(best_cpu, time.process_time() - begin_cpu)
                wall.append(best_wall)
                cpu.append(best_cpu)
            cells.append(f"{name} {1000 * statistics.median(wall):.0f} wall / {1000 * statistics.median(cpu):.0f} cpu")
            summary[f"ms added, {cores} core(s), tile_levels {levels}, {name.split(' (')[0]}"] = (
                f"{1000 * statistics.median(cpu):.0f} cpu ({1000 * statistics.median(wall):.0f} wall)"
            )
        print(f"tile_levels {levels}: " + " | ".join(cells), flush=True)


RUNS: dict[str, Callable[[Data, FaceModels, dict[str, str]], None]] = {
    "range": _range,
    "crops": _crops,
    "frames": _frames,
    "groups": _groups,
    "photos": _photos,
    "sweep": _sweep,
    "blur": _blur,
    "timing": _timing,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.faces_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="faces-dev: labels.csv and images/ (such as ../shared/data/faces-dev)")
    parser.add_argument("--photos", type=Path, required=True, help="photos without people (such as ../shared/data/photos)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of: {','.join(SECTIONS)}")
    parser.add_argument("--threads", type=int, default=0, help="pin the process to this many cores (0: as allowed)")
    args = parser.parse_args(argv)
    sections = [name for name in args.sections.split(",") if name]
    if unknown := [name for name in sections if name not in RUNS]:
        parser.error(f"unknown sections: {', '.join(unknown)}")
    if not (args.data / "labels.csv").is_file():
        parser.error(f"no labels.csv in {args.data} (give --data, the faces-dev folder)")
    if not args.photos.is_dir():
        parser.error(f"{args.photos} is not a folder (give --photos)")
    if args.threads:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.threads]))
    import mediapipe

    data = Data(args.data, args.photos)
    summary: dict[str, str] = {}
    with faces.load_models() as models:
        print(
            f"mediapipe {mediapipe.__version__}, cores allowed: {len(os.sched_getaffinity(0))}, "
            f"defaults: {Thresholds()}, tile_levels {faces.TILE_LEVELS}\n",
            flush=True,
        )
        for name in sections:
            RUNS[name](data, models, summary)
            sys.stdout.flush()
    if "timing" in sections and not args.threads:
        print("\n--- the same timing on 1 core ---", flush=True)
        again = ["--data", str(args.data), "--photos", str(args.photos), "--sections", "timing", "--threads", "1"]
        subprocess.run([sys.executable, "-m", "evaluation.faces_eval", *again], check=True)
    if summary:
        print("\n=== summary (the figures of the issue's 'Done when', faces-dev; defaults unless stated) ===")
        print(*(f"  {key}: {value}" for key, value in summary.items()), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
