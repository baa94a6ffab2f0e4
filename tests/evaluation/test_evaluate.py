"""The evaluation command: agreement with labelled photos at the lines the checkpoint records."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from aescull.model.checkpoint import load_model, save_checkpoint
from aescull.pipeline.local import score_paths
from tests.support.images import save_photo
from tests.support.models import REPO, make_plumbing_model


def labelled_folder(tmp_path: Path, plumbing_weights: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """Eight photos rated by a crowd that mostly agrees with the model (MOS = score x 100 + 5)
    but swaps its second-best and its worst: (images, labels, scores, MOS)."""
    images = tmp_path / "images"
    paths = [save_photo(images / f"p{seed}.jpg", seed=seed) for seed in range(16)]
    scored = {r.path: r.score for r in score_paths(paths, model=load_model(plumbing_weights), max_side=96)}
    paths = [path for path in paths if scored[path] > 0.0][:8]  # the untrained model clips some to 0
    scores = np.array([scored[path] for path in paths])
    assert len(set(np.round(scores, 6))) == 8
    mos = 100.0 * scores + 5.0
    order = np.argsort(scores)
    mos[[order[-2], order[0]]] = mos[[order[0], order[-2]]]
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "mos"])
        writer.writerows((path.name, value) for path, value in zip(paths, mos))
    return images, labels, scores, mos


def evaluate(weights: Path, labels: Path, images: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "evaluation.evaluate", "--weights", str(weights), "--labels", str(labels), "--images", str(images), "--threads", "1"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    found = re.search(r"SRCC (\S+)  PLCC (\S+)  accuracy (\S+) \(good: MOS >= (\S+); called good: score >= (\S+)\)", done.stdout)
    assert found, done.stdout
    return dict(zip(("srcc", "plcc", "accuracy", "good_mos", "score_line"), map(float, found.groups())))


def test_figures_are_those_of_the_scores_against_the_labels(tmp_path: Path, plumbing_weights: Path) -> None:
    """Checked against numpy's own correlation of ranks and values, computed here."""
    images, labels, scores, mos = labelled_folder(tmp_path, plumbing_weights)
    weights = tmp_path / "weights.pt"
    line = float(np.median(scores))
    save_checkpoint(make_plumbing_model(), weights, meta={"good_threshold": float(np.median(mos)) / 100.0, "good_score": line})
    printed = evaluate(weights, labels, images)
    ranks = np.argsort(np.argsort(scores)), np.argsort(np.argsort(mos))
    assert printed["srcc"] == round(float(np.corrcoef(*ranks)[0, 1]), 4) < 1.0
    assert printed["plcc"] == round(float(np.corrcoef(scores, mos)[0, 1]), 4)
    assert printed["accuracy"] == round(float(np.mean((mos >= np.median(mos)) == (scores >= line))), 4)


def test_accuracy_is_counted_at_the_score_line_training_chose(tmp_path: Path, plumbing_weights: Path) -> None:
    """Good means MOS at or above the training median; the model calls a photo good at the score
    its checkpoint records, which may sit below MOS/100 when the model runs low (as here, by 0.05)."""
    images, labels, scores, mos = labelled_folder(tmp_path, plumbing_weights)
    good_mos, score_median = float(np.median(mos)), float(np.median(scores))
    with_line, without_line = tmp_path / "with-line.pt", tmp_path / "without-line.pt"
    save_checkpoint(make_plumbing_model(), with_line, meta={"good_threshold": good_mos / 100.0, "good_score": score_median})
    save_checkpoint(make_plumbing_model(), without_line, meta={"good_threshold": good_mos / 100.0})
    at_line, at_mos = evaluate(with_line, labels, images), evaluate(without_line, labels, images)
    assert (at_line["good_mos"], at_line["score_line"]) == (round(good_mos, 2), round(score_median, 4))
    assert at_mos["score_line"] == round(good_mos / 100.0, 4)
    assert at_line["accuracy"] == round(float(np.mean((mos >= good_mos) == (scores >= score_median))), 4)
    assert at_mos["accuracy"] == round(float(np.mean((mos >= good_mos) == (scores >= good_mos / 100.0))), 4) < at_line["accuracy"]
