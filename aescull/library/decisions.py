"""What a person's decision on a shot writes into its sidecars: the one mapping from decision to XMP fields.

========  ==================================================================================
decision  fields written
========  ==================================================================================
reject    ``xmp:Rating`` -1 and ``digiKam:PickLabel`` 1 (rejected, as every editor reads it)
pick      ``digiKam:PickLabel`` 3; the stars are kept
unflag    ``digiKam:PickLabel`` 0 (no pick label); the stars are kept
stars N   ``xmp:Rating`` N (0 clears the stars); the pick label is kept, or 0 on a reject
========  ==================================================================================

Every sidecar of the shot (``IMG.jpg.xmp``, ``IMG.CR2.xmp``, an ``IMG.xmp`` already there) gets
the shot's new rating and pick label both, so every editor reads the same decision.

``aescull tag --verdict`` writes the verdict of :mod:`aescull.judge.verdict` with the same fields
(:func:`verdict_fields`): a reject as X does, a pick as P does, a keep with no pick label; a pick
and a reject also get a colour label by name (``xmp:Label`` Green / Red), which Lightroom,
darktable and digiKam show as a colour, and the verdict and its reasons go into aescull's namespace.

XMP has one field for stars and rejection (a rejected photo is rated -1), so taking a shot out of
the rejects with P or U writes back the stars it had before it was rejected: they
are read from the journal's earlier versions of its sidecar (:func:`stars_before_reject`), so a
slip of the X key, or a reject by ``aescull cull --tag``, costs no rating; 0 (unrated) when
nothing rated it before. Unflag means "no flag", not "as before the review": a shot that was
rejected before the review is un-rejected by U, which is what overriding a decision needs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from aescull.judge.decide import MAX_STARS, PICK_LABEL_ACCEPTED, PICK_LABEL_REJECTED, REJECTED_RATING, stars_for
from aescull.library import xmp
from aescull.library.journal import Journal

PICK_LABEL_NONE = 0  # digiKam: no pick label
VERDICT_LABELS = {"pick": "Green", "reject": "Red"}  # xmp:Label names as Lightroom's default set spells them


class Flag(str, Enum):
    """A shot's flag, as the sidecar says it."""

    pick = "pick"
    reject = "reject"
    none = "none"


@dataclass(frozen=True)
class Decision:
    """One key press: ``action`` is "pick", "reject", "unflag" or "stars" (with ``stars`` 0-5)."""

    action: str
    stars: int = 0

    def __post_init__(self) -> None:
        if self.action not in ("pick", "reject", "unflag", "stars") or not 0 <= self.stars <= MAX_STARS:
            raise ValueError(f"unknown decision {self.action!r} ({self.stars} stars)")


@dataclass(frozen=True)
class Marks:
    """What a sidecar says about its photo: ``xmp:Rating`` and ``digiKam:PickLabel`` (None when absent or not a number)."""

    rating: int | None = None
    pick_label: int | None = None

    @classmethod
    def of(cls, sidecar: bytes | None) -> Marks:
        """Raises :class:`aescull.library.xmp.SidecarError` for a sidecar aescull would not edit either."""
        if sidecar is None:
            return cls()
        values = xmp.read(sidecar, (xmp.RATING, xmp.PICK_LABEL))
        return cls(_integer(values.get(xmp.RATING)), _integer(values.get(xmp.PICK_LABEL)))

    @property
    def flag(self) -> Flag:
        """A -1 rating or pick label 1 is a reject (darktable, Lightroom and digiKam each read one of them)."""
        if self.rating == REJECTED_RATING or self.pick_label == PICK_LABEL_REJECTED:
            return Flag.reject
        return Flag.pick if self.pick_label == PICK_LABEL_ACCEPTED else Flag.none

    @property
    def stars(self) -> int:
        return self.rating if self.rating is not None and 0 < self.rating <= MAX_STARS else 0


def decided(decision: Decision, marks: Marks, restored_stars: int = 0) -> Marks:
    """The marks of a shot after ``decision``, given its marks now.

    ``restored_stars``: the stars written back when the decision takes a -1 rating away (see the
    module docstring); callers look them up only for such shots.
    """
    if decision.action == "reject":
        return Marks(REJECTED_RATING, PICK_LABEL_REJECTED)
    if decision.action == "stars":
        return Marks(decision.stars, PICK_LABEL_NONE if marks.flag is Flag.reject else marks.pick_label)
    rating = restored_stars if marks.rating == REJECTED_RATING else marks.rating
    return Marks(rating, PICK_LABEL_ACCEPTED if decision.action == "pick" else PICK_LABEL_NONE)


def fields_for(marks: Marks) -> dict[xmp.Key, str]:
    """The sidecar fields that say ``marks``: every sidecar of the shot gets them, so Lightroom's
    ``IMG.xmp`` and darktable's ``IMG.jpg.xmp`` agree. A field the marks leave unset is not written."""
    fields: dict[xmp.Key, str] = {}
    if marks.rating is not None:
        fields[xmp.RATING] = str(marks.rating)
    if marks.pick_label is not None:
        fields[xmp.PICK_LABEL] = str(marks.pick_label)
    return fields


def stars_before_reject(sidecar: Path, journals: Iterable[Journal]) -> int:
    """The stars ``sidecar`` had before it was rated -1, read back through the versions of it that
    the journals kept (each version aescull wrote, by its sha256, and the bytes it replaced);
    0 when no version before the reject had stars."""
    target = str(sidecar.absolute())
    missing = object()
    earlier: dict[str, object] = {}  # sha256 of a version aescull wrote -> the bytes it replaced (None: created)
    for journal in journals:
        for record in journal.records():
            if record.get("type") == "op" and record.get("kind") == "sidecar" and record.get("target") == target:
                earlier[record["sha256"]] = record["previous"]
    data = sidecar.read_bytes() if sidecar.exists() else None
    for _ in range(len(earlier) + 1):  # each step goes one version back; a cycle cannot loop
        if data is None:
            return 0
        try:
            marks = Marks.of(data)
        except xmp.SidecarError:
            return 0
        if marks.rating != REJECTED_RATING:
            return marks.stars
        previous = earlier.get(hashlib.sha256(data).hexdigest(), missing)
        if previous is missing:
            return 0
        data = None if previous is None else base64.b64decode(str(previous))
    return 0


def _integer(text: str | None) -> int | None:
    try:
        return None if text is None else int(text.strip())
    except ValueError:
        return None


def verdict_fields(verdict: str, reasons: Iterable[str], score: float, sidecar: bytes | None) -> dict[xmp.Key, str]:
    """What ``aescull tag --verdict`` writes for a shot judged ``verdict``, given its sidecar now.

    The colour label is the photographer's: it is set only when the sidecar has none, or has the
    one aescull wrote for its previous verdict (which a new verdict then replaces or clears).
    """
    current = {} if sidecar is None else xmp.read(sidecar, [xmp.LABEL, xmp.VERDICT])
    stars = stars_for(score)
    marks = {"reject": Marks(REJECTED_RATING, PICK_LABEL_REJECTED), "pick": Marks(stars, PICK_LABEL_ACCEPTED)}.get(verdict, Marks(stars, PICK_LABEL_NONE))
    fields = {**fields_for(marks), xmp.VERDICT: verdict, xmp.VERDICT_REASONS: ",".join(reasons)}
    label_now, label = current.get(xmp.LABEL, ""), VERDICT_LABELS.get(verdict, "")
    if label != label_now and label_now in ("", VERDICT_LABELS.get(current.get(xmp.VERDICT, ""), "")):
        fields[xmp.LABEL] = label
    return fields
