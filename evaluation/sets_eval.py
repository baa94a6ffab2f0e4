"""Measure set detection (:mod:`aescull.judge.sets`) on brackets, stacks and panoramas made from real photos.

    python -m evaluation.sets_eval --photos ../shared/data/photos [--blur 2.5]

From each source photo (1200 px on its long side, as the frames of ``evaluation.groups_eval``):

- a **bracket**: the photo at 0, -2 and +2 stops (a camera's order; :func:`training.degrade.exposure`),
  0.1 s apart, ExposureBiasValue set;
- a **focus stack**: three frames, each sharp in one horizontal third and blurred (Gaussian,
  ``--blur`` px) elsewhere, 0.4 s apart, one manual setting;
- a **panorama**: three crops of the photo, each 40 % of a frame further right, 1.5 s apart, one
  manual setting.

Each set is written to a folder of its own, decoded as ``aescull score`` decodes, and marked by
:func:`aescull.judge.sets.mark_sets`. Printed: per kind, how many sets were found whole (all
three frames in one set of the right kind), split or partly found, found as another kind, or
missed. The false-set side is measured on bursts by ``python -m evaluation.groups_eval evaluate``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image, ImageFilter
from PIL.TiffImagePlugin import IFDRational

from aescull.judge.sets import mark_sets, set_clues
from aescull.pipeline.decode import decode
from aescull.rows.record import ScoreRecord
from evaluation import photos_in
from training import degrade

FRAME_SIDE = 1200
START = datetime(2024, 6, 1, 9, 0, 0)
KINDS = ("bracket", "stack", "panorama")


def _exif(seconds: float, bias: float = 0.0) -> Image.Exif:
    """A camera's EXIF: capture time with milliseconds, and one manual setting (1/250 s, f/5.6, ISO 200, 50 mm)."""
    taken = START + timedelta(seconds=seconds)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "aescull", "synthetic set"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    sub[0x9291] = f"{taken.microsecond // 1000:03d}"
    sub[0x829A], sub[0x829D], sub[0x8827], sub[0x920A] = IFDRational(1, 250), IFDRational(56, 10), 200, IFDRational(50, 1)
    sub[0x9204] = IFDRational(round(bias * 3), 3)
    sub[0x8822] = 1
    return exif


def _fitted(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def _frames(source: Path, kind: str, blur: float) -> list[tuple[Image.Image, float, float]]:
    """(image, seconds, exposure bias) of each frame of one set made from ``source``."""
    with Image.open(source) as opened:
        photo = opened.convert("RGB")
    if kind == "bracket":
        base = _fitted(photo, FRAME_SIDE)
        return [(degrade.exposure(base, stop), 0.1 * index, stop) for index, stop in enumerate((0.0, -2.0, 2.0))]
    if kind == "stack":
        sharp = _fitted(photo, FRAME_SIDE)
        soft = sharp.filter(ImageFilter.GaussianBlur(blur))
        band = sharp.height // 3
        frames = []
        for index in range(3):
            frame = soft.copy()
            frame.paste(sharp.crop((0, index * band, sharp.width, (index + 1) * band)), (0, index * band))
            frames.append((frame, 0.4 * index, 0.0))
        return frames
    wide = _fitted(photo, round(FRAME_SIDE * 1.8))  # three frames 40 % apart span 1.8 frame widths
    width = round(wide.width / 1.8)
    height = min(wide.height, round(width * 2 / 3))
    top, step = (wide.height - height) // 2, round(0.4 * width)
    return [(wide.crop((index * step, top, index * step + width, top + height)), 1.5 * index, 0.0) for index in range(3)]


def _record(path: Path) -> ScoreRecord:
    photo = decode(path, max_side=512)
    info = photo.info
    return ScoreRecord(path, 0.5, info.width, info.height, taken=info.taken, camera=info.camera, size=1, mtime_ns=1,
                       clues=set_clues(photo.pixels, info.exposure))


def _outcome(kind: str, marked: Sequence[ScoreRecord]) -> str:
    found = {(record.set_kind, record.set_id) for record in marked}
    if len(found) == 1 and None not in {record.set_id for record in marked}:
        return "whole" if found == {(kind, marked[0].set_id)} else "as " + str(marked[0].set_kind)
    return "missed" if found == {(None, None)} else "split or partly"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evaluation.sets_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="the source photos (such as ../shared/data/photos)")
    parser.add_argument("--blur", type=float, default=2.5, help="Gaussian blur (px at 1200 px) outside a stack frame's sharp band")
    args = parser.parse_args(argv)
    sources = photos_in(args.photos)
    if not sources:
        raise SystemExit(f"no photos in {args.photos}")
    results: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    with tempfile.TemporaryDirectory(prefix="aescull-sets-") as scratch:
        for number, source in enumerate(sources):
            for kind in KINDS:
                folder = Path(scratch) / f"{number:03d}-{kind}"
                folder.mkdir()
                paths = []
                for index, (image, seconds, bias) in enumerate(_frames(source, kind, args.blur)):
                    path = folder / f"IMG_{index + 1:04d}.jpg"
                    image.save(path, "JPEG", quality=92, exif=_exif(seconds, bias))
                    paths.append(path)
                outcome = _outcome(kind, mark_sets([_record(path) for path in paths]))
                results[kind][outcome] += 1
                if outcome != "whole":
                    print(f"{kind:9s} {outcome:16s} {source.name}", file=sys.stderr)
    for kind in KINDS:
        counts = results[kind]
        print(f"{kind:9s} {counts['whole']} of {sum(counts.values())} found whole"
              + "".join(f", {count} {outcome}" for outcome, count in sorted(counts.items()) if outcome != "whole"))


if __name__ == "__main__":
    main()
