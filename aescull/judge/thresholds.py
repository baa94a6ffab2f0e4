"""The judges' user-facing defaults, in one module without numpy, so ``--help`` can show them cheaply."""

from __future__ import annotations

# Grouping (aescull.judge.groups): photos of one moment are taken at most this many seconds
# apart, and at least this alike (see aescull.judge.signatures.similarity_of).
DEFAULT_BURST_WINDOW = 3.0
DEFAULT_SIMILARITY = 0.7
# Near-identical: copies, exports and re-encodes of one frame.
DUPLICATE_SIMILARITY = 0.95
