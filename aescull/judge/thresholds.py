"""The judges' user-facing defaults, in one module without numpy, so ``--help`` can show them cheaply."""

from __future__ import annotations

# Grouping (aescull.judge.groups): photos of one moment are taken at most this many seconds
# apart, and at least this alike (see aescull.judge.signatures.similarity_of).
DEFAULT_BURST_WINDOW = 3.0
DEFAULT_SIMILARITY = 0.7
# Near-identical: copies, exports and re-encodes of one frame.
DUPLICATE_SIMILARITY = 0.95

# The reasons a photo can be flagged for, by the checks (aescull.judge.checks) and the faces
# (aescull.judge.faces), in the order rows list them.
CHECK_REASONS = ("blurry", "dark", "bright", "noisy")
FACE_REASONS = ("eyes-closed", "face-soft")

# Faces (aescull.judge.faces), measured on faces-dev (docs/faces.md): a judged face's eyes are
# closed above this mean blink score, it is soft below this sharpness, and faces whose eyes are
# closer than this many native pixels are counted but not judged; the tile pyramid's levels
# below the full frame (each seeks faces 0.4 times smaller).
CLOSED_EYES = 0.38
FACE_SOFT = 0.34
MIN_EYE_DISTANCE = 25.0
FACE_TILE_LEVELS = 2
