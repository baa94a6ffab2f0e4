"""The native term's fitted constants (see :mod:`aescull.model.native_term`). Written by
``python -m training.native_term --photos ../shared/data/photos --measurements runs/native-measure.json --write``
on 2026-12-02; do not edit by hand.

Held-out figures (photo-level cross-validation on the 2048-px copies of the fitting photos):
- network alone:        damaged below original 0.964, median drop 0.058; bokeh above missed focus in 20 of 28, median |bokeh - original| 0.090
- network + the term:   damaged below original 0.982, median drop 0.173; bokeh above missed focus in 21 of 28, median |bokeh - original| 0.095
"""

FITTED_FOR_SHA256 = "29a03720c006fb1bf8912ead905bba3f59747bfcf436413c7ab517886f72c7ee"  # the network (weights file sha256) these were fitted on
SHARPNESS = (0.2, 0.6)  # (weight, the sharpness below which the score pays)
NOISE = (0.8, 1.584962500721156)  # (weight, the log2 noise in 8-bit levels above which it pays)
BLOCKINESS = (1.5, 1.2)  # (weight, the blockiness above which it pays)
