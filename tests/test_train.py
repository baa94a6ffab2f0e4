"""The training helpers that need no data: the taps' ridge head."""

from __future__ import annotations

import numpy as np

from aescull.evaluate import spearman
from aescull.train import TAP_PAIR_MARGIN, fit_ridge, ridge_predict


def test_ridge_learns_from_damage_pairs_what_the_labels_do_not_say() -> None:
    """Labels depend on feature 0 only; damaged copies differ from their originals in feature 3
    alone. Labels alone leave the damaged copies tied with their originals; the damage rows
    put every copy below its original (a compromise with the labels, so by less than the
    margin), and the labels are still followed."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    y = 0.5 + 0.1 * x[:, 0] + 0.01 * rng.normal(size=300)
    originals = rng.normal(size=(100, 6))
    damaged = originals.copy()
    damaged[:, 3] -= 1.0
    labels_only = fit_ridge(x, y, alpha=1.0, eps=1e-5)
    with_damage = fit_ridge(x, y, alpha=1.0, eps=1e-5, damage=originals - damaged)
    gaps = [ridge_predict(fit, originals, 1e-5) - ridge_predict(fit, damaged, 1e-5) for fit in (labels_only, with_damage)]
    assert np.abs(gaps[0]).max() < 0.01
    assert 0.02 < gaps[1].min() and gaps[1].max() < TAP_PAIR_MARGIN
    assert spearman(ridge_predict(labels_only, x, 1e-5), y) > 0.95
    assert spearman(ridge_predict(with_damage, x, 1e-5), y) > 0.8
