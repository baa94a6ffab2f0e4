"""Measure burst grouping on synthetic bursts made from real photos.

    python -m evaluation.groups_eval make /tmp/bursts                    # the photo folder + truth.csv
    python -m evaluation.groups_eval evaluate /tmp/bursts                # pairwise precision/recall, best kept
    python -m evaluation.groups_eval make-distinct /tmp/distinct --photos A --photos B   # a bulk copy
    aescull rank /tmp/bursts --groups -f table                        # what a user sees

Each burst is one source photo shot 4-7 times a fraction of a second apart: every frame is
shifted and cropped by a few percent, all but one are slightly blurred and some also exposed
differently; the one sharp, well exposed frame is the one a culler must keep. Half the bursts
start within seconds of the previous one, so capture time alone would merge different scenes.
Some bursts also have copies: byte-identical and resized copies that keep the EXIF time (the
same moment), and re-encoded or resized exports without EXIF, dated days later by their file
time (the same moment only when grouping with ``--duplicates``). ``truth.csv`` records which
burst each file shows and which frame is the sharp one. Everything follows from ``--seed``.

``make-distinct`` is the opposite trap: photos of distinct scenes copied as a phone, a chat
app or an export leaves them, without EXIF and all with one file time, so time says nothing
and every photo is a moment of its own; ``evaluate`` then lists every pair grouped anyway.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from PIL.TiffImagePlugin import IFDRational

from evaluation import photos_in
from training import degrade

TRUTH_FILE = "truth.csv"
FRAME_SIDE = 1200  # long side of a generated frame: camera-like detail, quick to score
SHOOT_START = datetime(2024, 6, 1, 9, 0, 0)
EXPORT_START = datetime(2024, 6, 4, 20, 0, 0, tzinfo=timezone.utc)
TRUTH_COLUMNS = ("path", "burst", "moment", "sharp", "kind", "source")
# The one file time of every photo of a bulk copy (make-distinct).
COPIED_AT = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
# JPEG segments that carry EXIF, XMP or IPTC metadata: APP1 and APP13.
_METADATA_MARKERS = (0xE1, 0xED)


@dataclass(frozen=True)
class TruthRow:
    """``moment`` is the group a file belongs to by default; ``burst`` the one with --duplicates."""

    path: str
    burst: str
    moment: str
    sharp: bool
    kind: str
    source: str


def _load_base(path: Path) -> Image.Image:
    """The source photo at a little over the frame size, so every crop still has full detail."""
    with Image.open(path) as image:
        image.draft("RGB", (FRAME_SIDE * 2, FRAME_SIDE * 2))
        rgb = image.convert("RGB")
    scale = FRAME_SIDE * 1.1 / max(rgb.size)
    return rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS)


def _frame(base: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The camera moved a little: a crop of 90-96 % of the view, shifted by up to 3 %."""
    keep = rng.uniform(0.90, 0.96)
    crop_w, crop_h = base.width * keep, base.height * keep
    centre_x = base.width / 2 + rng.uniform(-0.03, 0.03) * base.width
    centre_y = base.height / 2 + rng.uniform(-0.03, 0.03) * base.height
    left = min(max(centre_x - crop_w / 2, 0), base.width - crop_w)
    top = min(max(centre_y - crop_h / 2, 0), base.height - crop_h)
    size = (FRAME_SIDE, round(FRAME_SIDE * base.height / base.width))
    return base.resize(size, Image.Resampling.LANCZOS, box=(left, top, left + crop_w, top + crop_h))


def _weaker(frame: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A frame the culler should not keep: slight blur (hand shake, missed focus), and for some a
    different exposure (the meter followed a moving subject)."""
    weaker = frame.filter(ImageFilter.GaussianBlur(radius=rng.uniform(2.0, 3.5)))
    if rng.random() < 0.5:
        weaker = degrade.exposure(weaker, rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 0.7))
    return weaker


def _exif(taken: datetime) -> Image.Exif:
    """The capture time, and one set of manual exposure settings for every frame: the hardest case
    for set detection (aescull.judge.sets), which must then tell bursts from stacks and panoramas
    by their pixels alone."""
    exif = Image.Exif()
    exif[0x010F] = "aescull"
    exif[0x0110] = "synthetic burst"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    sub[0x9291] = f"{taken.microsecond // 1000:03d}"  # SubSecTimeOriginal, in milliseconds
    sub[0x829A] = IFDRational(1, 250)  # ExposureTime
    sub[0x829D] = IFDRational(56, 10)  # FNumber
    sub[0x8827] = 200  # ISOSpeedRatings
    sub[0x920A] = IFDRational(50, 1)  # FocalLength
    sub[0x9204] = IFDRational(0, 1)  # ExposureBiasValue
    sub[0x8822] = 1  # ExposureProgram: manual
    return exif


def _set_mtime(path: Path, when: datetime) -> None:
    stamp = int(when.replace(tzinfo=when.tzinfo or timezone.utc).timestamp() * 1_000_000_000)
    os.utime(path, ns=(stamp, stamp))


def make_bursts(photos: Path, out: Path, seed: int = 0, bursts: int | None = None) -> list[TruthRow]:
    """Write the burst library into ``out`` (which must not hold one yet) and its ``truth.csv``."""
    sources = photos_in(photos)
    if not sources:
        raise SystemExit(f"no photos in {photos}")
    rng = np.random.default_rng(seed)
    order = [sources[index] for index in rng.permutation(len(sources))][: bursts or len(sources)]
    for folder in ("shoot", "copies", "export"):
        (out / folder).mkdir(parents=True, exist_ok=False)
    truth: list[TruthRow] = []
    clock = SHOOT_START
    number = itertools.count(1)
    export_clock = EXPORT_START
    for index, source in enumerate(order):
        burst = f"b{index:02d}"
        base = _load_base(source)
        # Half the bursts start right after the previous one: a new scene within the time window.
        clock += timedelta(seconds=rng.uniform(0.8, 2.0) if rng.random() < 0.5 else rng.uniform(60, 1800))
        n_frames = int(rng.integers(4, 8))
        sharp_index = int(rng.integers(0, n_frames))
        frames: list[Path] = []
        for frame_index in range(n_frames):
            if frame_index:
                clock += timedelta(seconds=rng.uniform(0.08, 0.45))
            clock = clock.replace(microsecond=clock.microsecond // 1000 * 1000)
            image = _frame(base, rng)
            if frame_index != sharp_index:
                image = _weaker(image, rng)
            path = out / "shoot" / f"IMG_{next(number):04d}.jpg"
            image.save(path, "JPEG", quality=92, exif=_exif(clock))
            _set_mtime(path, clock)
            frames.append(path)
            truth.append(TruthRow(_relative(path, out), burst, burst, frame_index == sharp_index, "frame", _relative(path, out)))
        sharp = frames[sharp_index]
        if index % 2 == 0:  # copies that keep the EXIF capture time: the same moment
            original = frames[int(rng.integers(0, n_frames))]
            exact = out / "copies" / original.name
            shutil.copy2(original, exact)
            truth.append(TruthRow(_relative(exact, out), burst, burst, original == sharp, "exact copy", _relative(original, out)))
            original = frames[int(rng.integers(0, n_frames))]
            with Image.open(original) as image:
                exif = image.getexif()
                small = image.resize((round(image.width * 0.6), round(image.height * 0.6)), Image.Resampling.LANCZOS)
            resized = out / "copies" / f"{original.stem}_small.jpg"
            small.save(resized, "JPEG", quality=85, exif=exif)
            truth.append(TruthRow(_relative(resized, out), burst, burst, original == sharp, "resized copy", _relative(original, out)))
        if index % 3 == 0:  # exports without EXIF, dated by their file time days later
            for kind, scale, quality in (("re-encoded export", 1.0, 75), ("resized export", 0.5, 80)):
                original = frames[int(rng.integers(0, n_frames))]
                with Image.open(original) as image:
                    pixels = image.convert("RGB")
                if scale != 1.0:
                    pixels = pixels.resize((round(pixels.width * scale), round(pixels.height * scale)), Image.Resampling.LANCZOS)
                export = out / "export" / f"{burst}-{'web' if scale != 1.0 else 'full'}.jpg"
                pixels.save(export, "JPEG", quality=quality)
                export_clock += timedelta(seconds=1)
                _set_mtime(export, export_clock)
                truth.append(TruthRow(_relative(export, out), burst, f"{burst}-export", original == sharp, kind, _relative(original, out)))
    _write_truth(out, truth)
    return truth


def _without_metadata(data: bytes) -> bytes:
    """A JPEG's bytes without its EXIF, XMP and IPTC segments; the compressed pixels untouched."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    kept, position = [data[:2]], 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xDA:  # start of scan: the rest is the image
            break
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker not in _METADATA_MARKERS:
            kept.append(data[position:end])
        position = end
    return b"".join(kept) + data[position:]


def make_distinct(folders: Sequence[Path], out: Path) -> list[TruthRow]:
    """Copy every photo of ``folders`` into ``out/<folder name>/`` (which must not exist yet)
    without EXIF and with one shared file time, as a bulk copy leaves them; and its ``truth.csv``,
    where every photo is its own moment. JPEGs keep their compressed pixels; PNGs are re-written
    losslessly without their text chunks."""
    truth: list[TruthRow] = []
    for folder in folders:
        sources = photos_in(folder)
        if not sources:
            raise SystemExit(f"no photos in {folder}")
        target = out / folder.name
        target.mkdir(parents=True, exist_ok=False)
        for source in sources:
            copy = target / source.name
            if source.suffix.lower() == ".png":
                with Image.open(source) as image:
                    image.save(copy, "PNG")
            else:
                copy.write_bytes(_without_metadata(source.read_bytes()))
            _set_mtime(copy, COPIED_AT)
            name = _relative(copy, out)
            truth.append(TruthRow(name, name, name, True, "frame", str(source)))  # a moment of one frame
    _write_truth(out, truth)
    return truth


def _write_truth(out: Path, truth: Sequence[TruthRow]) -> None:
    with open(out / TRUTH_FILE, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS)
        for row in truth:
            writer.writerow([row.path, row.burst, row.moment, int(row.sharp), row.kind, row.source])


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def read_truth(folder: Path) -> list[TruthRow]:
    with open(folder / TRUTH_FILE, encoding="utf-8", newline="") as handle:
        return [
            TruthRow(row["path"], row["burst"], row["moment"], row["sharp"] == "1", row["kind"], row["source"])
            for row in csv.DictReader(handle)
        ]


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    best_kept: float
    lesser_copy_kept: int  # bursts whose first-ranked file is a resized or re-encoded copy, not an original
    predicted_groups: int
    true_groups: int
    bursts: int
    shared_groups: int  # groups of two photos or more
    largest_group: int
    grouped_pairs: int  # pairs of photos put in one group
    false_pairs: list[tuple[str, str]]  # of those, the pairs of two moments (or bursts)


def _same_group_pairs(labels: dict[str, str]) -> set[tuple[str, str]]:
    by_label: dict[str, list[str]] = {}
    for path, label in labels.items():
        by_label.setdefault(label, []).append(path)
    return {pair for members in by_label.values() for pair in itertools.combinations(sorted(members), 2)}


def grouping_scores(truth: Sequence[TruthRow], predicted: dict[str, tuple[str, int]], duplicates: bool) -> Scores:
    """Pairwise precision and recall against the moments (or, with duplicates, the bursts), and how
    often the frame ranked first in the group holding most of a burst is its sharp frame (or a copy
    of it; how many of those were a resized or re-encoded copy rather than the original is counted).

    ``predicted`` maps each relative path to its (group, rank in group).
    """
    true_labels = {row.path: row.burst if duplicates else row.moment for row in truth}
    predicted_labels = {path: predicted[path][0] for path in true_labels}
    true_pairs, predicted_pairs = _same_group_pairs(true_labels), _same_group_pairs(predicted_labels)
    hits = len(true_pairs & predicted_pairs)
    precision = hits / len(predicted_pairs) if predicted_pairs else 1.0
    recall = hits / len(true_pairs) if true_pairs else 1.0
    first_of_group = {group: path for path, (group, rank) in predicted.items() if rank == 1}
    by_path = {row.path: row for row in truth}
    kept = lesser = 0
    bursts = sorted({row.burst for row in truth})
    for burst in bursts:
        frames = [row.path for row in truth if row.burst == burst and row.kind == "frame"]
        main_group = Counter(predicted[path][0] for path in frames).most_common(1)[0][0]
        winner = by_path.get(first_of_group.get(main_group, ""))
        kept += winner is not None and winner.burst == burst and winner.sharp
        lesser += winner is not None and winner.kind not in ("frame", "exact copy")
    sizes = Counter(predicted_labels.values())
    shared = [size for size in sizes.values() if size > 1]
    return Scores(
        precision, recall, kept / len(bursts), lesser, len(sizes), len(set(true_labels.values())), len(bursts),
        len(shared), max(sizes.values(), default=0), len(predicted_pairs), sorted(predicted_pairs - true_pairs),
    )


# ---------------------------------------------------------------- command line


def _evaluate(args: argparse.Namespace) -> None:
    import torch

    from aescull.judge.groups import group_records
    from aescull.judge.sets import mark_sets
    from aescull.judge.signatures import similarity_of
    from aescull.model.checkpoint import load_model
    from aescull.pipeline.local import score_paths

    torch.set_num_threads(args.threads)
    folder: Path = args.folder
    truth = read_truth(folder)
    loaded = load_model(args.weights)
    records = list(score_paths([folder], model=loaded, max_side=args.max_side, signatures=True, workers=args.threads, cache_file=args.cache))
    failed = [record for record in records if record.error]
    if failed:
        raise SystemExit(f"{len(failed)} files failed to score, e.g. {failed[0].path}: {failed[0].error}")
    print(f"{len(records)} photos, {len({row.burst for row in truth})} bursts, model {loaded.name} ({loaded.sha256[:12]})")
    print(f"burst window {args.burst_window} s, similarity {args.similarity}")
    runs = (("default", args.similarity, False), ("--duplicates", args.similarity, True), ("time alone (--similarity -1)", -1.0, False))
    for label, similarity, duplicates in runs:
        grouped = group_records(records, window=args.burst_window, similarity=similarity, duplicates=duplicates)
        predicted = {_relative(record.path, folder): (record.group, record.rank_in_group) for record in grouped}
        result = grouping_scores(truth, predicted, duplicates)
        print(
            f"{label:28s}  precision {result.precision:.3f}  recall {result.recall:.3f}  "
            f"best frame kept {result.best_kept:.1%} of {result.bursts} bursts (a lesser copy of it: {result.lesser_copy_kept})  "
            f"({result.predicted_groups} groups found, {result.true_groups} true)  "
            f"{result.shared_groups} of 2 or more, largest {result.largest_group}, {result.grouped_pairs} grouped pairs, {len(result.false_pairs)} false"
        )
        if label == "default" and result.false_pairs:
            signatures = {_relative(record.path, folder): record.signature for record in records}
            print(f"  false pairs, most alike first (similarity; {min(len(result.false_pairs), args.list)} of {len(result.false_pairs)}):")
            alike = sorted(((similarity_of(signatures[first], signatures[second]), first, second) for first, second in result.false_pairs), reverse=True)
            for value, first, second in alike[: args.list]:
                print(f"  {value:6.3f}  {first}  {second}")
    in_sets = [record for record in mark_sets(records) if record.set_kind is not None]
    kinds = Counter(record.set_kind for record in in_sets)
    print(
        f"{'sets (there are none)':28s}  {len(in_sets)} of {len(records)} photos in {len({record.set_id for record in in_sets})} sets"
        + "".join(f", {count} as {kind}" for kind, count in sorted(kinds.items()))
    )


def main(argv: Sequence[str] | None = None) -> None:
    from aescull.judge.thresholds import DEFAULT_BURST_WINDOW, DEFAULT_SIMILARITY

    parser = argparse.ArgumentParser(prog="python -m evaluation.groups_eval", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="write a synthetic burst library and its truth.csv")
    make.add_argument("out", type=Path)
    make.add_argument("--photos", type=Path, required=True, help="the source photos (such as ../shared/data/photos)")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--bursts", type=int, default=None, help="at most this many bursts (default: one per source photo)")
    distinct = commands.add_parser("make-distinct", help="copy photos of distinct scenes without EXIF and with one file time, and write truth.csv")
    distinct.add_argument("out", type=Path)
    distinct.add_argument("--photos", type=Path, action="append", required=True, help="a folder of photos (repeat for several)")
    evaluate = commands.add_parser("evaluate", help="group a library made by `make` or `make-distinct` and compare with its truth.csv")
    evaluate.add_argument("folder", type=Path)
    evaluate.add_argument("--weights", type=Path, default=None, help="checkpoint (default: the bundled weights)")
    evaluate.add_argument("--burst-window", type=float, default=DEFAULT_BURST_WINDOW)
    evaluate.add_argument("--similarity", type=float, default=DEFAULT_SIMILARITY)
    evaluate.add_argument("--max-side", type=int, default=None)
    evaluate.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    evaluate.add_argument("--cache", type=Path, default=None, help="score cache file, so reruns with other options are quick")
    evaluate.add_argument("--list", type=int, default=20, help="list at most this many false pairs of the default grouping")
    args = parser.parse_args(argv)
    if args.command == "make":
        truth = make_bursts(args.photos, args.out, args.seed, args.bursts)
        print(f"wrote {len(truth)} photos in {len({row.burst for row in truth})} bursts to {args.out}", file=sys.stderr)
    elif args.command == "make-distinct":
        truth = make_distinct(args.photos, args.out)
        print(f"wrote {len(truth)} photos without EXIF, all dated {COPIED_AT.isoformat()}, to {args.out}", file=sys.stderr)
    else:
        _evaluate(args)


if __name__ == "__main__":
    main()
