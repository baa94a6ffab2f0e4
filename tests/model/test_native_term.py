"""The native term (aescull.model.native_term): a pure function of (network score, readings), its
shipped constants, and its fit (training.native_term)."""

from __future__ import annotations

import numpy as np
import pytest

from aescull.model import native_fit, native_term
from aescull.model.native_term import Term
from training.native_term import cross_validate, fit

TERM = Term(1.0, 0.9, 0.5, 1.0, 0.5, 1.2)
CLEAN = (0.95, 0.8, 1.02, 2.0)  # sharpness, noise (levels), blockiness, scale
BLURRED = (0.5, 0.8, 1.02, 2.0)


def test_the_penalty_counts_only_where_the_image_is_larger_than_the_working_size() -> None:
    assert native_term.penalty([BLURRED[:3] + (1.0,)], TERM)[0] == 0.0
    assert native_term.penalty([BLURRED[:3] + (1.5,)], TERM)[0] == pytest.approx(0.5 * 0.4)
    assert native_term.penalty([BLURRED], TERM)[0] == pytest.approx(0.4)
    assert native_term.penalty([CLEAN], TERM)[0] == 0.0
    assert list(native_term.weight_of_scale([1.0, 1.5, 2.0, 3.0])) == [0.0, 0.5, 1.0, 1.0]


def test_each_reading_pays_past_its_threshold_and_a_missing_reading_counts_as_clean() -> None:
    noisy = (0.95, 8.0, 1.02, 2.0)  # log2 8 = 3, two past the threshold of 1
    blocky = (0.95, 0.8, 2.2, 2.0)
    assert native_term.penalty([noisy, blocky], TERM) == pytest.approx([0.5 * 2.0, 0.5 * 1.0])
    assert native_term.penalty([(float("nan"), float("nan"), 1.0, 2.0)], TERM)[0] == 0.0


def test_apply_clips_keeps_failures_and_changes_nothing_without_a_term() -> None:
    scores = [0.7, None, 0.2, 0.6]
    readings = [BLURRED, BLURRED, BLURRED, None]
    assert native_term.apply(scores, readings, None) == scores
    assert native_term.apply(scores, readings, TERM) == pytest.approx([0.3, None, 0.0, 0.6])


def test_the_shipped_term_is_for_the_shipped_network_only() -> None:
    assert native_term.term_for("0" * 64) is None
    assert native_term.model_identity("0" * 64) == "0" * 64
    term = native_term.term_for(native_fit.FITTED_FOR_SHA256)
    if term is None:
        pytest.skip("no term fitted")
    assert native_term.model_identity(native_fit.FITTED_FOR_SHA256).startswith(native_fit.FITTED_FOR_SHA256 + "+native:")
    # a clean large photo (the 28 originals read sharpness 0.37-1.0, noise 0-3 levels, blockiness 1.01-1.14) pays nothing
    assert native_term.penalty([(0.9, 2.0, 1.1, 3.0), (0.7, 0.5, 1.05, 2.0)], term) == pytest.approx([0.0, 0.0])


def synthetic(n: int = 20, seed: int = 0) -> dict:
    """Copies whose network scores barely move but whose readings show the damage (as at 2048 px)."""
    rng = np.random.default_rng(seed)
    measured = {}
    for i in range(n):
        score = float(rng.uniform(0.5, 0.8))
        sharp = float(rng.uniform(0.85, 1.0))
        clean = [sharp, 0.5, 1.03, 2.0]
        kinds = {"original": (score, clean), "blur 2.5": (score - 0.01, [0.6, 0.3, 1.03, 2.0]),
                 "noise 12": (score - 0.01, [sharp, 3.5, 1.02, 2.0]), "jpeg q8": (score - 0.05, [sharp, 0.1, 1.9, 2.0]),
                 "-2 stops": (score - 0.15, clean), "+2 stops": (score - 0.15, clean),
                 "pixelate 4x": (score - 0.01, [sharp, 0.1, 2.0, 2.0]), "bokeh": (score - 0.05, [sharp, 0.1, 1.03, 2.0]),
                 "missed": (score - 0.04, [0.55, 0.2, 1.03, 2.0])}
        measured[f"p{i:02d}"] = {kind: {"score": s, "readings": r} for kind, (s, r) in kinds.items()}
    return measured


def test_the_fit_charges_what_the_network_missed_and_spares_the_originals() -> None:
    measured = synthetic()
    term, _ = fit(measured, sorted(measured))
    assert term.sharpness_weight > 0 and term.noise_weight > 0 and term.blockiness_weight > 0
    originals = [measured[name]["original"]["readings"] for name in measured]
    assert np.max(native_term.penalty(originals, term)) == 0.0
    held_out, terms = cross_validate(measured, 4)
    assert len(terms) == 4 and sorted(held_out) == sorted(measured)
    assert all(held_out[name]["missed"] < held_out[name]["bokeh"] for name in measured)
