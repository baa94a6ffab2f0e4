"""Folds, their results file, and the checkpoint stamp that records the cross-validation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import torch

from aescull import __version__
from training.data import read_labels


def fold_split(mos: np.ndarray, folds: list[np.ndarray], fold: int) -> tuple[np.ndarray, np.ndarray, float]:
    """One fold's validation and training photos, and the training photos' median MOS (the "good" line)."""
    val_idx = folds[fold]
    train_idx = np.setdiff1d(np.arange(len(mos)), val_idx)
    return val_idx, train_idx, float(np.median(mos[train_idx]))


def out_of_fold(results: Path, variant: str, names: list[str]) -> np.ndarray:
    """Each photo's score from the fold model that did not train on it (NaN where none did)."""
    index = {name: i for i, name in enumerate(names)}
    predicted = np.full(len(names), np.nan)
    with open(results) as handle:
        for line in handle:
            record = json.loads(line)
            if record["variant"] == variant:
                for name, value in record["predictions"].items():
                    predicted[index[name]] = value
    return predicted


def cv_summary(results: Path) -> dict[str, dict[str, float]]:
    """Mean and spread of each variant's cross-validated metrics (the model card's figures)."""
    if not results.is_file():
        return {}
    by_variant: dict[str, list[dict]] = {}
    with open(results) as handle:
        for line in handle:
            record = json.loads(line)
            by_variant.setdefault(record["variant"], []).append(record)
    summary = {}
    for variant, records in by_variant.items():
        latest = {r["fold"]: r for r in records}  # a re-run fold replaces the earlier one
        entry: dict[str, float] = {"folds": len(latest)}
        for metric in ("srcc", "plcc", "accuracy", "pair_accuracy", "seconds"):
            values = [r[metric] for r in latest.values() if metric in r]
            if values:
                entry[metric] = round(float(np.mean(values)), 4)
                entry[f"{metric}_std"] = round(float(np.std(values)), 4)
        summary[variant] = entry
    return summary


def git_commit() -> str:
    """The commit the weights were trained from, so a checkpoint names its code."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def stamp_checkpoint(path: Path, results: Path, data: Path) -> None:
    """Record the finished cross-validation and the 'good' threshold in the checkpoint's meta."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint["meta"]["cv"] = cv_summary(results)
    checkpoint["meta"]["code_version"] = f"aescull {__version__} (git {git_commit()})"
    checkpoint["meta"]["good_threshold"] = float(np.median(read_labels(data)[1])) / 100.0
    torch.save(checkpoint, path)
    print(f"stamped {path}: {checkpoint['meta']['cv']}")


def fold_indices(count: int, folds: int, seed: int) -> list[np.ndarray]:
    permutation = np.random.default_rng(seed).permutation(count)
    return [np.sort(permutation[f::folds]) for f in range(folds)]


def fold_checkpoint(runs: Path, variant: str, fold: int) -> Path:
    """Where a fold model is saved, so the benches find what training wrote."""
    return runs / f"{variant}-fold{fold}.pt"

