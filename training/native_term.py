"""Fit the native term (:mod:`aescull.model.native_term`): what the score pays, after the network,
for what its working-size view cannot see.

    python -m training.native_term --photos ../shared/data/photos [--weights weights/aescull-spp.pt]
                                   [--side 2048] [--folds 7] [--measurements runs/native-measure.json] [--write]

1. Every photo is scaled to ``--side`` px and copied as :mod:`evaluation.trust` copies it (six
   severe damages, a shallow depth of field, a missed focus); each file is decoded as ``aescull
   score`` decodes it (draft decode, :mod:`aescull.pipeline.native` readings) and scored by the
   network alone. ``--measurements`` keeps these (re-used when the file exists: the fit is seconds).
2. Photo-level cross-validation: the photos are split into ``--folds`` folds; the term is fitted
   on the other folds' photos and applied to the held-out fold's, and the trust tables are
   printed for the held-out scores, network alone against network + term. These are the figures
   to judge the term by.
3. The shipped term is fitted on every photo; ``--write`` stores it in :mod:`aescull.model.native_fit`
   with the network's sha256 (the term applies to that network only).

The readings count only where the decode's image is larger than the working size (0 at the
working size, fully from twice it), so clive-dev's 500-px photos, the MOS data the network was
trained on, are untouched. The loss, over the fitting photos' pairs:

- each damaged copy at least DAMAGE_MARGIN below its original (squared hinge);
- the missed-focus copy at least OVER_MARGIN below the shallow-depth-of-field copy;
- the shallow-depth-of-field copy within BOKEH_TOLERANCE of its original (symmetric squared hinge);
- the originals pay nothing (their squared penalty, ORIGINAL_WEIGHT): they are good photos.

An exhaustive grid over the three thresholds and three weights (deterministic, seconds); among
equal losses the smaller weights win (TIE_BREAK).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from aescull.model import native_term
from aescull.model.checkpoint import load_model
from aescull.model.inference import inference_network, score_batch
from aescull.model.native_term import Term
from aescull.pipeline.decode import decode
from evaluation.trust import KINDS, figures, photos_in, print_figures, write_copies
from training.degrade import SEVERE_DAMAGES

SHARP_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
NOISE_THRESHOLDS = tuple(float(np.log2(level)) for level in (1.0, 1.5, 2.0, 3.0, 4.0))  # log2 of 8-bit levels
BLOCK_THRESHOLDS = (1.1, 1.2, 1.3, 1.5)
WEIGHTS = tuple(round(0.1 * step, 1) for step in range(16))  # 0 to 1.5
DAMAGE_MARGIN = 0.12
OVER_MARGIN = 0.05
BOKEH_TOLERANCE = 0.03
ORIGINAL_WEIGHT = 1.0
TIE_BREAK = 1e-5  # per unit of squared weight
FIT_FILE = Path(__file__).resolve().parent.parent / "aescull" / "model" / "native_fit.py"

# measurements: {photo name: {kind: {"score": network score, "readings": [sharpness, noise, blockiness, scale]}}}
Measurements = dict[str, dict[str, dict]]


def measure(photos: list[Path], side: int, weights: Path | None) -> tuple[Measurements, str]:
    """Each copy decoded as ``aescull score`` decodes it (with the readings) and scored by the network alone."""
    loaded = load_model(weights)
    network = inference_network(loaded.model)
    measured: Measurements = {}
    with tempfile.TemporaryDirectory(prefix="aescull-native-term-") as temp:
        for path in photos:
            written = write_copies([path], Path(temp), side)[path.name]
            measured[path.name] = {}
            for kind, file in written.items():
                photo = decode(file, loaded.config.max_side, native=True)
                (score,) = score_batch(network, [photo.pixels])
                assert score is not None and photo.native is not None
                measured[path.name][kind] = {"score": float(score), "readings": [float(v) for v in photo.native]}
                file.unlink()
            print(f"measured {path.name}", file=sys.stderr, flush=True)
    return measured, loaded.sha256


def _arrays(measured: Measurements, names: list[str], kind: str) -> tuple[np.ndarray, np.ndarray]:
    scores = np.array([measured[name][kind]["score"] for name in names])
    return scores, native_term.features([measured[name][kind]["readings"] for name in names])


def fit(measured: Measurements, names: list[str]) -> tuple[Term, float]:
    """The term minimising the loss above on these photos' copies."""
    grid = np.array(list(itertools.product(WEIGHTS, repeat=3)))  # (m, 3)
    score_o, feat_o = _arrays(measured, names, "original")
    copies = {kind: _arrays(measured, names, kind) for kind in KINDS if kind != "original"}
    best: tuple[float, Term] | None = None
    for thresholds in itertools.product(SHARP_THRESHOLDS, NOISE_THRESHOLDS, BLOCK_THRESHOLDS):
        probe = Term(1.0, thresholds[0], 1.0, thresholds[1], 1.0, thresholds[2])

        def after(kind: str) -> np.ndarray:  # (photos, m): each photo's score under every weight triple
            score, feat = (score_o, feat_o) if kind == "original" else copies[kind]
            return score[:, None] - native_term.shortfalls(feat, probe) @ grid.T

        original = after("original")
        loss = ORIGINAL_WEIGHT * np.mean((score_o[:, None] - original) ** 2, axis=0)
        damage = np.concatenate([original - after(kind) for kind in SEVERE_DAMAGES])
        loss += np.mean(np.maximum(0.0, DAMAGE_MARGIN - damage) ** 2, axis=0)
        bokeh, missed = after("bokeh"), after("missed")
        loss += np.mean(np.maximum(0.0, OVER_MARGIN - (bokeh - missed)) ** 2, axis=0)
        loss += np.mean(np.maximum(0.0, np.abs(original - bokeh) - BOKEH_TOLERANCE) ** 2, axis=0)
        loss += TIE_BREAK * (grid**2).sum(axis=1)
        index = int(np.argmin(loss))
        if best is None or loss[index] < best[0] - 1e-12:
            w = grid[index]
            best = (float(loss[index]), Term(float(w[0]), thresholds[0], float(w[1]), thresholds[1], float(w[2]), thresholds[2]))
    assert best is not None
    return best[1], best[0]


def scores_with(measured: Measurements, names: list[str], term: Term | None) -> dict[str, dict[str, float]]:
    """{photo: {kind: score}} after the term (the network alone with None), as aescull's path applies it."""
    result: dict[str, dict[str, float]] = {}
    for name in names:
        kinds = list(measured[name])
        raw = [measured[name][kind]["score"] for kind in kinds]
        paid = native_term.apply(raw, [measured[name][kind]["readings"] for kind in kinds], term)
        result[name] = {kind: float(value) for kind, value in zip(kinds, paid)}  # type: ignore[arg-type]
    return result


def cross_validate(measured: Measurements, folds: int) -> tuple[dict[str, dict[str, float]], list[Term]]:
    """Every photo scored with the term fitted without its fold (photo i is in fold i % folds, by name)."""
    names = sorted(measured)
    held_out: dict[str, dict[str, float]] = {}
    terms = []
    for fold in range(folds):
        test = [name for i, name in enumerate(names) if i % folds == fold]
        term, _ = fit(measured, [name for name in names if name not in test])
        terms.append(term)
        held_out.update(scores_with(measured, test, term))
    return held_out, terms


def original_penalties(measured: Measurements, scores: dict[str, dict[str, float]]) -> np.ndarray:
    return np.array([measured[name]["original"]["score"] - scores[name]["original"] for name in sorted(scores)])


def write_fit(term: Term, sha256: str, command: str, held_out: dict, alone: dict) -> None:
    def row(result: dict) -> str:
        return (f"damaged below original {result['damage']['all']['below']:.3f}, median drop {result['damage']['all']['median_drop']:.3f}; "
                f"bokeh above missed focus in {result['focus']['bokeh_above_missed']} of {result['photos']}, "
                f"median |bokeh - original| {result['focus']['median_abs_bokeh_change']:.3f}")

    FIT_FILE.write_text(f'''"""The native term's fitted constants (see :mod:`aescull.model.native_term`). Written by
``{command}``
on {datetime.date.today().isoformat()}; do not edit by hand.

Held-out figures (photo-level cross-validation on the 2048-px copies of the fitting photos):
- network alone:        {row(alone)}
- network + the term:   {row(held_out)}
"""

FITTED_FOR_SHA256 = "{sha256}"  # the network (weights file sha256) these were fitted on
SHARPNESS = ({term.sharpness_weight!r}, {term.sharpness_below!r})  # (weight, the sharpness below which the score pays)
NOISE = ({term.noise_weight!r}, {term.noise_above!r})  # (weight, the log2 noise in 8-bit levels above which it pays)
BLOCKINESS = ({term.blockiness_weight!r}, {term.blockiness_above!r})  # (weight, the blockiness above which it pays)
''')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--weights", type=Path, help="the network the term is for (default: the bundled one)")
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--folds", type=int, default=7)
    parser.add_argument("--measurements", type=Path, help="keep the measurements here (read instead of measuring when it exists)")
    parser.add_argument("--write", action="store_true", help=f"store the term fitted on every photo in {FIT_FILE.name}")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.measurements and args.measurements.is_file():
        saved = json.loads(args.measurements.read_text())
        measured, sha256 = saved["measurements"], saved["sha256"]
        if saved["side"] != args.side:
            parser.error(f"{args.measurements} was measured at {saved['side']} px")
    else:
        measured, sha256 = measure(photos_in(args.photos), args.side, args.weights)
        if args.measurements:
            args.measurements.parent.mkdir(parents=True, exist_ok=True)
            args.measurements.write_text(json.dumps({"sha256": sha256, "side": args.side, "measurements": measured}))
    names = sorted(measured)
    alone = figures(scores_with(measured, names, None))
    held_scores, terms = cross_validate(measured, args.folds)
    held_out = figures(held_scores)
    print_figures("network alone", alone)
    print_figures(f"network + term, held out ({args.folds} folds of photos, each fold scored by the term fitted on the others)", held_out)
    penalties = original_penalties(measured, held_scores)
    print(f"held-out penalty on the originals: median {np.median(penalties):.4f}, max {np.max(penalties):.4f}, "
          f"{int(np.sum(penalties > 0.01))} of {len(penalties)} pay more than 0.01")
    for fold, term in enumerate(terms):
        print(f"fold {fold}: {term}")
    term, loss = fit(measured, names)
    on_all = scores_with(measured, names, term)
    penalties = original_penalties(measured, on_all)
    print(f"\nfitted on all {len(names)} photos (loss {loss:.5f}): {term}")
    print(f"penalty on the originals: median {np.median(penalties):.4f}, max {np.max(penalties):.4f}")
    print_figures("network + term fitted on all (in-sample)", figures(on_all))
    if args.write:
        command = "python -m training.native_term " + " ".join(argv if argv is not None else sys.argv[1:])
        write_fit(term, sha256, command, held_out, alone)
        print(f"wrote {FIT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
