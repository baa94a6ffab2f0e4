"""A review's decisions: read from the shots' sidecars, written the way ``aescull tag`` writes them.

Nothing is written until the person decides. The first decision takes the library's lock and
keeps it until the review stops, so no cull, tag or undo changes the library under it; every
decision is one more step of one journaled run (sidecars merged and written atomically, their
old bytes in the journal), so ``aescull undo`` reverts the whole review. "Apply" moves the
rejected shots to ``<root>/_culled`` as ``aescull cull`` does, as a run of its own, so undo puts
the files back first and the decisions after. Everything here runs one call at a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from aescull.judge.decide import REJECTED_RATING
from aescull.library import xmp
from aescull.library.decisions import Decision, Flag, Marks, decided, fields_for, stars_before_reject
from aescull.library.errors import ActionError, reason
from aescull.library.execute import execute
from aescull.library.journal import JOURNAL_NAME, Journal, journal_home, journals_under, library_lock
from aescull.library.plan import CULLED_FOLDER, plan_sidecar, plan_transfer, sidecar_fields, usable_rows
from aescull.library.preflight import check_writable
from aescull.library.shots import group_shots
from aescull.review.catalog import Catalog, ReviewShot


class Review:
    """The decisions of one review over ``catalog``'s library."""

    def __init__(
        self, catalog: Catalog, sidecar_style: str, journal: Path | None = None, model_name: str | None = None,
        model_version: str | None = None, can_apply: bool = True,
    ) -> None:
        """``can_apply``: whether the rejects may be moved into ``<root>/_culled`` (the root is a folder the user typed)."""
        self.catalog = catalog
        self.root = catalog.root
        self.style = sidecar_style
        self.journal = journal
        self.model = (model_name, model_version)
        self.can_apply = can_apply
        self.destination = self.root / CULLED_FOLDER
        self._lock = threading.Lock()
        self._held = ExitStack()
        self._holding = self._closed = False
        self._run: str | None = None
        self._seq = 0
        self.changes = self.moved = 0
        self.gone: set[int] = set()
        listings: dict[Path, dict[str, str]] = {}
        self._marks = {shot.number: self._read(shot, listings) for shot in catalog.shots}

    def state(self, number: int) -> dict[str, object]:
        """A shot's decision as the page shows it: its flag and stars, or why its sidecar cannot be edited."""
        marks = self._marks[number]
        if isinstance(marks, str):
            return {"id": number, "flag": Flag.none.value, "stars": 0, "error": marks, "gone": number in self.gone}
        return {"id": number, "flag": marks.flag.value, "stars": marks.stars, "error": None, "gone": number in self.gone}

    def decide(self, numbers: Sequence[int], decision: Decision) -> tuple[list[dict[str, object]], list[str]]:
        """Write ``decision`` into every sidecar of these shots; their states after it, and what failed."""
        with self._lock:
            shots = [shot for shot in (self.catalog.get(number) for number in numbers) if shot is not None]
            refused = self._hold_library()
            if refused is None:
                operations, refused_shots = [], []
                for shot in shots:
                    try:
                        operations += self._plan(shot, decision)
                    except ActionError as error:
                        refused_shots.append(f"{shot.shown.path.name}: {error}")
                outcome = execute(operations, self._journal(), "review", self.root, run=self._run, first_seq=self._seq)
                self._run, self._seq = outcome.run, self._seq + len(operations)
                self.changes += outcome.done
                failures = refused_shots + outcome.failures
            else:
                failures = [refused]
            for shot in shots:
                self._marks[shot.number] = self._read(shot)
            return [self.state(shot.number) for shot in shots], failures

    def rejected(self) -> list[ReviewShot]:
        return [shot for shot in self.catalog.shots if shot.number not in self.gone and self.state(shot.number)["flag"] == Flag.reject.value]

    def apply(self) -> tuple[list[dict[str, object]], list[str]]:
        """Move the rejected shots, whole, to ``<root>/_culled`` (as ``aescull cull``: planned, journaled, never overwriting)."""
        with self._lock:
            if not self.can_apply:
                return [], ["the PATHs have no common folder among them, so there is no place for _culled: run `aescull cull --move-to DIR`"]
            refused = self._hold_library()
            if refused is not None:
                return [], [refused]
            try:
                check_writable("move", self.root, self.destination)
            except ActionError as error:
                return [], [str(error)]
            shots = self.rejected()
            rows, failures = usable_rows([row for shot in shots for row in shot.shot.rows], check_staleness=True, exclude=self.destination)
            operations, refused_shots = plan_transfer(group_shots(rows), self.root, self.destination)
            outcome = execute(operations, self._journal(), "review apply", self.root)
            self._run, self._seq = None, 0  # later decisions are a newer run: undo reverts the move first
            moved = [shot for shot in shots if not any(os.path.lexists(path) for path in shot.photos)]
            self.gone.update(shot.number for shot in moved)
            self.moved += len(moved)
            return [self.state(shot.number) for shot in moved], failures + refused_shots + outcome.failures

    def close(self) -> None:
        """Wait for a decision being written, then release the library."""
        with self._lock:
            self._closed = True
            self._held.close()

    def _plan(self, shot: ReviewShot, decision: Decision) -> list:
        if shot.number in self.gone:
            raise ActionError("moved to _culled by apply; decide on it with `aescull undo` first")
        for photo in shot.photos:
            if not os.path.lexists(photo):
                raise ActionError(f"{photo.name} was moved or deleted since the review started; left alone")
        marks = self._read(shot)
        if isinstance(marks, str):
            raise ActionError(marks)
        sidecars = self._sidecars(shot)
        restored = 0
        if marks.rating == REJECTED_RATING and decision.action in ("pick", "unflag"):
            journals = [Journal(self.journal)] if self.journal else [Journal(path) for path in journals_under(self.root)]
            # Each sidecar's own history: a darktable sidecar created by the reject has none, Lightroom's IMG.xmp beside it may.
            restored = max(stars_before_reject(sidecar, journals) for sidecar in sidecars)
        fields = {**fields_for(decided(decision, marks, restored)), **sidecar_fields(shot.score, *self.model)}
        operations = []
        for sidecar in sidecars:
            try:
                operation = plan_sidecar(sidecar, fields)
            except (xmp.SidecarError, OSError) as error:
                raise ActionError(f"{sidecar.name} {reason(error)}; left untouched") from None
            if operation is not None:
                operations.append(operation)
        return operations

    def _sidecars(self, shot: ReviewShot) -> list[Path]:
        """Each sidecar of the shot: the chosen style's for each of its photos, then those of the
        other style that exist already (Lightroom's IMG.xmp beside a darktable library), the one
        the shot's marks are read from first."""
        photos = [shot.shown.path, *(path for path in shot.photos if path != shot.shown.path)]
        chosen = [xmp.sidecar_path(photo, self.style) for photo in photos]
        others = [xmp.sidecar_path(photo, xmp.OTHER_STYLE[self.style]) for photo in photos]
        return list(dict.fromkeys([*chosen, *(other for other in others if other.exists())]))

    def _read(self, shot: ReviewShot, listings: dict[Path, dict[str, str]] | None = None) -> Marks | str:
        """The marks of the shot's first sidecar that exists, or why it cannot be read.

        ``listings`` (folder -> lower-case name -> name, filled as folders are met) finds the
        sidecars of a whole library with one listing per folder, where asking for each missing
        sidecar (which lists its folder to find one named in another case) would list a
        500-photo folder a thousand times.
        """
        paths = self._sidecars(shot) if listings is None else self._listed(shot, listings)
        for path in paths:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as error:
                return f"{path.name}: {reason(error)}"
            try:
                return Marks.of(data)
            except xmp.SidecarError as error:
                return f"{path.name} {error}; aescull leaves it untouched"
        return Marks()

    def _listed(self, shot: ReviewShot, listings: dict[Path, dict[str, str]]) -> list[Path]:
        """The shot's sidecars that exist, in :meth:`_sidecars` order, found in its folder's listing (any case)."""
        folder = shot.shown.path.parent
        if folder not in listings:
            try:
                listings[folder] = {entry.name.lower(): entry.name for entry in os.scandir(folder) if entry.name.lower().endswith(".xmp")}
            except OSError:
                listings[folder] = {}
        names = listings[folder]
        photos = [shot.shown.path, *(path for path in shot.photos if path != shot.shown.path)]
        wanted = [photo.name + ".xmp" if style == "ext" else photo.with_suffix(".xmp").name
                  for style in (self.style, xmp.OTHER_STYLE[self.style]) for photo in photos]
        return [folder / names[name.lower()] for name in dict.fromkeys(wanted) if name.lower() in names]

    def _hold_library(self) -> str | None:
        """Take the library's lock at the first write and keep it; why not, when another run holds it."""
        if self._closed:
            return "the review is stopping"
        if not self._holding:
            home = journal_home(self.root)
            try:
                home.mkdir(parents=True, exist_ok=True)
                self._held.enter_context(library_lock(home))
            except (ActionError, OSError) as error:
                return f"{reason(error)}; nothing was written"
            self._holding = True
        return None

    def _journal(self) -> Journal:
        return Journal(self.journal or journal_home(self.root) / JOURNAL_NAME)
