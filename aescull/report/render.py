"""A contact sheet people can look at: one offline HTML file with every photo, best first.

Why it is built this way:
- Every tile is in the HTML itself (no JSON to render client-side), so the page works with
  scripts off, a browser's find-in-page finds any file name, and the JS only filters and
  reorders existing nodes. 5,000 tiles stay smooth because images load lazily and every tile
  has one fixed size, so nothing arriving while scrolling re-lays out the grid.
- Thumbnails come from the scoring decode (see :func:`aescull.pipeline.decode.decode`); only photos that
  run did not decode (cache hits, rows read from a file) are opened again, in draft mode.
- Thumbnails are spooled to a temporary folder beside the report while scoring, so memory
  stays flat; at the end they are either embedded as data URIs (one self-contained file) or
  the folder becomes ``<report>_thumbs/`` beside it (large libraries: the HTML stays small).
- Every text from a row or a file name is HTML-escaped, and no row data ever reaches the script.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import os
import re
import shutil
import statistics
import tempfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from aescull import __version__
from aescull.library.xmp import atomic_write

if TYPE_CHECKING:
    from aescull.pipeline.decode import Thumbnail

# Up to this many photos the thumbnails are embedded; above it they go to a sibling folder,
# because a 5,000-photo page of data URIs is over 100 MB of HTML to parse before anything shows.
EMBED_LIMIT = 1000
HISTOGRAM_BINS = 20
# Tiles per page: the browser lays out and paints one page, so 5,000 photos scroll like 200.
PAGE_SIZE = 200
THUMBS_SUFFIX = "_thumbs"
_THUMB_NAME = re.compile(r"\d{6}\.jpg")
# Row columns shown in their own place on a tile; any other column goes into its tooltip.
_SHOWN_COLUMNS = frozenset({"path", "score", "error", "group", "reasons"})
_HIDDEN_COLUMNS = frozenset({"cached", "size", "mtime_ns"})


class ReportError(Exception):
    """The report cannot be written where asked; nothing was changed."""


@dataclass(frozen=True)
class StoredThumbnail:
    name: str  # file name inside the spool folder
    width: int
    height: int


class ThumbnailSpool:
    """Thumbnails on disk while the rows arrive, keyed by the row's path text."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.by_path: dict[str, StoredThumbnail] = {}

    def add(self, path: str, thumbnail: Thumbnail) -> None:
        name = f"{len(self.by_path) + 1:06d}.jpg"
        (self.folder / name).write_bytes(thumbnail.jpeg)
        self.by_path[path] = StoredThumbnail(name, thumbnail.width, thumbnail.height)

    def alias(self, path: str, other: str) -> bool:
        """A RAW half of a pair shows its JPEG's thumbnail: they are one shot."""
        stored = self.by_path.get(other)
        if stored is not None:
            self.by_path[path] = stored
        return stored is not None

    def data_uri(self, stored: StoredThumbnail) -> str:
        return "data:image/jpeg;base64," + base64.b64encode((self.folder / stored.name).read_bytes()).decode("ascii")


@dataclass(frozen=True)
class Tile:
    """One row, ready to draw."""

    path: str
    score: float | None
    error: str | None
    group: str | None
    reasons: tuple[str, ...]
    time: float | None  # seconds since the epoch, for sorting by time
    details: tuple[tuple[str, str], ...]  # the tooltip: every other column of the row


def record_row(record: object) -> dict[str, object]:
    """Any scoring record (a dataclass) as a row dict, whatever columns other steps added.

    A nested dataclass (the ``checks`` of ``--checks``) gives its own fields as columns, as in
    the csv of ``aescull score``, so its ``reasons`` show on the tile.
    """
    row: dict[str, object] = {}
    for field in dataclasses.fields(record):  # type: ignore[arg-type]
        value = getattr(record, field.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            row.update(record_row(value))
        else:
            row[field.name] = str(value) if isinstance(value, os.PathLike) else value
    return row


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = ";".join(str(item) for item in value)
    text = str(value).strip()
    return text or None


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _reasons(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else re.split(r"[;,]", _text(value) or "")
    return tuple(text for text in (str(item).strip() for item in items) if text)


def _time_of(row: Mapping[str, object]) -> float | None:
    """Capture time when the camera wrote one, else the file's modification time."""
    taken = _text(row.get("taken"))
    if taken:
        try:
            stamp = datetime.fromisoformat(taken)
        except ValueError:
            stamp = None
        if stamp is not None:
            return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()
    mtime_ns = _number(row.get("mtime_ns"))
    return None if mtime_ns is None else mtime_ns / 1e9


def tile_of(row: Mapping[str, object]) -> Tile:
    path = _text(row.get("path")) or ""
    score = _number(row.get("score"))
    error = _text(row.get("error"))
    if score is None and error is None:
        error = "no score"
    details = tuple(
        (name, text)
        for name, value in row.items()
        if name not in _SHOWN_COLUMNS and name not in _HIDDEN_COLUMNS and (text := _text(value)) is not None
    )
    return Tile(path, None if error else score, error, _text(row.get("group")), _reasons(row.get("reasons")), _time_of(row), details)


@dataclass(frozen=True)
class Groups:
    """Groups (bursts) with more than one shot in the report; a lone member is shown as ungrouped."""

    size: dict[str, int]
    best: dict[str, float]

    @classmethod
    def of(cls, tiles: Iterable[Tile]) -> Groups:
        size: dict[str, int] = {}
        best: dict[str, float] = {}
        for tile in tiles:
            if tile.group is not None:
                size[tile.group] = size.get(tile.group, 0) + 1
                if tile.score is not None:
                    best[tile.group] = max(best.get(tile.group, tile.score), tile.score)
        return cls({group: count for group, count in size.items() if count > 1}, best)

    def group_of(self, tile: Tile) -> str | None:
        return tile.group if tile.group in self.size else None

    def best_of(self, tile: Tile) -> float | None:
        group = self.group_of(tile)
        return tile.score if group is None else self.best.get(group, tile.score)


def ordered(tiles: Iterable[Tile]) -> list[Tile]:
    """Best first, a group kept together at the place of its best shot; failures last.

    The page's script sorts "score" the same way, so the order is right with scripts off too.
    """
    tiles = list(tiles)
    groups = Groups.of(tiles)

    def key(tile: Tile) -> tuple:
        best = groups.best_of(tile)
        if tile.score is None or best is None:
            return (1, 0.0, "", 0.0, tile.path)
        return (0, -best, groups.group_of(tile) or "", -tile.score, tile.path)

    return sorted(tiles, key=key)


def fill_missing_thumbnails(
    tiles: list[Tile], pairs: Mapping[str, str], spool: ThumbnailSpool, side: int, workers: int, warn: Callable[[str], None]
) -> int:
    """Thumbnails for rows the scoring run did not decode; returns how many could not be made.

    Failed rows are left without one (their file was tried already). The RAW half of a pair
    waits for its JPEG's thumbnail and is opened only when that one could not be made.
    """
    from aescull.pipeline.discover import is_raw

    wanted = [tile.path for tile in tiles if tile.error is None]
    present = set(wanted)

    def waits_for_pair(path: str) -> bool:
        return is_raw(Path(path)) and pairs.get(path) in present

    waiting = [path for path in wanted if waits_for_pair(path)]
    waiting_set = set(waiting)
    failed = _decode_into(spool, [path for path in wanted if path not in spool.by_path and path not in waiting_set], side, workers, warn)
    for path in waiting:
        spool.alias(path, pairs[path])
    return failed + _decode_into(spool, [path for path in waiting if path not in spool.by_path], side, workers, warn)


def _decode_into(spool: ThumbnailSpool, paths: list[str], side: int, workers: int, warn: Callable[[str], None]) -> int:
    from aescull.pipeline.decode import DecodeError, decode

    def make(path: str) -> Thumbnail | str:
        try:
            thumbnail = decode(Path(path), side, side).thumbnail
        except DecodeError as error:
            return str(error)
        assert thumbnail is not None
        return thumbnail

    failed = 0
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="aescull-thumb") as pool:
        for path, result in zip(paths, pool.map(make, paths)):
            if isinstance(result, str):
                failed += 1
                warn(f"{path}: no thumbnail: {result}")
            else:
                spool.add(path, result)
    return failed


def histogram_svg(scores: list[float], below: float | None, bins: int = HISTOGRAM_BINS) -> str:
    """Counts per score bin as inline SVG, the cull threshold drawn as a line."""
    counts = [0] * bins
    for score in scores:
        counts[min(bins - 1, max(0, int(score * bins)))] += 1
    width, height, left, bottom, top = 600, 160, 46, 24, 22
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max(counts, default=0) or 1
    bar_w = plot_w / bins
    parts = [
        f'<svg id="histogram" viewBox="0 0 {width} {height}" role="img" aria-label="histogram of scores" xmlns="http://www.w3.org/2000/svg">',
        f'<rect id="hist-range" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>',
    ]
    for index, count in enumerate(counts):
        low, high = index / bins, (index + 1) / bins
        bar_h = plot_h * count / peak
        cls = "bar cut" if below is not None and (low + high) / 2 < below else "bar"
        parts.append(
            f'<rect class="{cls}" x="{left + index * bar_w + 1:.1f}" y="{top + plot_h - bar_h:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{bar_h:.1f}"><title>{low:.2f}–{high:.2f}: {count} photo{"" if count == 1 else "s"}</title></rect>'
        )
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = left + tick * plot_w
        parts.append(f'<text class="tick" x="{x:.1f}" y="{height - 6}">{tick:g}</text>')
    parts.append(f'<text class="axis" x="{left - 6}" y="{top + 4}">{peak}</text><text class="axis" x="{left - 6}" y="{top + plot_h}">0</text>')
    parts.append(f'<line class="baseline" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    if below is not None:
        x = left + min(max(below, 0.0), 1.0) * plot_w
        culled = sum(score < below for score in scores)
        parts.append(f'<line id="threshold" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 14}" y2="{top + plot_h}"/>')
        anchor = "end" if below > 0.5 else "start"
        label_x = x - 4 if anchor == "end" else x + 4
        parts.append(f'<text class="threshold" x="{label_x:.1f}" y="{top - 4}" text-anchor="{anchor}">below {below:g}: {culled}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _hue(group: str) -> int:
    return zlib.crc32(group.encode("utf-8")) % 360


def _tile_html(tile: Tile, index: int, src: str | None, stored: StoredThumbnail | None, groups: Groups, below: float | None) -> str:
    esc = html.escape
    name = Path(tile.path).name or tile.path
    classes = ["tile"]
    if tile.score is None:
        classes.append("failed")
    elif below is not None and tile.score < below:
        classes.append("below")
    attributes = [f'id="t{index}"', f'class="{" ".join(classes)}"', f'data-name="{esc(tile.path.lower())}"']
    if index >= PAGE_SIZE:
        attributes.append("hidden")  # on a later page until the script shows it
    if tile.score is not None:
        attributes += [f'data-score="{tile.score:.4f}"', f'data-best="{groups.best_of(tile):.4f}"']
    if tile.time is not None:
        attributes.append(f'data-t="{tile.time:.0f}"')
    group = groups.group_of(tile)
    if group is not None:
        attributes += [f'data-group="{esc(group)}"', f'style="--hue:{_hue(group)}"']
    tooltip = "\n".join([tile.path, *(f"{key}: {value}" for key, value in tile.details), *([f"error: {tile.error}"] if tile.error else [])])
    attributes.append(f'title="{esc(tooltip)}"')
    if src is not None and stored is not None:
        image = f'<img src="{esc(src)}" width="{stored.width}" height="{stored.height}" loading="lazy" decoding="async" alt="{esc(name)}">'
    else:
        image = '<span class="nothumb">no preview</span>'
    link = _file_link(tile.path)
    frame = f'<a class="frame" href="{esc(link)}">{image}</a>' if link else f'<div class="frame">{image}</div>'
    caption = [f'<span class="score">{"—" if tile.score is None else f"{tile.score:.3f}"}</span>', f'<span class="name">{esc(name)}</span>']
    if group is not None:
        caption.append(f'<span class="group">group {esc(group)} · {groups.size[group]}</span>')
    if tile.reasons:
        caption.append('<span class="reasons">' + "".join(f"<span>{esc(reason)}</span>" for reason in tile.reasons) + "</span>")
    if tile.error:
        caption.append(f'<span class="error">{esc(tile.error)}</span>')
    bar = "" if tile.score is None else f'<span class="meter" style="width:{max(0.0, min(tile.score, 1.0)) * 100:.1f}%"></span>'
    return f'<figure {" ".join(attributes)}>{frame}{bar}<figcaption>{"".join(caption)}</figcaption></figure>'


def _pager_html(place: str, count: int) -> str:
    """Previous/next page buttons; the script fills in the range and hides them for a single page."""
    hidden = "" if count > PAGE_SIZE else " hidden"
    return (f'<nav class="pager" id="pager-{place}" aria-label="pages"{hidden}>'
            '<button type="button" class="prev">‹ previous</button> <span class="range"></span> '
            '<button type="button" class="next">next ›</button></nav>')


def _file_link(path: str) -> str | None:
    """A link to the original, so a click shows it full size (where the browser can show it)."""
    try:
        return Path(path).absolute().as_uri()
    except ValueError:
        return None


def _asset(name: str) -> str:
    return resources.files("aescull.report").joinpath(name).read_text(encoding="utf-8")


def render(tiles: list[Tile], thumbnail_src: Callable[[Tile], tuple[str, StoredThumbnail] | None], below: float | None,
           title: str, sources: str) -> str:
    """The whole page; ``tiles`` already in display order."""
    esc = html.escape
    scores = [tile.score for tile in tiles if tile.score is not None]
    groups = Groups.of(tiles)
    failed = len(tiles) - len(scores)
    facts = [f"{len(tiles)} photo{'' if len(tiles) == 1 else 's'}", f"{len(scores)} scored"]
    if failed:
        facts.append(f"{failed} failed")
    if scores:
        facts.append(f"median {statistics.median(scores):.3f}")
    if below is not None:
        facts.append(f"{sum(score < below for score in scores)} below {below:g} (dimmed)")
    if groups.size:
        facts.append(f"{len(groups.size)} groups")
    body = []
    for index, tile in enumerate(tiles):
        found = thumbnail_src(tile)
        body.append(_tile_html(tile, index, found[0] if found else None, found[1] if found else None, groups, below))
    generated = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="aescull {__version__}">
<title>{esc(title)}</title>
<style>
{_asset("page.css")}
</style>
<noscript><style>.tile[hidden] {{ display: block; }} .pager {{ display: none; }}</style></noscript>
</head>
<body>
<header>
<h1>{esc(title)}</h1>
<p class="summary">{esc(" · ".join(facts))}</p>
<p class="sources">{esc(sources)} · aescull {__version__} · {generated}</p>
{histogram_svg(scores, below)}
<form id="controls" onsubmit="return false">
<label>sort <select id="sort" name="sort">
<option value="score">score, best first</option>
<option value="worst">score, worst first</option>
<option value="name">name</option>
<option value="time">time</option>
</select></label>
<label>score from <input id="min" name="min" type="number" min="0" max="1" step="0.01" value="0" inputmode="decimal"></label>
<label>to <input id="max" name="max" type="number" min="0" max="1" step="0.01" value="1" inputmode="decimal"></label>
<label><input id="failed" name="failed" type="checkbox" checked> failed files</label>
<output id="shown">{len(tiles)} shown</output>
</form>
{_pager_html("top", len(tiles))}
</header>
<main id="grid" data-below="{'' if below is None else f'{below:g}'}" data-page-size="{PAGE_SIZE}">
{chr(10).join(body)}
</main>
{_pager_html("bottom", len(tiles))}
<script>
{_asset("page.js")}
</script>
</body>
</html>
"""


def thumbs_folder_for(output: Path) -> Path:
    return output.with_name(output.stem + THUMBS_SUFFIX)


def check_destination(output: Path) -> None:
    """Refuse before any work when the report would overwrite something that is not ours."""
    if not output.parent.is_dir():
        raise ReportError(f"folder {output.parent} does not exist")
    if output.is_dir():
        raise ReportError(f"{output} is a folder; give the report's file name")
    folder = thumbs_folder_for(output)
    if folder.exists() and not _is_ours(folder):
        raise ReportError(f"{folder} exists and holds files aescull did not write; move it or choose another -o")


def _is_ours(folder: Path) -> bool:
    """An earlier report's thumbnails folder: only NNNNNN.jpg files in it."""
    return folder.is_dir() and not folder.is_symlink() and all(_THUMB_NAME.fullmatch(entry.name) and entry.is_file() for entry in folder.iterdir())


class ReportWriter:
    """Owns the spool folder; :meth:`write` turns it into the report (and maybe its folder)."""

    def __init__(self, output: Path) -> None:
        check_destination(output)
        self.output = output
        self.spool = ThumbnailSpool(Path(tempfile.mkdtemp(prefix=".aescull-thumbs-", dir=output.parent)))

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.spool.folder, ignore_errors=True)

    def write(self, tiles: list[Tile], below: float | None, title: str, sources: str, embed: bool) -> Path | None:
        """Write the page atomically; returns the thumbnails folder when one was made."""
        spool = self.spool
        folder = thumbs_folder_for(self.output)
        prefix = quote(folder.name, safe="") + "/"

        def source(tile: Tile) -> tuple[str, StoredThumbnail] | None:
            stored = spool.by_path.get(tile.path)
            if stored is None:
                return None
            return (spool.data_uri(stored) if embed else prefix + stored.name), stored

        page = render(tiles, source, below, title, sources)
        check_destination(self.output)  # the folder could have appeared while scoring
        if not embed:
            if folder.exists():
                shutil.rmtree(folder)
            os.chmod(spool.folder, 0o777 & ~_umask())  # mkdtemp made it private; the page's readers need it
            os.replace(spool.folder, folder)
            spool.folder.mkdir()  # so __exit__ has something harmless to remove
        elif folder.exists():
            shutil.rmtree(folder)  # an earlier, larger report's thumbnails would be stale
        atomic_write(self.output, page.encode("utf-8", "backslashreplace"))  # a non-UTF-8 name shows as \udce9, as on stderr
        return None if embed else folder



def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
