"""Does the score fall for ruin and stand for a shallow depth of field? Measured as a user would see it.

    python -m evaluation.trust --photos ../shared/data/photos [--weights weights/aescull-spp.pt]
                               [--side 2048] [--format jpeg] [--threads 1] [--csv OUT.csv] [--json OUT.json]

Every photo of ``--photos`` is scaled to ``--side`` px (longest side, Lanczos) and copied eight
ways at that size (:data:`training.degrade.SEVERE_DAMAGES` and :data:`training.degrade.FOCUS_COPIES`);
the copies and the scaled original are written to a temporary folder (JPEG quality 95 by default,
or PNG) and scored by :func:`aescull.score_paths`, the path of ``aescull score`` (draft decode,
native readings, the network, the native term), twice in the same run:

- ``network alone``: the same path with the native term switched off (the model's identity is
  masked, so :func:`aescull.model.native_term.term_for` finds no term: the scores of the shipped
  network before the term existed);
- ``with the native term``: exactly what ``aescull score`` prints.

Tables: for the six severe damages (Gaussian blur 2.5 px, Gaussian noise sigma 12, JPEG quality 8,
-2 and +2 stops, 4x pixelation), per kind and over all, how often the copy scores below its
original and the median drop (original - copy); for ``bokeh`` (a sharp centre, an ellipse of
semi-axes 0.3 x the frame feathered by 0.05 x the longest side, the rest Gaussian-blurred by
8 px) against ``missed`` (the whole frame blurred by 3 px, a missed focus at 100 %): the bokeh
copy above the missed-focus copy in N of the photos, the median |bokeh - original|, the median
drop of each; and the median penalty the originals pay.

The term was fitted on these same copies of these photos (``python -m training.native_term``),
so these are in-sample figures of the shipped term; its held-out (photo-level cross-validated)
figures are what ``python -m training.native_term`` prints.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from aescull.model.checkpoint import LoadedModel, load_model
from aescull.pipeline.local import score_paths
from training.degrade import FOCUS_COPIES, SEVERE_DAMAGES

KINDS = ("original", *SEVERE_DAMAGES, *FOCUS_COPIES)


def scaled(path: Path, side: int) -> Image.Image:
    """The photo upright in RGB, its longest side ``side`` px (Lanczos)."""
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    scale = side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS)


def photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def write_copies(photos: list[Path], folder: Path, side: int, fmt: str = "jpeg") -> dict[str, dict[str, Path]]:
    """{photo name: {"original" | damage | focus kind: file}}."""
    suffix, options = (".jpg", {"quality": 95}) if fmt == "jpeg" else (".png", {})
    written: dict[str, dict[str, Path]] = {}
    for index, path in enumerate(photos):
        base = scaled(path, side)
        copies = {"original": base, **{kind: make(base) for kind, make in {**SEVERE_DAMAGES, **FOCUS_COPIES}.items()}}
        written[path.name] = {}
        for kind, image in copies.items():
            target = folder / f"{index:03d}-{kind.replace(' ', '_').replace('+', 'p').replace('.', '')}{suffix}"
            image.save(target, **options)
            written[path.name][kind] = target
    return written


def network_alone(loaded: LoadedModel) -> LoadedModel:
    """The same network under an identity no native term is fitted for: it scores as the network alone."""
    return replace(loaded, sha256=f"network-alone:{loaded.sha256}")


def score_files(loaded: LoadedModel, files: list[Path]) -> dict[Path, float]:
    return {record.path: float(record.score) for record in score_paths(files, model=loaded, workers=1) if record.score is not None}


def figures(scores: dict[str, dict[str, float]]) -> dict:
    """The tables' numbers from {photo: {kind: score}}."""
    names = sorted(scores)
    result: dict = {"photos": len(names), "damage": {}}
    all_drops = []
    for kind in SEVERE_DAMAGES:
        drops = np.array([scores[n]["original"] - scores[n][kind] for n in names])
        all_drops.append(drops)
        result["damage"][kind] = {"below": float(np.mean(drops > 0)), "median_drop": float(np.median(drops))}
    every = np.concatenate(all_drops)
    result["damage"]["all"] = {"below": float(np.mean(every > 0)), "median_drop": float(np.median(every))}
    bokeh = np.array([scores[n]["bokeh"] for n in names])
    missed = np.array([scores[n]["missed"] for n in names])
    original = np.array([scores[n]["original"] for n in names])
    result["focus"] = {
        "bokeh_above_missed": int(np.sum(bokeh > missed)),
        "median_abs_bokeh_change": float(np.median(np.abs(bokeh - original))),
        "median_bokeh_drop": float(np.median(original - bokeh)),
        "median_missed_drop": float(np.median(original - missed)),
        "median_original": float(np.median(original)),
    }
    return result


def print_figures(label: str, result: dict) -> None:
    print(f"\n== {label}: {result['photos']} photos")
    print(f"{'damage':<12} {'below original':>15} {'median drop':>12}")
    for kind, row in result["damage"].items():
        print(f"{kind:<12} {row['below']:>15.3f} {row['median_drop']:>12.3f}")
    focus = result["focus"]
    print(
        f"bokeh above missed focus in {focus['bokeh_above_missed']} of {result['photos']}; median |bokeh - original| "
        f"{focus['median_abs_bokeh_change']:.3f} (median drop {focus['median_bokeh_drop']:.3f}); median drop of missed focus "
        f"{focus['median_missed_drop']:.3f}; median original {focus['median_original']:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--weights", type=Path, help="a checkpoint (default: the bundled one)")
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--format", choices=("jpeg", "png"), default="jpeg")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", type=Path, help="also write every score here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = load_model(args.weights)
    models = {"network alone": network_alone(loaded), "with the native term": loaded}
    results: dict[str, dict] = {}
    rows: list[tuple[str, str, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="aescull-trust-") as temp:
        written = write_copies(photos_in(args.photos), Path(temp), args.side, args.format)
        files = [f for kinds in written.values() for f in kinds.values()]
        for label, model in models.items():
            scored = score_files(model, files)
            scores = {name: {kind: scored[f] for kind, f in kinds.items()} for name, kinds in written.items()}
            results[label] = figures(scores)
            print_figures(f"{label} (weights sha256 {loaded.sha256[:12]})", results[label])
            rows += [(label, name, kind, value) for name, kinds in scores.items() for kind, value in kinds.items()]
    by_label = {label: {(name, kind): value for lab, name, kind, value in rows if lab == label} for label in models}
    alone, paid = by_label["network alone"], by_label["with the native term"]
    for kind in KINDS:
        penalties = [alone[key] - paid[key] for key in alone if key[1] == kind]
        print(f"penalty paid by {kind:<12} median {np.median(penalties):.4f}  max {np.max(penalties):.4f}")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            csv.writer(handle).writerows([("weights", "photo", "copy", "score"), *rows])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
