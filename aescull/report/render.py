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

import html
import statistics
import zlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path

from aescull import __version__
from aescull.report.thumbnails import StoredThumbnail
from aescull.judge.verdict import VERDICTS
from aescull.report.tiles import Groups, Tile, verdict_rank

HISTOGRAM_BINS = 20
# Tiles per page: the browser lays out and paints one page, so 5,000 photos scroll like 200.
PAGE_SIZE = 200


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
    if tile.verdict is not None:
        attributes.append(f'data-verdict="{verdict_rank(tile)}"')
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
    if tile.verdict is not None:
        caption.append(f'<span class="verdict v-{tile.verdict}">{tile.verdict}</span>')
    if group is not None:
        caption.append(f'<span class="group">group {esc(group)} · {groups.size[group]}</span>')
    if tile.faces is not None:
        caption.append(f'<span class="faces">{esc(tile.faces)}</span>')
    if tile.reasons or tile.verdict_reasons:
        reasons = dict.fromkeys(tile.verdict_reasons + tile.reasons)  # the verdict's first, each once
        caption.append('<span class="reasons">' + "".join(f"<span>{esc(reason)}</span>" for reason in reasons) + "</span>")
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
    verdicts = Counter(tile.verdict for tile in tiles if tile.verdict)
    facts += [f"{verdicts[verdict]} {verdict}{'' if verdicts[verdict] == 1 else 's'}" for verdict in VERDICTS if verdicts]
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
{'<option value="verdict">verdict: picks, keeps, rejects</option>' if verdicts else ''}
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
