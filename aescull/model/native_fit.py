"""The native term's fitted constants (see :mod:`aescull.model.native_term`). Written by
``python -m training.native_term --photos ../shared/data/photos --write``; do not edit by hand.

Not fitted yet: every weight is 0, so no score pays anything.
"""

FITTED_FOR_SHA256 = ""  # the network (weights file sha256) these were fitted on
SHARPNESS = (0.0, 0.0)  # (weight, the sharpness below which the score pays)
NOISE = (0.0, 0.0)  # (weight, the log2 noise in 8-bit levels above which it pays)
BLOCKINESS = (0.0, 0.0)  # (weight, the blockiness above which it pays)
