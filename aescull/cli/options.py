"""Options shared by several commands, each declared once.

:class:`ScoringOptions` (how photos are found, decoded, scored and cached) and
:class:`GroupingOptions` (how bursts are found) are dataclasses whose fields carry their Typer
declarations; :func:`takes` adds those fields to a command's signature and hands the command one
object, so a new scoring option is one field here and reaches every command that scores.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer

from aescull.judge.thresholds import (
    CLOSED_EYES,
    DEFAULT_BURST_WINDOW,
    DEFAULT_KEEP_PER_MOMENT,
    DEFAULT_PICK_SHARE,
    DEFAULT_SIMILARITY,
    DEFAULT_TRUST,
    DEFAULT_WEAK,
    FACE_SOFT,
    FACE_TILE_LEVELS,
)

if TYPE_CHECKING:
    from aescull.judge.faces import FaceSearch
    from aescull.judge.verdict import VerdictRules

Command = TypeVar("Command", bound=Callable[..., Any])


class Format(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    table = "table"
    parquet = "parquet"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class Runtime(str, Enum):
    onnx = "onnx"
    torch = "torch"


class SidecarStyle(str, Enum):
    ext = "ext"
    stem = "stem"


@dataclass(frozen=True)
class ScoringOptions:
    """Which files are scored and how: every command that scores PATH... takes these."""

    recursive: Annotated[bool, typer.Option("--recursive/--no-recursive", help="Walk into subfolders.")] = True
    max_side: Annotated[
        Optional[int],
        typer.Option("--max-side", min=0, metavar="PX", help="Longest side the photo is scaled down to before scoring (default: the model's); 0 = native pixels."),
    ] = None
    full_decode: Annotated[
        bool,
        typer.Option(
            "--full-decode",
            help="Decode JPEGs at full size before scaling them down: slower on large JPEGs, and scores equal a full-resolution "
            "decode's (the default DCT-domain draft decode moves them by up to ~0.01).",
        ),
    ] = False
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1, metavar="N", help="Photos of the same shape per model call [default: 1].")] = None
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, metavar="N", help="Decoding threads [default: CPU cores, at most 4].")] = None
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, metavar="N", help="Model threads [default: half the CPU cores].")] = None
    runtime: Annotated[
        Optional[Runtime],
        typer.Option(
            "--runtime", metavar="onnx|torch",
            help="What runs the network: onnx (ONNX Runtime, the default where it is installed: faster, and no torch to start) "
            "or torch; the scores agree within 1e-4 (docs/engines.md).",
            show_default=False,
        ),
    ] = None
    cache: Annotated[
        Optional[Path], typer.Option("--cache", metavar="FILE", help="Score cache file (default: in the user cache folder).", dir_okay=False)
    ] = None
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the score cache.")] = False
    weights: Annotated[
        Optional[Path], typer.Option("--weights", metavar="FILE", help="Use this checkpoint instead of the bundled weights.", hidden=True, dir_okay=False)
    ] = None


@dataclass(frozen=True)
class GroupingOptions:
    """How photos of one moment are found (``--groups``, ``--keep-best``)."""

    burst_window: Annotated[
        float,
        typer.Option("--burst-window", min=0.0, metavar="S", help="Photos of one moment are taken at most S seconds apart (with --groups)."),
    ] = DEFAULT_BURST_WINDOW
    similarity: Annotated[
        float,
        typer.Option(
            "--similarity", min=-1.0, max=1.0, metavar="S",
            help="How alike a photo must look to a group, on average over its photos, to join it, -1..1: correlation of 8×8 "
            "thumbnails minus a colour difference (with --groups; copies without EXIF need 0.95, docs/groups.md).",
        ),
    ] = DEFAULT_SIMILARITY
    duplicates: Annotated[
        bool, typer.Option("--duplicates", help="Also group near-identical photos (copies, exports) whatever their capture times (with --groups).")
    ] = False


@dataclass(frozen=True)
class FaceOptions:
    """Whether faces are looked for (``--faces``, the ``faces`` extra) and the lines that judge them."""

    faces: Annotated[
        bool,
        typer.Option(
            "--faces",
            help="Also find faces and judge them at native resolution: columns faces, eyes_closed, face_sharpness and "
            "reasons (eyes-closed, face-soft). Needs pip install 'aescull[faces]'.",
        ),
    ] = False
    closed_eyes: Annotated[
        float,
        typer.Option("--closed-eyes", min=0.0, max=1.0, metavar="T", help="A face's eyes are closed when its mean blink score is above T (with --faces)."),
    ] = CLOSED_EYES
    face_soft: Annotated[
        float,
        typer.Option("--face-soft", min=0.0, max=1.0, metavar="S", help="A face is soft when the sharpness of its eyes, nose and lips is below S (with --faces)."),
    ] = FACE_SOFT
    face_tiles: Annotated[
        int,
        typer.Option(
            "--face-tiles", min=0, max=3, metavar="N",
            help="How small a face to look for: 0 finds faces over ~20% of the frame, each level 0.4 times smaller ones "
            "(2: down to ~3%, about 0.2 s a photo; docs/faces.md).",
        ),
    ] = FACE_TILE_LEVELS

    def search(self) -> FaceSearch | None:
        if not self.faces:
            return None
        from aescull.judge.faces import FaceSearch, Thresholds

        return FaceSearch(Thresholds(closed_eyes=self.closed_eyes, face_soft=self.face_soft), self.face_tiles)


@dataclass(frozen=True)
class VerdictOptions:
    """The lines the verdict draws (``--verdict``; a bare ``cull``), measured on a simulated shoot (docs/verdict.md)."""

    weak: Annotated[
        float,
        typer.Option("--weak", min=0.0, max=1.0, metavar="T", help="A photo scoring below T is rejected as weak, whatever the checks say (with the verdict)."),
    ] = DEFAULT_WEAK
    trust: Annotated[
        float,
        typer.Option(
            "--trust", min=0.0, max=1.0, metavar="T",
            help="A photo outside a burst scoring T or more is not rejected for blurry, dark or bright: the score vouches for "
            "it (a bright sky, a dark mood); the flags stay as notes (with the verdict).",
        ),
    ] = DEFAULT_TRUST
    keep_per_moment: Annotated[
        int,
        typer.Option(
            "--keep-per-moment", min=1, metavar="N",
            help="Keep the N best frames of each burst that are not rejected for their own reasons; the others are rejected as "
            "duplicate (with the verdict).",
        ),
    ] = DEFAULT_KEEP_PER_MOMENT
    pick_share: Annotated[
        float,
        typer.Option(
            "--pick-share", min=0.0, max=1.0, metavar="F",
            help="Pick the best F of the photos outside bursts that are not rejected, at least one (with the verdict; the best "
            "frame of each burst is always a pick).",
        ),
    ] = DEFAULT_PICK_SHARE

    def rules(self) -> VerdictRules:
        from aescull.judge.verdict import VerdictRules

        return VerdictRules(weak=self.weak, trust=self.trust, keep_per_moment=self.keep_per_moment, pick_share=self.pick_share)


def takes(**groups: type) -> Callable[[Command], Command]:
    """``@takes(scoring=ScoringOptions)``: the command gets ``scoring=ScoringOptions(...)`` built
    from options that Typer parses as if each field were a parameter of the command."""

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command)
        resolved = typing.get_type_hints(command, include_extras=True)  # in the command's own module
        own = [parameter.replace(annotation=resolved[name]) for name, parameter in signature.parameters.items() if name not in groups]
        added: dict[str, list[inspect.Parameter]] = {}
        for argument, kind in groups.items():
            hints = typing.get_type_hints(kind, include_extras=True)
            added[argument] = [
                inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default, annotation=hints[field.name])
                for field in fields(kind)
            ]

        @functools.wraps(command)
        def wrapper(**values: Any) -> Any:
            for argument, kind in groups.items():
                values[argument] = kind(**{parameter.name: values.pop(parameter.name) for parameter in added[argument]})
            return command(**values)

        parameters = own + [parameter for extra in added.values() for parameter in extra]
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        del wrapper.__wrapped__  # type: ignore[attr-defined]  # Typer must read the signature above, not the command's
        return wrapper  # type: ignore[return-value]

    return decorate


PathsArg = Annotated[
    Optional[list[Path]], typer.Argument(metavar="PATH", help="Photos or folders to score (default: the current folder).", show_default=False)
]
ActPathsArg = Annotated[Optional[list[Path]], typer.Argument(metavar="PATH", help="Photos or folders to score and act on.", show_default=False)]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", metavar="csv|jsonl|table", help="Output format.")]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", help="Write rows to FILE instead of stdout.", dir_okay=False)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary (failures are still reported).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and decoder details on stderr.")]
GroupsOpt = Annotated[
    bool,
    typer.Option("--groups", help="Find bursts and near-duplicates, and the sets that stay whole (exposure brackets, focus stacks, panoramas): add the group, rank_in_group, set and set_id columns."),
]
ChecksOpt = Annotated[
    bool,
    typer.Option(
        "--checks",
        help="Also measure focus, exposure and noise at native resolution: columns sharpness, exposure, clipped, noise "
        "and reasons (blurry, dark, bright, noisy). Costs a full-size decode of each JPEG.",
    ),
]
VerdictOpt = Annotated[
    bool,
    typer.Option(
        "--verdict",
        help="Also judge each shot pick, keep or reject, with the reasons: columns verdict and verdict_reasons. Implies "
        "--groups and --checks, and --faces when the faces extra is installed (docs/verdict.md).",
    ),
]
SidecarStyleOpt = Annotated[
    SidecarStyle, typer.Option("--sidecar-style", metavar="ext|stem", help="IMG.jpg.xmp (ext: darktable, digiKam) or IMG.xmp (stem: Lightroom, Capture One); a sidecar of the other style already there is updated too.")
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the plan on stdout and change nothing.")]
JournalOpt = Annotated[
    Optional[Path], typer.Option("--journal", metavar="FILE", help="Journal file [default: .aescull-journal.jsonl in the library's root, or in the user's state folder when the root is read-only].", dir_okay=False)
]
FromOpt = Annotated[Optional[str], typer.Option("--from", metavar="FILE", help="Read rows of `aescull score` (csv or jsonl) from FILE, or - for stdin.")]
