"""The evaluation command: agreement with labelled photos at the lines the checkpoint records."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from aescull.pipeline.local import score_paths
from aescull.model.checkpoint import load_model, save_checkpoint
from tests.conftest import make_plumbing_model, save_photo


def labelled_folder(tmp_path: Path, plumbing_weights: Path) -> tuple[Path, Path, float, float]:
    """Eight photos whose people's MOS is the plumbing model's score x 100 plus 5 points, a crowd
    that rates everything a little higher than the model: (images, labels, score median, MOS median)."""
    images = tmp_path / "images"
    paths = [save_photo(images / f"p{seed}.jpg", seed=seed) for seed in range(16)]
    scored = {r.path: r.score for r in score_paths(paths, model=load_model(plumbing_weights), max_side=96)}
    paths = [path for path in paths if scored[path] > 0.0][:8]  # the untrained model clips some to 0
    scores = np.array([scored[path] for path in paths])
    assert len(set(np.round(scores, 6))) == 8
    mos = 100.0 * scores + 5.0
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "mos"])
        writer.writerows((path.name, value) for path, value in zip(paths, mos))
    return images, labels, float(np.median(scores)), float(np.median(mos))


def evaluate(weights: Path, labels: Path, images: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "evaluation.evaluate", "--weights", str(weights), "--labels", str(labels), "--images", str(images), "--threads", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_accuracy_is_counted_at_the_score_line_training_chose(tmp_path: Path, plumbing_weights: Path) -> None:
    """Good means MOS at or above the training median; the model calls a photo good at the score
    its checkpoint records, which may sit below MOS/100 when the model runs low (as here, by 0.05)."""
    images, labels, score_median, mos_median = labelled_folder(tmp_path, plumbing_weights)
    with_line, without_line = tmp_path / "with-line.pt", tmp_path / "without-line.pt"
    save_checkpoint(make_plumbing_model(), with_line, meta={"good_threshold": mos_median / 100.0, "good_score": score_median})
    save_checkpoint(make_plumbing_model(), without_line, meta={"good_threshold": mos_median / 100.0})

    at_line = evaluate(with_line, labels, images)
    assert "SRCC 1.0000" in at_line and "accuracy 1.0000" in at_line
    assert re.search(rf"called good: score >= {score_median:.4f}", at_line)
    at_mos = evaluate(without_line, labels, images)
    assert "SRCC 1.0000" in at_mos
    assert float(re.search(r"accuracy (\d\.\d+)", at_mos).group(1)) < 1.0
    assert re.search(rf"called good: score >= {mos_median / 100.0:.4f}", at_mos)
