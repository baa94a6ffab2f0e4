"""How fast a big report opens and scrolls in headless Chromium (a measurement, not a test).

    python -m bench.report_browser make-library /tmp/lib5000 --count 5000
    aescull report /tmp/lib5000 -o /tmp/r5000/report.html
    python -m bench.report_browser measure /tmp/r5000/report.html

or, where the CPU is too busy to decode 5,000 photos first, the same page without scoring:

    python -m bench.report_browser make-report /tmp/r5000/report.html --count 5000

``measure`` loads the page through the DevTools protocol and prints the navigation timings
(DOMContentLoaded, load, first contentful paint) with the CPU seconds Chromium's processes used
meanwhile (on a busy machine wall time is mostly waiting), then scrolls ``--step`` pixels a
frame for ``--frames`` frames, jumps to the end, and prints the frame intervals, then times a
re-sort and a filter, each with Chromium's CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from pathlib import Path

from PIL import Image, ImageChops

from aescull.pipeline.decode import Thumbnail
from aescull.report.tiles import ordered, tile_of
from aescull.report.write import ReportWriter
from tests.support.chromium import DevTools

SCROLL_SCRIPT = """
new Promise(resolve => {
  const intervals = [];
  let last = performance.now();
  const step = () => {
    const now = performance.now();
    intervals.push(now - last);
    last = now;
    if (intervals.length > FRAMES) {
      const scrolled = window.scrollY;
      const start = performance.now();
      window.scrollTo(0, document.body.scrollHeight);
      requestAnimationFrame(() => requestAnimationFrame(() => resolve({
        frames: intervals.length - 1, scrolled_px: scrolled, intervals,
        jump_to_end_ms: performance.now() - start, height_px: document.body.scrollHeight})));
      return;
    }
    window.scrollBy(0, STEP);
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})
"""

CONTROL_SCRIPT = """
new Promise(resolve => {
  const timed = (action) => new Promise(done => {
    const start = performance.now();
    action();
    const sync = performance.now() - start;
    requestAnimationFrame(() => requestAnimationFrame(() => done({sync_ms: sync, to_next_frame_ms: performance.now() - start})));
  });
  const change = (id, value) => () => {
    const control = document.getElementById(id);
    control.value = value;
    control.dispatchEvent(new Event('change'));
  };
  window.scrollTo(0, 0);
  timed(change('sort', 'name')).then(byName =>
    timed(change('min', '0.5')).then(filtered =>
      resolve({sort_by_name: byName, filter_min_0_5: filtered, shown: document.getElementById('shown').textContent})));
})
"""


def make_library(folder: Path, count: int, width: int, height: int) -> None:
    """Distinct photo-like JPEGs, cheap to make: windows at different places of one large canvas of
    gradients and noise (this machine's CPU is shared), every seventh one portrait."""
    canvas_size = (4 * max(width, height), 4 * max(width, height))
    gradient = Image.linear_gradient("L").resize(canvas_size)
    canvas = Image.merge("RGB", [ImageChops.add(gradient.rotate(120 * channel), Image.effect_noise(canvas_size, 30), scale=1.4)
                                 for channel in range(3)])
    spare_x, spare_y = canvas_size[0] - max(width, height), canvas_size[1] - max(width, height)
    for index in range(count):
        size = (height, width) if index % 7 == 0 else (width, height)
        left, top = (index * 97) % spare_x, (index * 61) % spare_y
        target = folder / f"{index // 500:02d}" / f"IMG_{index:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        canvas.crop((left, top, left + size[0], top + size[1])).save(target, quality=85)


def make_report(target: Path, count: int, distinct: int, seed: int) -> None:
    """A report of ``count`` tiles through aescull.report.render's own writer, without decoding ``count``
    photos first: ``distinct`` generated thumbnails are reused (the browser still loads each
    tile's file on its own). Scores are made up; every tenth shot starts a burst of three."""
    library = target.parent / "library"
    make_library(library, distinct, 400, 267)
    thumbnails = []
    for path in sorted(library.rglob("*.jpg")):
        with Image.open(path) as image:
            thumbnails.append(Thumbnail(path.read_bytes(), image.width, image.height))
    generator = random.Random(seed)
    rows = []
    for index in range(count):
        rows.append({
            "path": f"shoot/{index // 500:02d}/IMG_{index:05d}.jpg",
            "score": f"{min(1.0, max(0.0, generator.gauss(0.55, 0.15))):.4f}",
            "taken": f"2024-06-{1 + index // 400:02d}T{(index // 60) % 24:02d}:{index % 60:02d}:00",
            "group": f"{index // 10}" if index % 10 < 3 else "",
        })
    tiles = ordered(tile_of(row) for row in rows)
    with ReportWriter(target) as writer:
        for index, row in enumerate(rows):
            writer.spool.add(row["path"], thumbnails[index % len(thumbnails)])
        writer.write(tiles, 0.4, f"{count} generated photos", "bench.report_browser", embed=False)
    shutil.rmtree(library)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU time of a process and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks

    def descends(pid: int) -> bool:
        while pid > 1:
            if pid == root_pid:
                return True
            pid = parents.get(pid, 0)
        return False

    return sum(seconds for pid, seconds in times.items() if descends(pid))


def measure(report: Path, width: int, height: int, frames: int, step: int) -> dict[str, object]:
    browser = DevTools(width, height)
    try:
        browser.call("Page.enable", session=True)
        cpu_before = cpu_seconds(browser.process.pid)
        started = time.monotonic()
        browser.call("Page.navigate", session=True, url=report.absolute().as_uri())
        browser.wait_for("Page.loadEventFired")
        wall_to_load = time.monotonic() - started
        cpu_to_load = cpu_seconds(browser.process.pid) - cpu_before
        timing = browser.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " const p = performance.getEntriesByName('first-contentful-paint')[0];"
            " return {dom_content_loaded_ms: n.domContentLoadedEventEnd, load_ms: n.loadEventEnd,"
            " first_contentful_paint_ms: p ? p.startTime : null, bytes: n.encodedBodySize,"
            " tiles: document.querySelectorAll('.tile').length}; })()"
        )
        assert isinstance(timing, dict)
        loaded = {"report": str(report), "wall_to_load_event_s": round(wall_to_load, 3),
                  "chromium_cpu_s_to_load_event": round(cpu_to_load, 3), **timing}
        print(json.dumps(loaded), flush=True)  # kept even if the scrolling below is interrupted
        cpu_before = cpu_seconds(browser.process.pid)
        scroll = browser.evaluate(SCROLL_SCRIPT.replace("FRAMES", str(frames)).replace("STEP", str(step)))
        cpu_scroll = cpu_seconds(browser.process.pid) - cpu_before
        cpu_before = cpu_seconds(browser.process.pid)
        controls = browser.evaluate(CONTROL_SCRIPT)
        cpu_controls = cpu_seconds(browser.process.pid) - cpu_before
    finally:
        browser.close()
    assert isinstance(scroll, dict)
    intervals = scroll.pop("intervals")[1:]  # the first is the wait for the first frame
    return {
        "scroll": {
            **scroll,
            "frame_ms_median": round(percentile(intervals, 0.5), 1),
            "frame_ms_p95": round(percentile(intervals, 0.95), 1),
            "frame_ms_max": round(max(intervals), 1),
            "frames_over_50ms": sum(interval > 50 for interval in intervals),
            "chromium_cpu_s": round(cpu_scroll, 3),
        },
        "controls": {**controls, "chromium_cpu_s": round(cpu_controls, 3)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make-library", help="write COUNT generated JPEGs under FOLDER (500 per subfolder)")
    make.add_argument("folder", type=Path)
    make.add_argument("--count", type=int, default=5000)
    make.add_argument("--size", type=int, nargs=2, default=(400, 267), metavar=("WIDTH", "HEIGHT"))
    page = commands.add_parser("make-report", help="write a COUNT-tile report (and its thumbnails folder) without scoring")
    page.add_argument("target", type=Path)
    page.add_argument("--count", type=int, default=5000)
    page.add_argument("--distinct", type=int, default=50, help="generated thumbnails, reused across tiles")
    page.add_argument("--seed", type=int, default=0)
    run = commands.add_parser("measure", help="open REPORT in headless Chromium and print its timings as JSON")
    run.add_argument("report", type=Path)
    run.add_argument("--window", type=int, nargs=2, default=(1280, 900), metavar=("WIDTH", "HEIGHT"))
    run.add_argument("--frames", type=int, default=40, help="frames to scroll for, before jumping to the end")
    run.add_argument("--step", type=int, default=300, help="pixels scrolled per frame (a brisk flick; 900 is a screen a frame)")
    arguments = parser.parse_args()
    if arguments.command == "make-library":
        make_library(arguments.folder, arguments.count, *arguments.size)
    elif arguments.command == "make-report":
        make_report(arguments.target, arguments.count, arguments.distinct, arguments.seed)
    else:
        print(json.dumps(measure(arguments.report, *arguments.window, arguments.frames, arguments.step), indent=2))


if __name__ == "__main__":
    main()
