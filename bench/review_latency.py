"""How fast the review opens and answers keys on a large library, in headless Chromium (a measurement, not a test).

    python -m bench.review_latency make-library /tmp/lib5000 --count 5000 --large 3
    python -m bench.review_latency measure /tmp/lib5000

``make-library`` writes COUNT small generated JPEGs (bench.report_browser's, 500 a folder) and
LARGE 24-MP ones (large/, for the loupe). ``measure`` serves the library as ``aescull review``
does (the same catalog, images, session and server, in this process) but with made-up scores
instead of scoring it first: every tenth shot starts a burst of three, every seventh is
"blurry". Then it opens the page in headless Chromium through the DevTools protocol and prints,
as JSON:

- the server's start (the shots' sidecars read, the page's data made) and the data's size;
- page load: navigation to the load event, to the grid drawn (the first page of tiles), to its
  thumbnails in view decoded (each made on demand from the photo, then cached);
- key to screen: for each key, from the keydown event in the page to the next frame drawn after
  it (the tile shows the decision at once), and, for decisions, to the server's answer shown
  (the sidecars written, fsynced and journaled): medians and 95th percentiles over PRESSES keys;
- a page turn (PageDown) and a filter change, to the next frame;
- the loupe (Z) on each large photo, from the key to its 100 % crop drawn, the first time
  (decode and the sharpest region found) and again (cached).

Decisions are written into the library's sidecars and journaled: ``aescull undo LIBRARY`` puts
them back. CPU seconds are Chromium's (all its processes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

from PIL import Image, ImageFilter

from aescull.judge.checks import Checks
from aescull.review.catalog import Catalog
from aescull.review.images import Images
from aescull.review.server import ReviewServer
from aescull.review.session import Review
from aescull.rows.record import ScoreRecord
from bench.report_browser import cpu_seconds, make_library, percentile
from tests.support.chromium import DevTools
from tests.support.images import photo_pixels

# In the page: the time of each keydown, and of the frame drawn after its handler ran.
INSTRUMENT = """
window.__keys = [];
document.addEventListener('keydown', event => {
  const entry = {key: event.key, down: performance.now(), frame: null};
  window.__keys.push(entry);
  requestAnimationFrame(() => requestAnimationFrame(() => { entry.frame = performance.now(); }));
}, true);
true
"""
SETTLED = "window.__keys.length && window.__keys.every(entry => entry.frame !== null) && !document.querySelector('.pending')"
ANSWERED = """
new Promise(resolve => {
  const tile = document.querySelector('.tile.current');
  const done = () => resolve(performance.now() - window.__keys[window.__keys.length - 1].down);
  if (!tile.classList.contains('pending')) return done();
  new MutationObserver((_, observer) => {
    if (!tile.classList.contains('pending')) { observer.disconnect(); done(); }
  }).observe(tile, {attributes: true, attributeFilter: ['class']});
})
"""
THUMBNAILS_IN_VIEW = """
(() => { const grid = document.getElementById('grid').getBoundingClientRect();
  return [...document.querySelectorAll('.tile img')].filter(image => image.getBoundingClientRect().top < grid.bottom)
    .every(image => image.complete); })()
"""
# A filter change (a menu choice) to the next frame drawn.
FILTER = """
(() => { const start = performance.now(); const menu = document.getElementById('reason');
  menu.value = 'REASON'; menu.dispatchEvent(new Event('change'));
  return new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - start)))); })()
"""
LOUPE_DRAWN = "(() => { const image = document.getElementById('loupe-image'); return !!image.src && image.complete && image.naturalWidth > 0; })()"


def make_large(folder: Path, count: int) -> None:
    """24-MP photos (6000×4000), soft but for one crisp patch, for the loupe to open on."""
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.fromarray(photo_pixels(1500, 1000, seed=1)).resize((6000, 4000), Image.Resampling.BICUBIC)
    for index in range(count):
        soft = base.filter(ImageFilter.BoxBlur(3))
        patch = (600 + 1500 * index, 800, 1400 + 1500 * index, 1600)
        soft.paste(base.crop(patch), patch[:2])
        soft.save(folder / f"LARGE_{index}.jpg", quality=90)


def rows_of(library: Path) -> list[ScoreRecord]:
    """A row per photo as scoring with --checks and --groups would give, with made-up scores."""
    photos = sorted(library.rglob("*.jpg"))
    rows = []
    for index, path in enumerate(photos):
        status = path.stat()
        burst = f"burst{index // 10}" if index % 10 < 3 else None
        checks = Checks.judged(0.3 if index % 7 == 0 else 0.8, -0.4, 0.0, 1.0)
        rows.append(ScoreRecord(path, round(0.2 + 0.7 * ((index * 7919) % 1000) / 1000, 4), size=status.st_size,
                                mtime_ns=status.st_mtime_ns, group=burst, rank_in_group=(index % 10) + 1 if burst else None, checks=checks))
    return rows


def progress(name: str, value: object) -> None:
    """Each figure on stderr as soon as it is measured, so an interrupted run keeps what it had."""
    print(json.dumps({name: value}), file=sys.stderr, flush=True)


def press_and_wait(browser: DevTools, key: str) -> None:
    browser.press(key)
    browser.wait_until(SETTLED)


def figures(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values), 1), "p95_ms": round(percentile(values, 0.95), 1), "max_ms": round(max(values), 1)}


def measure(library: Path, presses: int, width: int, height: int) -> dict[str, object]:
    started = time.monotonic()
    catalog = Catalog(rows_of(library), library)
    images = Images(library, 400, 2)
    review = Review(catalog, "ext", model_name="bench", model_version="bench")
    server = ReviewServer(review, images, f"{len(catalog)} generated photos")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    result: dict[str, object] = {"shots": len(catalog), "server_start_s": round(time.monotonic() - started, 2)}
    progress("server_start_s", result["server_start_s"])
    browser = DevTools(width, height)
    try:
        browser.call("Page.enable", session=True)
        cpu = cpu_seconds(browser.process.pid)
        started = time.monotonic()
        browser.call("Page.navigate", session=True, url=server.url)
        browser.wait_for("Page.loadEventFired")
        load_event = time.monotonic() - started
        browser.wait_until("document.body.dataset.ready", timeout_s=300)
        drawn = time.monotonic() - started
        browser.wait_until(THUMBNAILS_IN_VIEW, timeout_s=300)
        result["page_load"] = {
            "to_load_event_s": round(load_event, 3), "to_grid_drawn_s": round(drawn, 3),
            "to_thumbnails_in_view_s": round(time.monotonic() - started, 3),
            "chromium_cpu_s": round(cpu_seconds(browser.process.pid) - cpu, 3),
            "shots_json_bytes": browser.evaluate("performance.getEntriesByType('resource').find(entry => entry.name.includes('/api/shots')).encodedBodySize"),
            "tiles_laid_out": browser.evaluate("document.querySelectorAll('.tile').length"),
        }
        progress("page_load", result["page_load"])
        browser.evaluate(INSTRUMENT)
        cpu = cpu_seconds(browser.process.pid)
        keys = ["ArrowRight", "x", "ArrowRight", "p", "3", "ArrowRight", "u", "ArrowDown"]
        answers = []
        for index in range(presses):
            key = keys[index % len(keys)]
            browser.press(key)
            if key in ("x", "p", "u", "3"):
                answers.append(float(browser.evaluate(ANSWERED)))  # type: ignore[arg-type]
            browser.wait_until(SETTLED)
        pressed = browser.evaluate("window.__keys")
        assert isinstance(pressed, list)
        to_frame = [entry["frame"] - entry["down"] for entry in pressed]
        decisions = [entry["frame"] - entry["down"] for entry in pressed if entry["key"] in ("x", "p", "u", "3")]
        moves = [entry["frame"] - entry["down"] for entry in pressed if entry["key"].startswith("Arrow")]
        result["keys"] = {"presses": len(pressed), "key_to_frame": figures(to_frame), "decision_to_frame": figures(decisions),
                          "arrow_to_frame": figures(moves), "decision_to_server_answer": figures(answers),
                          "chromium_cpu_s": round(cpu_seconds(browser.process.pid) - cpu, 3)}
        progress("keys", result["keys"])
        browser.evaluate("window.__keys = []")
        press_and_wait(browser, "PageDown")
        turned = browser.evaluate("window.__keys[0].frame - window.__keys[0].down")
        filtered = browser.evaluate(FILTER.replace("REASON", "blurry"))
        result["page_turn_to_frame_ms"] = round(float(turned), 1)  # type: ignore[arg-type]
        result["filter_change_to_frame_ms"] = round(float(filtered), 1)  # type: ignore[arg-type]
        large = [shot for shot in catalog.shots if shot.shown.path.name.startswith("LARGE_")]
        loupe = []
        if large:  # by name, large/ is the last folder: the last page
            browser.evaluate("location.hash = 'sort=name&page=999'")
            browser.call("Page.reload", session=True)
            browser.wait_for("Page.loadEventFired")
            browser.wait_until("document.body.dataset.ready && document.querySelector('.tile[data-name^=\"LARGE_\"]') !== null")
        for attempt in ("first", "again"):
            for shot in large:
                browser.evaluate(f"document.querySelector('.tile[data-id=\"{shot.number}\"]').click()")
                started = time.monotonic()
                browser.press("z")
                browser.wait_until(LOUPE_DRAWN, timeout_s=120)
                loupe.append({"photo": shot.shown.path.name, "open": attempt, "z_to_100_percent_s": round(time.monotonic() - started, 3)})
                browser.press("Escape")
        result["loupe_24mp"] = loupe
    finally:
        browser.close()
        server.shutdown()
        server.server_close()
        review.close()
        images.close()
    result["sidecar_changes"] = review.changes
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make-library", help="write COUNT generated JPEGs (and LARGE 24-MP ones) under FOLDER")
    make.add_argument("folder", type=Path)
    make.add_argument("--count", type=int, default=5000)
    make.add_argument("--large", type=int, default=3)
    run = commands.add_parser("measure", help="serve LIBRARY, open it in headless Chromium and print the timings as JSON")
    run.add_argument("library", type=Path)
    run.add_argument("--presses", type=int, default=40)
    run.add_argument("--window", type=int, nargs=2, default=(1280, 900), metavar=("WIDTH", "HEIGHT"))
    arguments = parser.parse_args()
    if arguments.command == "make-library":
        make_library(arguments.folder, arguments.count, 400, 267)
        make_large(arguments.folder / "large", arguments.large)
    else:
        print(json.dumps(measure(arguments.library.absolute(), arguments.presses, *arguments.window), indent=2))


if __name__ == "__main__":
    main()
