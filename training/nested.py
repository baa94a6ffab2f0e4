"""Nested cross-validation of the whole recipe, and the shipped model made by the same procedure.

    python -m training.nested --data ../shared/data/clive-dev --photos ../shared/data/photos --plan models:inner,models:outer,models:final,kernels,report,final

Why nested: the shipped model's cheap parts (whether the taps' kernel head is used, with which
taps, at what blend weight; the score line) used to be chosen on out-of-fold
scores of fold models that had seen the fold being reported, and variants were compared on the
folds that report them. Here the expensive part, the pyramid head's recipe (:mod:`training.fit`),
is fixed before any result; only the cheap parts are chosen, and for each outer fold k only on
scores of models that never saw fold k:

- ``outer{k}``: the pyramid head trained on the folds other than k (and the large photos of the
  photo folds other than k), reported on fold k, once;
- ``inner{k}{j}`` (k < j, the pairs of INNER_PAIRS): trained on the folds other than k and j; its
  scores of fold j are inner out-of-fold scores for outer fold k, and of fold k those for outer
  fold j (six models on 3/5 of the data give each outer fold two or three inner folds);
- ``final``: trained on every photo; its cheap parts are chosen the same way on the outer
  models' out-of-fold scores.

Cheap parts, chosen on the pooled inner out-of-fold scores (rules fixed before any result):

- the taps' kernel head: none, the 12 shared blocks' statistics, or the 14 taps with the frozen
  copy of blocks 12-13 (cheapest first); a costlier choice must beat every cheaper one by
  KERNEL_MIN_GAIN in SRCC at its best blend weight, and must not move the shallow-depth-of-field
  copies of clive-dev further from their originals (median |change|) by more than BOKEH_SLACK;
- the score line that calls a photo good (the fewest mistakes on those scores).

Steps (comma list ``--plan``): ``models:outer``, ``models:inner``, ``models:final`` train what is
missing (each model is saved with its scores of the photos it did not train on, so a stopped run
resumes; several single-threaded workers can share the work, each job claimed by a lock file);
``kernels`` fits the kernel head variants on each model's training photos, the same way; ``report`` chooses the cheap parts per outer fold, writes DIR/outer-fold{k}.pt (the
whole model as ``aescull score`` would run it) and photo-folds.json, and prints the nested
figures; ``final`` chooses them for the final model and writes ``--out``.

Without the inner models, ``kernels:taps14,fixed:NAME,ship:NAME`` reports a candidate of
FIXED_CANDIDATES fixed before any result on the outer folds (DIR/outer-fold{k}-NAME.pt,
DIR/fixed-NAME.json) and writes its final model to ``--out``. Issue 24's run (MODEL_CARD.md:
evaluated, neither candidate shipped) was

    python -m training.nested --data ../shared/data/clive-dev --photos ../shared/data/photos --threads 1 \
        --plan models:outer,kernels:taps14,fixed:pyramid,fixed:taps14

and ``models:final,ship:NAME --out weights/aescull-spp.pt`` would make the shipped model of one.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from aescull.model.checkpoint import load_model, save_checkpoint
from aescull.model.network import ModelConfig, SPPNet
from training.cv import fold_indices, git_commit
from training.data import Cache, build_cache, held_out_pairs, load_cache, save_cache
from training.degrade import DAMAGE_KINDS
from training.fit import BOKEH_KINDS, TrainConfig, score_unique, train_model
from training.kernel import TAP_WEIGHTS, KernelFit, fit_taps_head, statistics, with_taps_head
from training.metrics import agreement, choose_score_line, spearman

FOLDS = 5
# Inner models, by the two folds each leaves out: every fold is left out with at least two others,
# so each outer fold's choices rest on two or three inner folds' out-of-fold scores (351-527
# photos). Six models, not all ten pairs: the machine this ran on was shared, and six fit the
# budget (README). inner{k}{j} serves outer fold k with its scores of fold j, and outer j with fold k's.
INNER_PAIRS = ((0, 1), (0, 2), (0, 4), (1, 3), (2, 3), (3, 4))
KERNEL_VARIANTS = {"none": (), "taps12": tuple(range(12)), "taps14": tuple(range(14))}  # cheapest first
KERNEL_MIN_GAIN = 0.005
BOKEH_SLACK = 0.01
# Without the inner models (issue 24's retrain: their cost did not fit the budget), candidates fixed
# before any result are reported on the outer folds instead (``fixed:NAME``, ``ship:NAME``): no
# part is chosen on the folds that report it; only the score line, on the other folds' outer scores.
FIXED_CANDIDATES = {"pyramid": ("none", 0.0), "taps14": ("taps14", 0.4)}  # 0.4: the previous model's weight, not tuned here


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Plan:
    """The folds, the photo folds, and which photos each model trains on."""

    def __init__(self, cache: Cache, seed: int) -> None:
        self.cache = cache
        self.folds = fold_indices(len(cache.names), FOLDS, seed)
        self.photo_folds = fold_indices(len(cache.photos), FOLDS, seed + 1)

    def held_folds(self, name: str) -> set[int]:
        """The folds a model did not train on (and the photo folds: the same numbers)."""
        if name == "final":
            return set()
        if name.startswith("outer"):
            return {int(name[5:])}
        return {int(name[5]), int(name[6])}

    def train_idx(self, name: str) -> np.ndarray:
        held = self.held_folds(name)
        return np.sort(np.concatenate([self.folds[f] for f in range(FOLDS) if f not in held]))

    def held_idx(self, name: str) -> np.ndarray:
        """The labelled photos a model did not train on (none for the final model)."""
        held = self.held_folds(name)
        return np.sort(np.concatenate([self.folds[f] for f in held])) if held else np.zeros(0, dtype=int)

    def photo_fold_of(self) -> dict[str, int]:
        return {self.cache.photos[int(i)]: f for f, members in enumerate(self.photo_folds) for i in members}


def all_models() -> dict[str, list[str]]:
    return {
        "outer": [f"outer{k}" for k in range(FOLDS)],
        "inner": [f"inner{k}{j}" for k, j in INNER_PAIRS],
        "final": ["final"],
    }


def train_missing(plan: Plan, names: list[str], out: Path, config: TrainConfig) -> None:
    cache = plan.cache
    for name in names:
        path = out / f"pyr-{name}.pt"
        if path.is_file():
            log(f"{name}: already trained")
            continue
        if not claim(out, f"pyr-{name}"):
            log(f"{name}: claimed by another worker")
            continue
        held = plan.held_folds(name)
        train_idx = plan.train_idx(name)
        started = time.time()
        log(f"{name}: training on {len(train_idx)} photos (held out: folds {sorted(held)})")
        model = train_model(cache, train_idx, ModelConfig(), config, log, plan.photo_folds, set(range(FOLDS)) - held)
        seconds = time.time() - started
        val_idx = plan.held_idx(name)
        scores = Scores(cache)
        if len(val_idx):
            scores.plain[val_idx] = score_unique(model, [cache.plain[int(i)] for i in val_idx], config.frozen_blocks)
        pairs = held_out_pairs(cache, val_idx, plan.photo_folds, held) if held else []
        if pairs:
            scored = score_unique(model, [cache.pair_original[p] for p in pairs] + [cache.pair_degraded[p] for p in pairs], config.frozen_blocks)
            scores.pair_o[pairs], scores.pair_d[pairs] = scored[: len(pairs)], scored[len(pairs) :]
        save_checkpoint(model, path, {"name": f"aescull-spp-{name}", "held_out_folds": sorted(held), "train_seconds": round(seconds),
                                      "train": config.__dict__})
        np.savez(out / f"pyr-{name}.npz", plain=scores.plain, pair_o=scores.pair_o, pair_d=scores.pair_d, seconds=seconds)
        (out / f"pyr-{name}.lock").unlink()
        log(f"{name}: {seconds:.0f}s" + (f", SRCC on held-out folds {spearman(scores.plain[val_idx], cache.mos[val_idx]):.4f}" if len(val_idx) else ""))


def claim(out: Path, stem: str) -> bool:
    """Whether this worker takes the job ``stem`` (several single-threaded workers share a plan)."""
    try:
        os.close(os.open(out / f"{stem}.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def fit_kernels(plan: Plan, out: Path, seed: int, only: str = "") -> None:
    """The taps' kernel head of every variant for every model's training photos (16 training sets:
    inner, outer, final), with its scores of the photos that model did not train on; with ``only``
    a variant, that one for the outer and final models (what ``fixed`` and ``ship`` need)."""
    cache = plan.cache
    models = all_models()
    names = [*models["outer"], *models["final"]] if only else [n for group in models.values() for n in group]
    for variant, taps in KERNEL_VARIANTS.items():
        if only and variant != only:
            continue
        for name in names:
            stem = f"ker-{variant}-{name}"
            if not taps or (out / f"{stem}.npz").is_file() or not claim(out, stem):
                continue
            held = plan.held_folds(name)
            started = time.process_time()
            fit, chosen, _ = fit_taps_head(cache, plan.train_idx(name), taps, seed, plan.photo_folds, set(range(FOLDS)) - held)
            val_idx = plan.held_idx(name)
            scores = Scores(cache)
            if len(val_idx):
                scores.plain[val_idx] = fit.predict(statistics([cache.plain[int(i)] for i in val_idx], taps))
                pairs = held_out_pairs(cache, val_idx, plan.photo_folds, held)
                scores.pair_o[pairs] = fit.predict(statistics([cache.pair_original[p] for p in pairs], taps))
                scores.pair_d[pairs] = fit.predict(statistics([cache.pair_degraded[p] for p in pairs], taps))
            np.savez(out / f"{stem}.npz", plain=scores.plain, pair_o=scores.pair_o, pair_d=scores.pair_d, mean=fit.mean, variance=fit.variance,
                     support=fit.support, coefficients=fit.coefficients, intercept=fit.intercept, gamma=fit.gamma,
                     lam=chosen["kernel_lambda"])
            (out / f"{stem}.lock").unlink()
            log(f"{stem}: gamma {fit.gamma} lambda {chosen['kernel_lambda']} ({time.process_time() - started:.0f}s CPU)")


def load_kernel(out: Path, variant: str, name: str) -> tuple[KernelFit, "Scores"]:
    saved = np.load(out / f"ker-{variant}-{name}.npz")
    fit = KernelFit(saved["mean"], saved["variance"], saved["support"], saved["coefficients"], float(saved["intercept"]), float(saved["gamma"]))
    scores = Scores.__new__(Scores)
    scores.plain, scores.pair_o, scores.pair_d = saved["plain"], saved["pair_o"], saved["pair_d"]
    return fit, scores


class Scores:
    """Out-of-fold scores of labelled photos and pairs, pooled from several models."""

    def __init__(self, cache: Cache) -> None:
        self.plain = np.full(len(cache.names), np.nan)
        self.pair_o = np.full(len(cache.pair_kind), np.nan)
        self.pair_d = np.full(len(cache.pair_kind), np.nan)


def oof_sources(outer: int | None) -> list[tuple[int, str]]:
    """(fold, model) pairs whose scores are the out-of-fold scores for outer fold ``outer`` (the
    inner models leaving ``outer`` out, each on its other fold), or with ``outer`` None for the
    final model (each outer model on its own fold)."""
    if outer is None:
        return [(j, f"outer{j}") for j in range(FOLDS)]
    return [(j, f"inner{min(outer, j)}{max(outer, j)}") for j in range(FOLDS) if tuple(sorted((outer, j))) in INNER_PAIRS]


def pyramid_oof(plan: Plan, out: Path, outer: int | None) -> Scores:
    """The pyramid models' out-of-fold scores for outer fold ``outer`` (see :func:`oof_sources`)."""
    cache = plan.cache
    scores = Scores(cache)
    for j, name in oof_sources(outer):
        saved = np.load(out / f"pyr-{name}.npz")
        idx = plan.folds[j]
        scores.plain[idx] = saved["plain"][idx]
        pairs = held_out_pairs(cache, idx, plan.photo_folds, {j})
        scores.pair_o[pairs], scores.pair_d[pairs] = saved["pair_o"][pairs], saved["pair_d"][pairs]
    return scores


def kernel_oof(plan: Plan, out: Path, outer: int | None, variant: str) -> Scores:
    """The kernel head's out-of-fold scores matching :func:`pyramid_oof`: for each fold j, the head
    fitted on the photos the pyramid model scoring j trained on."""
    cache = plan.cache
    pooled = Scores(cache)
    for j, name in oof_sources(outer):
        _, scores = load_kernel(out, variant, name)
        idx = plan.folds[j]
        pooled.plain[idx] = scores.plain[idx]
        pairs = held_out_pairs(cache, idx, plan.photo_folds, {j})
        pooled.pair_o[pairs], pooled.pair_d[pairs] = scores.pair_o[pairs], scores.pair_d[pairs]
    return pooled


def blend(pyramid: Scores, kernel: Scores | None, weight: float, cache: Cache) -> Scores:
    out = Scores(cache)
    for field in ("plain", "pair_o", "pair_d"):
        base = getattr(pyramid, field)
        setattr(out, field, base if kernel is None or weight == 0 else (1 - weight) * base + weight * getattr(kernel, field))
    return out


def pair_masks(cache: Cache, scores: Scores) -> dict[str, np.ndarray]:
    kinds = np.asarray(cache.pair_kind)
    source = np.asarray(cache.pair_source)
    known = ~np.isnan(scores.pair_o) & ~np.isnan(scores.pair_d)
    return {
        "labelled": known & (source >= 0),
        "labelled_damage": known & (source >= 0) & np.isin(kinds, DAMAGE_KINDS),
        "labelled_bokeh": known & (source >= 0) & np.isin(kinds, BOKEH_KINDS),
        "photo": known & (source < 0),
    }


def share_below(scores: Scores, mask: np.ndarray) -> float:
    """How often the copies of the pairs in ``mask`` score below their originals."""
    return float(np.mean(scores.pair_o[mask] > scores.pair_d[mask]))


def median_change(scores: Scores, mask: np.ndarray) -> float:
    """How far the copies of the pairs in ``mask`` score from their originals (median, either way)."""
    return float(np.median(np.abs(scores.pair_o[mask] - scores.pair_d[mask])))


def choose(plan: Plan, pyramid: Scores, kernels: dict[str, Scores], label_idx: np.ndarray) -> dict:
    """The cheap parts, from out-of-fold scores of the photos ``label_idx`` and of the pairs."""
    cache = plan.cache
    y = cache.mos[label_idx] / 100.0
    bokeh_pairs = pair_masks(cache, pyramid)["labelled_bokeh"]

    def bokeh_change(scores: Scores) -> float:
        return median_change(scores, bokeh_pairs) if bokeh_pairs.any() else 0.0

    candidates = []
    for variant in KERNEL_VARIANTS:
        if variant == "none":
            weight, srcc = 0.0, spearman(pyramid.plain[label_idx], y)
        else:
            kernel = kernels[variant]
            weight, srcc = max(((w, spearman(((1 - w) * pyramid.plain + w * kernel.plain)[label_idx], y)) for w in TAP_WEIGHTS),
                               key=lambda item: item[1])
        blended = blend(pyramid, kernels.get(variant), weight, cache)
        candidates.append({"variant": variant, "tap_weight": weight, "srcc": srcc, "bokeh_change": bokeh_change(blended)})
    chosen = candidates[0]
    for position, candidate in enumerate(candidates[1:], start=1):
        beats_cheaper = candidate["srcc"] >= max(c["srcc"] for c in candidates[:position]) + KERNEL_MIN_GAIN
        keeps_bokeh = candidate["bokeh_change"] <= candidates[0]["bokeh_change"] + BOKEH_SLACK
        if candidate["tap_weight"] > 0 and beats_cheaper and keeps_bokeh:
            chosen = candidate
    blended = blend(pyramid, kernels.get(chosen["variant"]), chosen["tap_weight"], cache)
    line = choose_score_line(blended.plain[label_idx], y, float(np.median(y)))
    return {"variant": chosen["variant"], "tap_weight": chosen["tap_weight"], "good_score": line, "candidates": candidates}


def assemble(plan: Plan, out: Path, name: str, chosen: dict, config: TrainConfig, seed: int) -> tuple[SPPNet, KernelFit | None]:
    """The model ``aescull score`` would run: the pyramid model ``name``, the chosen kernel head fitted
    on the same photos, and the blend weight."""
    pyramid = load_model(out / f"pyr-{name}.pt").model
    fit = load_kernel(out, chosen["variant"], name)[0] if chosen["variant"] != "none" else None
    model = with_taps_head(pyramid, fit, KERNEL_VARIANTS[chosen["variant"]], chosen["tap_weight"], config.frozen_blocks)
    return model.eval(), fit


def outer_metrics(plan: Plan, out: Path, k: int, chosen: dict, fit: KernelFit | None) -> dict:
    """Fold k's figures for the assembled outer model, from the cache."""
    cache = plan.cache
    saved = np.load(out / f"pyr-outer{k}.npz")
    pyramid = Scores(cache)
    pyramid.plain, pyramid.pair_o, pyramid.pair_d = saved["plain"], saved["pair_o"], saved["pair_d"]
    kernel = load_kernel(out, chosen["variant"], f"outer{k}")[1] if fit is not None else None
    scores = blend(pyramid, kernel, chosen["tap_weight"], cache)
    idx = plan.folds[k]
    final = scores.plain[idx]
    train_mos = cache.mos[plan.train_idx(f"outer{k}")]
    metrics = agreement(final, cache.mos[idx], float(np.median(train_mos)), chosen["good_score"])
    masks = pair_masks(cache, scores)
    kinds = np.asarray(cache.pair_kind)
    photo, photo_damage = masks["photo"], masks["photo"] & np.isin(kinds, DAMAGE_KINDS)
    metrics["pair_accuracy"] = share_below(scores, masks["labelled_damage"])
    metrics["bokeh_change"] = median_change(scores, masks["labelled_bokeh"])
    metrics["pyramid_srcc"] = spearman(pyramid.plain[idx], cache.mos[idx])
    metrics["bokeh_over_blur"] = share_below(scores, masks["labelled"] & (kinds == "bokeh>blur"))
    metrics["photo_damage"] = share_below(scores, photo_damage)
    metrics["photo_damage_drop"] = float(np.median(scores.pair_o[photo_damage] - scores.pair_d[photo_damage]))
    metrics["photo_bokeh"] = median_change(scores, photo & np.isin(kinds, BOKEH_KINDS))
    metrics["photo_bokeh_over_blur"] = share_below(scores, photo & (kinds == "bokeh>blur"))
    return {**metrics, "predictions": {cache.names[int(i)]: float(v) for i, v in zip(idx, final)}}


def summary(rows: list[dict]) -> dict:
    keys = ("srcc", "plcc", "accuracy", "pair_accuracy", "bokeh_change", "pyramid_srcc", "bokeh_over_blur",
            "photo_damage", "photo_damage_drop", "photo_bokeh", "photo_bokeh_over_blur")
    return {key: {"mean": round(float(np.mean([r[key] for r in rows])), 4), "std": round(float(np.std([r[key] for r in rows])), 4)}
            for key in keys}


def save_outer(plan: Plan, model: SPPNet, path: Path, k: int, chosen: dict, seed: int, name: str) -> None:
    """Outer model ``k`` as ``aescull score`` runs it, with the lines it was judged by."""
    train_mos = plan.cache.mos[plan.train_idx(f"outer{k}")]
    save_checkpoint(model, path, {"name": name, "fold": k, "folds": FOLDS, "seed": seed, "good_threshold": float(np.median(train_mos)) / 100.0,
                                  "good_score": chosen["good_score"], "chosen": chosen})


def report(plan: Plan, out: Path, config: TrainConfig, seed: int, fixed: dict | None = None) -> dict:
    """Choose per outer fold on inner scores (or apply ``fixed`` choices), save the outer models, print the figures."""
    rows, choices = [], []
    for k in range(FOLDS):
        label_idx = np.sort(np.concatenate([plan.folds[j] for j, _ in oof_sources(k)]))
        if fixed is None:
            pyramid = pyramid_oof(plan, out, k)
            kernels = {v: kernel_oof(plan, out, k, v) for v, taps in KERNEL_VARIANTS.items() if taps}
            chosen = choose(plan, pyramid, kernels, label_idx)
        else:
            chosen = fixed
        model, fit = assemble(plan, out, f"outer{k}", chosen, config, seed)
        metrics = outer_metrics(plan, out, k, chosen, fit)
        if fixed is None:
            save_outer(plan, model, out / f"outer-fold{k}.pt", k, chosen, seed, f"aescull-spp-outer{k}")
        log(f"outer fold {k}: {chosen['variant']} w {chosen['tap_weight']} line {chosen['good_score']:.4f} | "
            + " ".join(f"{key} {metrics[key]:.4f}" for key in ("srcc", "plcc", "accuracy", "pair_accuracy", "bokeh_change", "pyramid_srcc")))
        rows.append(metrics)
        choices.append(chosen)
    if fixed is None:
        (out / "photo-folds.json").write_text(json.dumps(plan.photo_fold_of(), indent=1))
    result = {"summary": summary(rows), "folds": [{k: v for k, v in r.items() if k != "predictions"} for r in rows], "choices": choices}
    log(("nested" if fixed is None else "non-nested (final choices on every outer fold)") + " summary: " + json.dumps(result["summary"]))
    return result


def fixed_oof(plan: Plan, out: Path, name: str) -> Scores:
    """Candidate ``name``'s out-of-fold scores: each outer model's of its own fold."""
    variant, weight = FIXED_CANDIDATES[name]
    kernel = kernel_oof(plan, out, None, variant) if variant != "none" else None
    return blend(pyramid_oof(plan, out, None), kernel, weight, plan.cache)


def fixed_choice(plan: Plan, name: str, oof: Scores, folds: list[int]) -> dict:
    """Candidate ``name`` with its score line chosen on its out-of-fold scores ``oof`` of ``folds``."""
    variant, weight = FIXED_CANDIDATES[name]
    label_idx = np.sort(np.concatenate([plan.folds[j] for j in folds]))
    y = plan.cache.mos[label_idx] / 100.0
    return {"variant": variant, "tap_weight": weight, "good_score": choose_score_line(oof.plain[label_idx], y, float(np.median(y)))}


def report_fixed(plan: Plan, out: Path, config: TrainConfig, seed: int, name: str) -> dict:
    """Candidate ``name`` on every outer fold (its line from the other folds), each outer model saved
    as ``aescull score`` runs it (DIR/outer-fold{k}-NAME.pt, with photo-folds.json for evaluation.trust)."""
    oof = fixed_oof(plan, out, name)
    rows = []
    for k in range(FOLDS):
        chosen = fixed_choice(plan, name, oof, [j for j in range(FOLDS) if j != k])
        model, fit = assemble(plan, out, f"outer{k}", chosen, config, seed)
        metrics = outer_metrics(plan, out, k, chosen, fit)
        save_outer(plan, model, out / f"outer-fold{k}-{name}.pt", k, chosen, seed, f"aescull-spp-outer{k}-{name}")
        log(f"{name} outer fold {k}: line {chosen['good_score']:.4f} | " + " ".join(f"{key} {metrics[key]:.4f}" for key in summary([metrics])))
        rows.append(metrics)
    (out / "photo-folds.json").write_text(json.dumps(plan.photo_fold_of(), indent=1))
    result = {"summary": summary(rows), "folds": [{k: v for k, v in r.items() if k != "predictions"} for r in rows]}
    log(f"{name} on the outer folds: {json.dumps(result['summary'])}")
    return result


def final(plan: Plan, out: Path, config: TrainConfig, seed: int, target: Path, nested: dict | None, candidate: str | None = None) -> dict:
    """The final model, its cheap parts chosen on the outer models' own-fold scores (or the fixed ``candidate``)."""
    cache = plan.cache
    everything = np.arange(len(cache.names))
    if candidate is None:
        pyramid = pyramid_oof(plan, out, None)
        kernels = {v: kernel_oof(plan, out, None, v) for v, taps in KERNEL_VARIANTS.items() if taps}
        chosen = choose(plan, pyramid, kernels, everything)
        log(f"final candidates: {json.dumps(chosen['candidates'])}")
    else:
        chosen = fixed_choice(plan, candidate, fixed_oof(plan, out, candidate), list(range(FOLDS)))
    log(f"final choices: {json.dumps({k: v for k, v in chosen.items() if k != 'candidates'})}")
    model, _ = assemble(plan, out, "final", chosen, config, seed)
    pyramid_meta = load_model(out / "pyr-final.pt").meta
    meta = {
        "name": "aescull-spp",
        "version": date.today().isoformat(),
        "data": "LIVE In the Wild Image Quality Challenge (clive-dev, 878 photos); Debian wallpapers for damage and depth-of-field pairs",
        "train": config.__dict__,
        "train_seconds": pyramid_meta.get("train_seconds"),
        "date": date.today().isoformat(),
        "code_version": f"git {git_commit()}",
        "good_threshold": float(np.median(cache.mos)) / 100.0,
        "good_score": chosen["good_score"],
        "taps": {"variant": chosen["variant"], "tap_weight": chosen["tap_weight"]},
        "cv": {"summary": nested["summary"] if nested else None,
               "protocol": f"5 outer folds, the fixed candidate {candidate!r} (training.nested)" if candidate
               else "5 outer folds, cheap parts chosen on inner folds (training.nested)"},
    }
    digest = save_checkpoint(model, target, meta)
    log(f"saved {target} sha256 {digest} ({target.stat().st_size / 1e6:.1f} MB)")
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--photos", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache-v2.pt"))
    parser.add_argument("--out-dir", type=Path, default=Path("runs/nested"))
    parser.add_argument("--out", type=Path, default=Path("runs/nested/final.pt"))
    parser.add_argument("--plan", default="models:inner,models:outer,models:final,kernels,report,final")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--limit", type=int, default=0, help="smoke test: only the first N labelled photos and 5 photos")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = TrainConfig(epochs=args.epochs)
    if args.cache.is_file():
        cache = load_cache(args.cache)
        log(f"loaded cache {args.cache}")
    else:
        cache = build_cache(args.data, args.photos, config, ModelConfig().max_side, log, limit=args.limit)
        save_cache(cache, args.cache)
        log(f"saved cache {args.cache}")
    plan = Plan(cache, config.seed)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    nested = None
    for step in filter(None, args.plan.split(",")):
        what, _, which = step.partition(":")
        if what == "models":
            train_missing(plan, all_models()[which], args.out_dir, config)
        elif what == "kernels":
            fit_kernels(plan, args.out_dir, config.seed, which)
        elif what == "report":
            nested = report(plan, args.out_dir, config, config.seed)
            (args.out_dir / "report.json").write_text(json.dumps(nested, indent=1))
        elif what == "final":
            if nested is None and (args.out_dir / "report.json").is_file():
                nested = json.loads((args.out_dir / "report.json").read_text())
            chosen = final(plan, args.out_dir, config, config.seed, args.out, nested)
            # The non-nested view, for comparison with figures measured that way: the final
            # model's choices (made on the outer models' own folds) applied to every outer fold.
            flat = report(plan, args.out_dir, config, config.seed, fixed=chosen)
            (args.out_dir / "final-choices.json").write_text(json.dumps({"chosen": chosen, "non_nested": flat}, indent=1))
        elif what == "fixed":
            result = report_fixed(plan, args.out_dir, config, config.seed, which)
            (args.out_dir / f"fixed-{which}.json").write_text(json.dumps(result, indent=1))
        elif what == "ship":
            result = json.loads((args.out_dir / f"fixed-{which}.json").read_text())
            final(plan, args.out_dir, config, config.seed, args.out, result, which)
        else:
            raise SystemExit(f"unknown step {step!r}")


if __name__ == "__main__":
    main()
