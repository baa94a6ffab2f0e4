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

# The verdict (aescull.judge.verdict, docs/verdict.md): the reasons that reject a photo (noisy is
# a note, not a reject), every reason a verdict can give in the order rows list them, and the
# lines drawn by default: a score below DEFAULT_WEAK rejects a photo ("weak"), one outside a
# moment scoring DEFAULT_TRUST or more is not rejected for the checks' flags, a moment keeps
# its best DEFAULT_KEEP_PER_MOMENT frames, and the best DEFAULT_PICK_SHARE of the photos outside
# moments are picked.
REJECT_REASONS = frozenset({"blurry", "dark", "bright", "eyes-closed", "face-soft"})
VERDICT_REASONS = ("blurry", "dark", "bright", "eyes-closed", "face-soft", "weak", "duplicate", "noisy")
DEFAULT_WEAK = 0.40
DEFAULT_TRUST = 0.70
DEFAULT_KEEP_PER_MOMENT = 1
DEFAULT_PICK_SHARE = 0.2
