"""A simulated shoot, and how aescull's verdicts cull it: reject precision and recall, picks, sets.

    python -m evaluation.shoot_eval make DIR --photos ../shared/data/photos --phone ../shared/data/clive-dev [--seed 0]
    python -m evaluation.shoot_eval evaluate DIR [--weights W] [-- extra aescull options]

``make`` writes a shoot a photographer could bring home, with ``truth.csv`` saying what each file
is and what a good culler does with it:

- bursts: one sharp, well-exposed frame (the pick) and siblings shaken, out of focus or
  mis-exposed (rejects), shot a few tenths of a second apart, EXIF capture times with sub-seconds;
- exposure brackets: three frames at -2 / 0 / +2 EV (EXIF ExposureBiasValue, ExposureMode auto
  bracket), a tenth of a second apart: a set that must be kept whole (none of it rejected);
- sharp-subject / soft-background keepers: the centre sharp, the rest blurred (feathered), as a
  shallow depth of field gives: never rejected;
- copies without EXIF: good photos re-saved without metadata and with one shared file time (as a
  bulk copy from a phone or a chat app leaves them): distinct scenes, never rejected as duplicates;
- phone photos rated by people (clive-dev): clearly bad ones (MOS below 35) are rejects, clearly
  good ones (MOS above 70) are not.

``evaluate`` runs ``aescull score DIR --verdict`` as a user would and prints each figure on its
own line (no combined score): reject precision, reject recall, how often the pick of a burst is
its sharp frame, and how many sets were kept whole.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from evaluation import photos_in
from training import degrade

TRUTH_FILE = "truth.csv"
SIDE = 2048  # long side of the camera frames: camera-like detail, quick to score
SHOOT_START = datetime(2024, 9, 14, 10, 0, 0)
BULK_COPY_TIME = datetime(2024, 9, 20, 18, 30, 0, tzinfo=timezone.utc)  # one file time for every copy
CLEARLY_BAD_MOS = 35.0
CLEARLY_GOOD_MOS = 70.0


@dataclass(frozen=True)
class Truth:
    """``expected``: ``pick`` (the best of its moment), ``reject``, or ``keep`` (anything but reject).
    ``moment`` groups the frames of one burst, ``set`` the frames of one bracket."""

    path: str
    kind: str
    expected: str
    moment: str
    set: str
    source: str


def _camera_frame(path: Path) -> Image.Image:
    """The source photo at SIDE px on its long side (never enlarged), upright RGB."""
    with Image.open(path) as image:
        image.draft("RGB", (SIDE, SIDE))
        rgb = image.convert("RGB")
    scale = min(1.0, SIDE / max(rgb.size))
    return rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS) if scale < 1 else rgb


def _jitter(frame: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The camera moved a little between frames: a 94-98 % crop, shifted by up to 2 %, same size."""
    keep = rng.uniform(0.94, 0.98)
    width, height = frame.width * keep, frame.height * keep
    left = (frame.width - width) / 2 + rng.uniform(-0.02, 0.02) * frame.width
    top = (frame.height - height) / 2 + rng.uniform(-0.02, 0.02) * frame.height
    left, top = min(max(left, 0), frame.width - width), min(max(top, 0), frame.height - height)
    return frame.resize(frame.size, Image.Resampling.LANCZOS, box=(left, top, left + width, top + height))


def _spoiled(frame: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """What goes wrong in a burst: the hand shook, the focus missed, the meter was fooled."""
    if kind == "shaken":
        return frame.filter(ImageFilter.BoxBlur((int(rng.integers(6, 10)), 0)))
    if kind == "defocused":
        return frame.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(3.0, 4.5))))
    return degrade.exposure(frame, float(rng.choice([-1.0, 1.0]) * rng.uniform(1.6, 2.2)))


def _shallow_focus(frame: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The centre sharp and the rest blurred by 8 px, through a feathered ellipse: a shallow depth of field."""
    blurred = frame.filter(ImageFilter.GaussianBlur(radius=8))
    mask = Image.new("L", frame.size, 0)
    width, height = frame.size
    rx, ry = width * rng.uniform(0.16, 0.24), height * rng.uniform(0.2, 0.3)
    ImageDraw.Draw(mask).ellipse((width / 2 - rx, height / 2 - ry, width / 2 + rx, height / 2 + ry), fill=255)
    return Image.composite(frame, blurred, mask.filter(ImageFilter.GaussianBlur(radius=min(width, height) / 40)))


def _exif(taken: datetime, bias: float = 0.0, bracket: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "aescull"  # Make
    exif[0x0110] = "simulated shoot"  # Model
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    sub[0x9291] = f"{taken.microsecond // 1000:03d}"  # SubSecTimeOriginal
    sub[0x829A] = (1, 250)  # ExposureTime
    sub[0x829D] = (56, 10)  # FNumber
    sub[0x8827] = 200  # ISO
    sub[0x920A] = (50, 1)  # FocalLength
    sub[0x9204] = (round(bias * 3), 3)  # ExposureBiasValue, in thirds of a stop
    sub[0xA402] = 2 if bracket else 0  # ExposureMode: 2 = auto bracket
    return exif.tobytes()


def _save(image: Image.Image, path: Path, when: datetime, exif: bytes | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=92, **({"exif": exif} if exif else {}))
    stamp = int(when.replace(tzinfo=when.tzinfo or timezone.utc).timestamp() * 1_000_000_000)
    os.utime(path, ns=(stamp, stamp))


def make_shoot(photos: Path, phone: Path, out: Path, seed: int = 0) -> list[Truth]:
    """Write the shoot into ``out`` (which must not hold one yet) and its ``truth.csv``."""
    if (out / TRUTH_FILE).exists():
        raise SystemExit(f"{out} already holds a shoot")
    rng = np.random.default_rng(seed)
    cameras = list(rng.permutation(photos_in(photos)))
    if len(cameras) < 6:
        raise SystemExit(f"need at least 6 photos in {photos}")
    with open(phone / "labels.csv", newline="") as handle:
        rated = [(row["filename"], float(row["mos"])) for row in csv.DictReader(handle)]
    order = list(rng.permutation(len(rated)))
    bad = [rated[i] for i in order if rated[i][1] < CLEARLY_BAD_MOS][:30]
    good = [rated[i] for i in order if rated[i][1] > CLEARLY_GOOD_MOS][:45]
    truth: list[Truth] = []
    clock = SHOOT_START
    burst_count, bracket_count = len(cameras) // 2, max(1, len(cameras) // 6)
    bokeh_count = len(cameras) - burst_count - bracket_count
    for number, source in enumerate(cameras[:burst_count]):
        base = _camera_frame(source)
        frames = int(rng.integers(4, 7))
        sharp = int(rng.integers(0, frames))
        moment = f"burst{number:02d}"
        for index in range(frames):
            frame = _jitter(base, rng)
            kind = "burst-sharp" if index == sharp else "burst-" + str(rng.choice(["shaken", "defocused", "mis-exposed"]))
            if index != sharp:
                frame = _spoiled(frame, kind.removeprefix("burst-"), rng)
            name = f"shoot/{moment}_{index}.jpg"
            _save(frame, out / name, clock, _exif(clock))
            truth.append(Truth(name, kind, "pick" if index == sharp else "reject", moment, "", source.name))
            clock += timedelta(seconds=float(rng.uniform(0.2, 0.5)))
        clock += timedelta(seconds=float(rng.uniform(40, 200)))
    for number, source in enumerate(cameras[burst_count : burst_count + bracket_count]):
        base = _camera_frame(source)
        for index, bias in enumerate((-2.0, 0.0, 2.0)):
            name = f"shoot/bracket{number:02d}_{index}.jpg"
            _save(degrade.exposure(base, bias) if bias else base, out / name, clock, _exif(clock, bias, bracket=True))
            truth.append(Truth(name, "bracket", "keep", "", f"bracket{number:02d}", source.name))
            clock += timedelta(seconds=0.1)
        clock += timedelta(seconds=float(rng.uniform(40, 200)))
    for number, source in enumerate(cameras[burst_count + bracket_count : burst_count + bracket_count + bokeh_count]):
        name = f"shoot/portrait{number:02d}.jpg"
        _save(_shallow_focus(_camera_frame(source), rng), out / name, clock, _exif(clock))
        truth.append(Truth(name, "shallow-focus", "keep", "", "", source.name))
        clock += timedelta(seconds=float(rng.uniform(40, 200)))
    for filename, mos in good[:15]:  # re-saved without metadata, all with the bulk copy's one file time
        name = f"copies/{Path(filename).stem}.jpg"
        with Image.open(phone / "images" / filename) as image:
            _save(image.convert("RGB"), out / name, BULK_COPY_TIME)
        truth.append(Truth(name, "copy-without-exif", "keep", "", "", filename))
    phone_clock = datetime(2024, 9, 1, 8, 0, 0)
    for group, expected in ((bad, "reject"), (good[15:], "keep")):
        for filename, mos in group:
            name = f"phone/{filename}"
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((phone / "images" / filename).read_bytes())
            stamp = int(phone_clock.replace(tzinfo=timezone.utc).timestamp() * 1_000_000_000)
            os.utime(target, ns=(stamp, stamp))
            truth.append(Truth(name, f"phone MOS {mos:.0f}", expected, "", "", filename))
            phone_clock += timedelta(hours=float(rng.uniform(1, 9)))
    with open(out / TRUTH_FILE, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[field.name for field in fields(Truth)])
        writer.writeheader()
        writer.writerows(asdict(row) for row in truth)
    return truth


def read_truth(folder: Path) -> list[Truth]:
    with open(folder / TRUTH_FILE, newline="") as handle:
        return [Truth(**row) for row in csv.DictReader(handle)]


@dataclass(frozen=True)
class Figures:
    rejected: int
    expected_rejects: int
    reject_precision: float
    reject_recall: float
    bursts: int
    sharp_picked: int
    sets: int
    sets_whole: int
    false_rejects: tuple[str, ...]
    missed_rejects: tuple[str, ...]


def shoot_figures(truth: Sequence[Truth], verdicts: dict[str, dict[str, Any]]) -> Figures:
    """Each figure alone: a reject is right when the truth says reject; a burst's pick is right
    when its sharp frame is picked; a set is whole when all of it or none of it is rejected."""
    rejected = {path for path, row in verdicts.items() if row.get("verdict") == "reject"}
    expected = {row.path for row in truth if row.expected == "reject"}
    right = rejected & expected
    moments: dict[str, list[Truth]] = defaultdict(list)
    sets: dict[str, list[Truth]] = defaultdict(list)
    for row in truth:
        if row.moment:
            moments[row.moment].append(row)
        if row.set:
            sets[row.set].append(row)
    sharp_picked = sum(
        any(verdicts.get(row.path, {}).get("verdict") == "pick" and row.expected == "pick" for row in frames)
        and sum(verdicts.get(row.path, {}).get("verdict") == "pick" for row in frames) == 1
        for frames in moments.values()
    )
    whole = sum(len({row.path in rejected for row in members}) == 1 for members in sets.values())
    return Figures(
        rejected=len(rejected & {row.path for row in truth}),
        expected_rejects=len(expected),
        reject_precision=len(right) / len(rejected) if rejected else float("nan"),
        reject_recall=len(right) / len(expected) if expected else float("nan"),
        bursts=len(moments),
        sharp_picked=sharp_picked,
        sets=len(sets),
        sets_whole=whole,
        false_rejects=tuple(sorted(rejected - expected)),
        missed_rejects=tuple(sorted(expected - rejected)),
    )


def _evaluate(args: argparse.Namespace) -> None:
    folder: Path = args.folder.resolve()
    truth = read_truth(folder)
    command = [sys.executable, "-m", "aescull", "score", ".", "--verdict", "--format", "jsonl", "--quiet", "--no-cache",
               *(["--weights", str(args.weights)] if args.weights else []), *args.extra]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"aescull failed (exit {done.returncode}): {done.stderr.strip()}")
    verdicts = {json.loads(line)["path"]: json.loads(line) for line in done.stdout.splitlines() if line.strip()}
    figures = shoot_figures(truth, verdicts)
    print(f"{len(truth)} files: {figures.expected_rejects} should be rejected, {figures.bursts} bursts, {figures.sets} sets")
    print(f"reject precision  {figures.reject_precision:.3f}  ({figures.rejected} rejected)")
    print(f"reject recall     {figures.reject_recall:.3f}")
    print(f"sharp frame picked in {figures.sharp_picked} of {figures.bursts} bursts")
    print(f"sets kept whole   {figures.sets_whole} of {figures.sets}")
    for label, paths in (("rejected but should not be", figures.false_rejects), ("should be rejected but is not", figures.missed_rejects)):
        for path in paths:
            row = verdicts.get(path, {})
            print(f"  {label}: {path} ({row.get('verdict')}: {', '.join(row.get('verdict_reasons') or [])})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evaluation.shoot_eval", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="write a simulated shoot and its truth.csv")
    make.add_argument("folder", type=Path)
    make.add_argument("--photos", type=Path, required=True, help="high-resolution camera photos (such as ../shared/data/photos)")
    make.add_argument("--phone", type=Path, required=True, help="phone photos with labels.csv of MOS (such as ../shared/data/clive-dev)")
    make.add_argument("--seed", type=int, default=0)
    evaluate = commands.add_parser("evaluate", help="cull the shoot with aescull's verdicts and print the figures")
    evaluate.add_argument("folder", type=Path)
    evaluate.add_argument("--weights", type=Path, help="checkpoint (default: the bundled weights)")
    evaluate.add_argument("extra", nargs="*", help="more aescull score options, after --")
    args = parser.parse_args(argv)
    if args.command == "make":
        truth = make_shoot(args.photos, args.phone, args.folder, args.seed)
        print(f"{len(truth)} files written to {args.folder}")
    else:
        _evaluate(args)


if __name__ == "__main__":
    main()
