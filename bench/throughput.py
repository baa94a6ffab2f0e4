"""Throughput, memory and cache benchmark: aescull's pipeline against a naive baseline.

    nice -n 19 python -m bench.throughput [--photos ../shared/data/photos] [--big 12] [--rounds 2]
                                          [--work DIR] [--sweep] [--only engines,photos,24mp,100mp,cache,startup]

- engines: whole processes, interleaved round by round (order reversed every other round): the
  decode floor (Pillow opening every JPEG in draft mode and scaling it to 512 px on 2 threads,
  nothing else), then ``aescull score``, ``aescull score --checks`` and a one-photo ``aescull
  score`` on each runtime (torch, ONNX Runtime): wall and CPU seconds, time to the first row,
  peak RSS, and the ratios the targets are stated in (score / floor, --checks / score). Each runs
  as an installed aescull would: bytecode compiled, and a user cache folder where ONNX Runtime's
  rewrite of the graph is kept (primed by one untimed run); the one-photo run is also timed as a
  first run ever, with an empty user cache.

The rest runs each configuration in its own child process (forked from a parent that has
imported torch but never run it), so every peak RSS is that configuration's own (torch's imports
included, whatever the runtime):

- ours, on each runtime: ``score_paths`` with the CLI's default settings (torch threads set as the CLI sets
  them), no score cache, rows written as CSV; per stage
  (discover, decode, model, write) the seconds spent, end-to-end images/s, CPU seconds, peak RSS.
  Decode and model overlap, so their seconds add up to more than the end-to-end time.
- baseline: the naive way on the same files: full-resolution Pillow decode, EXIF transpose,
  Lanczos resize to the same working size, batch 1, one torch thread, no cache.
- floor: Pillow JPEG draft decode alone at the working size, one thread, per image; and the
  model alone per image at the default batch (and at smaller working sizes, for reference).

Ours and the baseline alternate (ABAB...), since a shared machine's speed drifts within
minutes; medians and per-round ratios are printed. CPU seconds are printed beside wall seconds:
on a loaded machine wall time says more about the neighbours than about aescull.

Inputs: the photos folder as it is; generated 24-MP JPEGs (photos cropped to 3:2, upscaled to
6000x4000, re-encoded at quality 92); one 100-MP JPEG for memory; 10,000 small files for the
warm-cache path (the cache is filled through aescull's own cache keys, then a re-run is timed,
in-process and as a whole ``aescull score`` command). Generated files go to a temporary
folder, or to ``--work DIR``, where they are kept and reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BIG_SIZE = (6000, 4000)
HUGE_SIZE = (12240, 8160)
QUALITY = 92
CACHE_FILES = 10_000
SMALL_SIZE = (64, 48)


# ---------------------------------------------------------------- inputs (Pillow only)


def _reframed(source: Path, size: tuple[int, int]) -> Image.Image:
    """The photo cropped to the aspect ratio of ``size`` and resized to it."""
    with Image.open(source) as opened:
        opened.draft("RGB", size)  # only ever shrinks; saves time for the small cache files
        image = ImageOps.exif_transpose(opened).convert("RGB")
    target_ratio = size[0] / size[1]
    width, height = image.size
    if width / height > target_ratio:
        crop = round(height * target_ratio)
        image = image.crop(((width - crop) // 2, 0, (width - crop) // 2 + crop, height))
    else:
        crop = round(width / target_ratio)
        image = image.crop((0, (height - crop) // 2, width, (height - crop) // 2 + crop))
    return image.resize(size, Image.Resampling.BICUBIC)


def _jpegs(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in (".jpg", ".jpeg"))


def prepare(photos: Path, work: Path, big: int) -> dict[str, str]:
    """Generate what is missing under ``work``; existing files are reused as they are.

    Runs in a child, so the parent's heap (which every measured child inherits) stays small."""
    sources = _jpegs(photos)
    if not sources:
        raise SystemExit(f"no JPEGs in {photos}")
    folders = {name: work / name for name in ("24mp", "100mp", "cache")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    step = max(1, len(sources) // big)
    for source in sources[::step][:big]:
        target = folders["24mp"] / f"{source.stem}-24mp.jpg"
        if not target.exists():
            _reframed(source, BIG_SIZE).save(target, quality=QUALITY)
    huge = folders["100mp"] / "huge-100mp.jpg"
    if not huge.exists():
        _reframed(sources[len(sources) // 2], HUGE_SIZE).save(huge, quality=QUALITY)
    _small_files(sources, folders["cache"])
    return {name: str(folder) for name, folder in folders.items()}


def _small_files(sources: list[Path], folder: Path) -> None:
    """10,000 files in 10 folders; 100 distinct small JPEGs, each written 100 times."""
    import io

    if sum(1 for _ in folder.rglob("*.jpg")) >= CACHE_FILES:
        return
    variants = []
    for index in range(100):
        buffer = io.BytesIO()
        _reframed(sources[index % len(sources)], (SMALL_SIZE[0] + index % 7, SMALL_SIZE[1])).save(buffer, "JPEG", quality=85)
        variants.append(buffer.getvalue())
    for index in range(CACHE_FILES):
        sub = folder / f"day{index // 1000:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"IMG_{index:05d}.jpg").write_bytes(variants[index % len(variants)])


# ---------------------------------------------------------------- child processes


def in_child(task: Callable[..., dict], *args: object) -> dict:
    """Run ``task`` in a forked child; its result and the child's peak RSS come back."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            payload = json.dumps(task(*args))
        except BaseException as error:  # the parent reports it; the child must not run on
            payload = json.dumps({"error": repr(error)})
        with os.fdopen(write_end, "w") as pipe:
            pipe.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        result = json.loads(pipe.read() or '{"error": "child died"}')
    _, _, usage = os.wait4(pid, 0)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    if "error" in result:
        raise SystemExit(f"{task.__name__} failed: {result['error']}")
    return result


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _discover_seconds(folder: Path) -> float:
    from aescull.pipeline.discover import discover

    started = time.perf_counter()
    list(discover([folder]))
    return time.perf_counter() - started


class _TimedModel:
    """The loaded model, with the time spent preparing and running its network counted."""

    def __init__(self, loaded: object, spent: dict) -> None:
        self.loaded, self.spent = loaded, spent

    def __getattr__(self, name: str) -> object:
        return getattr(self.loaded, name)

    def network(self, threads: int | None = None) -> Callable:
        spent = self.spent
        wall, cpu = time.perf_counter(), time.thread_time()
        network = self.loaded.network(threads)  # type: ignore[attr-defined]
        spent["setup"] += time.perf_counter() - wall
        spent["setup_cpu"] += time.thread_time() - cpu

        def forward(batch: object) -> object:
            started = time.perf_counter()
            try:
                return network(batch)
            finally:
                spent["model"] += time.perf_counter() - started

        return forward


def run_ours(folder: Path, out: Path, options: dict) -> dict:
    """The CLI's default settings unless ``options`` says otherwise (runtime, batch_size, workers, threads, full_decode)."""
    import threading

    from aescull.model import inference
    from aescull.pipeline import local as scoring
    from aescull.rows.write import open_writer

    runtime = inference.choose_runtime(options.get("runtime"), None)
    threads = options.get("threads", inference.DEFAULT_THREADS)  # as the CLI does
    spent = {"decode": 0.0, "decode_cpu": 0.0, "model": 0.0, "write": 0.0, "setup": 0.0, "setup_cpu": 0.0}
    wall, cpu = time.perf_counter(), time.thread_time()
    loaded = inference.load_scoring_model(runtime=runtime, threads=threads)
    load_s, load_cpu_s = time.perf_counter() - wall, time.thread_time() - cpu
    rss_loaded = _rss_mb()
    discover_s = _discover_seconds(folder)
    lock = threading.Lock()
    real_decode = scoring.decode

    def timed_decode(*args: object) -> object:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return real_decode(*args)
        finally:
            with lock:
                spent["decode"] += time.perf_counter() - wall
                spent["decode_cpu"] += time.thread_time() - cpu

    scoring.decode = timed_decode  # type: ignore[assignment]
    kwargs = {key: options[key] for key in ("batch_size", "workers", "full_decode", "checks") if key in options}
    scores: dict[str, float | None] = {}
    cpu, wall = _cpu(), time.perf_counter()
    with open(out, "w", newline="") as stream:
        writer = open_writer("csv", stream)
        for record in scoring.score_paths([folder], model=_TimedModel(loaded, spent), **kwargs):  # type: ignore[arg-type]
            started = time.perf_counter()
            writer.write(record)
            spent["write"] += time.perf_counter() - started
            scores[record.path.name] = record.score
        writer.close()
    return {
        "n": len(scores), "failed": sum(score is None for score in scores.values()),
        "e2e_s": time.perf_counter() - wall, "cpu_s": _cpu() - cpu, "discover_s": discover_s, "load_s": load_s, "load_cpu_s": load_cpu_s,
        **{f"{stage}_s": seconds for stage, seconds in spent.items()},
        "rss_loaded_mb": rss_loaded, "threads": threads, "scores": scores, "runtime": runtime,
        "batch_size": kwargs.get("batch_size", inference.DEFAULT_BATCH_SIZE), "workers": kwargs.get("workers", scoring.DEFAULT_WORKERS),
    }


def run_baseline(folder: Path, out: Path) -> dict:
    """Full decode, Lanczos to the working size, batch 1, one thread: what a first script does."""
    import numpy as np
    import torch

    from aescull.pipeline.decode import working_size
    from aescull.pipeline.discover import discover
    from aescull.model.checkpoint import load_model
    from aescull.rows.write import open_writer
    from aescull.rows.record import ScoreRecord

    torch.set_num_threads(1)
    loaded = load_model()
    side = loaded.config.max_side
    discover_s = _discover_seconds(folder)
    spent = {"decode": 0.0, "model": 0.0, "write": 0.0, "setup": 0.0, "setup_cpu": 0.0}
    scores: dict[str, float | None] = {}
    cpu, wall = _cpu(), time.perf_counter()
    with open(out, "w", newline="") as stream:
        writer = open_writer("csv", stream)
        for candidate in discover([folder]):
            started = time.perf_counter()
            with Image.open(candidate.path) as opened:
                full = ImageOps.exif_transpose(opened).convert("RGB")
            width, height = full.size
            image = full.resize(working_size(width, height, side), Image.Resampling.LANCZOS)
            del full
            pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)
            spent["decode"] += time.perf_counter() - started
            started = time.perf_counter()
            with torch.inference_mode():
                score = float(loaded.model(pixels[None])[0])
            spent["model"] += time.perf_counter() - started
            started = time.perf_counter()
            writer.write(ScoreRecord(candidate.path, score, width, height))
            spent["write"] += time.perf_counter() - started
            scores[candidate.path.name] = score
        writer.close()
    return {
        "n": len(scores), "failed": 0, "e2e_s": time.perf_counter() - wall, "cpu_s": _cpu() - cpu, "discover_s": discover_s,
        **{f"{stage}_s": seconds for stage, seconds in spent.items()}, "threads": 1, "scores": scores,
    }


def run_floor(folder: Path, sizes: list[int]) -> dict:
    """Per image: draft decode alone, aescull's decode, and the model alone on each runtime (no overlap)."""
    import numpy as np

    from aescull.pipeline.decode import decode, working_size
    from aescull.model.inference import DEFAULT_BATCH_SIZE, DEFAULT_THREADS, RUNTIMES, load_scoring_model, onnx_available

    runtimes = [runtime for runtime in RUNTIMES if runtime != "onnx" or onnx_available()]
    networks = {runtime: load_scoring_model(runtime=runtime, threads=DEFAULT_THREADS) for runtime in runtimes}
    side = networks[runtimes[0]].config.max_side
    files = [path for path in sorted(folder.iterdir()) if path.suffix.lower() in (".jpg", ".jpeg")]
    draft_ms, draft_cpu_ms, ours_ms, ours_cpu_ms = [], [], [], []
    for path in files:
        started, cpu = time.perf_counter(), time.thread_time()
        with Image.open(path) as image:
            image.draft("RGB", working_size(*image.size, side))
            image.load()
        draft_ms.append(1000 * (time.perf_counter() - started))
        draft_cpu_ms.append(1000 * (time.thread_time() - cpu))
        started, cpu = time.perf_counter(), time.thread_time()
        decode(path, side)
        ours_ms.append(1000 * (time.perf_counter() - started))
        ours_cpu_ms.append(1000 * (time.thread_time() - cpu))
    model_ms: dict[str, dict] = {runtime: {} for runtime in runtimes}
    for size in sizes:
        photos = [decode(path, size).pixels for path in files]
        shape = statistics.mode(tuple(photo.shape) for photo in photos)
        same_shape = [photo for photo in photos if tuple(photo.shape) == shape]
        batch = np.stack((same_shape * DEFAULT_BATCH_SIZE)[:DEFAULT_BATCH_SIZE])
        for runtime, loaded in networks.items():  # interleaved rounds: a shared machine's speed drifts
            model_ms[runtime][size] = {"times": [], "cpu_times": [], "shape": list(shape)}
        for runtime, loaded in networks.items():
            network = loaded.network()
            network(batch)
            network(batch)
            model_ms[runtime][size]["network"] = network
        for _ in range(9):
            for runtime in runtimes:
                entry = model_ms[runtime][size]
                started, cpu = time.perf_counter(), _cpu()
                entry["network"](batch)
                entry["times"].append(1000 * (time.perf_counter() - started) / len(batch))
                entry["cpu_times"].append(1000 * (_cpu() - cpu) / len(batch))
        for runtime in runtimes:
            entry = model_ms[runtime][size]
            model_ms[runtime][size] = {"ms": statistics.median(entry["times"]), "cpu_ms": statistics.median(entry["cpu_times"]),
                                       "shape": entry["shape"]}
    return {"draft_ms": statistics.median(draft_ms), "draft_cpu_ms": statistics.median(draft_cpu_ms),
            "decode_ms": statistics.median(ours_ms), "decode_cpu_ms": statistics.median(ours_cpu_ms), "model": model_ms,
            "side": side, "batch": DEFAULT_BATCH_SIZE, "threads": DEFAULT_THREADS}


def run_warm_cache(folder: Path, cache_file: Path, out: Path) -> dict:
    """Fill the cache with aescull's own keys, then time a re-run that must hit on every file."""
    from aescull.pipeline.cache import CachedScore, ScoreCache
    from aescull.pipeline.discover import discover
    from aescull.pipeline.local import score_paths
    from aescull.pipeline.pairing import _file_key
    from aescull.model.inference import load_scoring_model
    from aescull.rows.write import open_writer

    loaded = load_scoring_model()
    cache_file.unlink(missing_ok=True)
    with ScoreCache(cache_file, loaded.sha256, loaded.config.max_side) as cache:
        cache.put_many((_file_key(c.path), CachedScore(0.5, *SMALL_SIZE, None, None)) for c in discover([folder]))
    cpu, wall, hits, total = _cpu(), time.perf_counter(), 0, 0
    with open(out, "w", newline="") as stream:
        writer = open_writer("csv", stream)
        for record in score_paths([folder], model=loaded, cache_file=cache_file):
            writer.write(record)
            hits += record.cached
            total += 1
    return {"n": total, "hits": hits, "e2e_s": time.perf_counter() - wall, "cpu_s": _cpu() - cpu}


def run_command(args: list[str], env: dict[str, str] | None = None) -> dict:
    """A whole ``python -m aescull ...`` process: wall and CPU seconds, start-up included."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "aescull", *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": time.perf_counter() - started, "cpu_s": usage.ru_utime + usage.ru_stime, "rc": process.returncode,
            "stderr": process.stderr.read().decode()[-300:] if process.stderr else ""}


# ---------------------------------------------------------------- report


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:7.2f}" if seconds > 0 else "      -"


def _steady(result: dict) -> tuple[float, float]:
    """Wall and CPU seconds without the once-per-run setup, which a large library amortises."""
    return result["e2e_s"] - result["setup_s"], result["cpu_s"] - result["setup_cpu_s"]


def _row(label: str, result: dict) -> str:
    n = result["n"]
    wall, cpu = _steady(result)
    stages = " ".join(f"{result[f'{stage}_s']:8.2f}" for stage in ("discover", "decode", "model", "write", "setup"))
    return (f"{label:<14} {stages} | {result['e2e_s']:8.2f} {_rate(n, wall)} | {result['cpu_s']:8.2f} "
            f"{_rate(n, cpu)} | {result['peak_rss_mb']:6.0f}")


HEADER = (f"{'':<14} {'discover':>8} {'decode':>8} {'model':>8} {'write':>8} {'setup':>8} | {'e2e s':>8} {'img/s*':>7} | "
          f"{'cpu s':>8} {'img/cpu-s*':>7} | {'RSS MB':>6}")
FOOTNOTE = ("seconds per stage (decode summed over its threads, so stages overlap); setup: preparing the network once per run "
            "(torch: folding batch norms; ONNX Runtime: waiting for the session it builds on a thread from model load); * without the setup")


def compare(title: str, folder: Path, rounds: int, work: Path, sizes: list[int]) -> None:
    from aescull.model.inference import RUNTIMES, onnx_available

    runtimes = [runtime for runtime in RUNTIMES if runtime != "onnx" or onnx_available()]
    print(f"\n== {title}: {folder} (in-process, per stage) ==", flush=True)
    ours: dict[str, list[dict]] = {runtime: [] for runtime in runtimes}
    base = []
    print(FOOTNOTE)
    print(HEADER)
    for index in range(rounds):
        for runtime in runtimes:
            ours[runtime].append(in_child(run_ours, folder, work / "ours.csv", {"runtime": runtime}))
            print(_row(f"{runtime} #{index + 1}", ours[runtime][-1]), flush=True)
        base.append(in_child(run_baseline, folder, work / "baseline.csv"))
        print(_row(f"baseline #{index + 1}", base[-1]), flush=True)
    for runtime, runs in ours.items():
        n = runs[0]["n"]
        median = {key: statistics.median(run[key] for run in runs) for key in ("model_s", "decode_s", "load_s")}
        wall_ratios = [_steady(b)[0] / _steady(o)[0] for o, b in zip(runs, base)]
        print(f"{runtime}: {n} images ({runs[0]['failed']} failed), batch {runs[0]['batch_size']}, workers {runs[0]['workers']}, "
              f"model threads {runs[0]['threads']}; model load {median['load_s']:.2f} s; stage images/s: decode "
              f"{n / (median['decode_s'] or 1):.2f} (summed over threads), model {n / (median['model_s'] or 1):.2f}; "
              f"end-to-end* {n / statistics.median(_steady(run)[0] for run in runs):.2f} img/s, "
              f"{statistics.median(wall_ratios):.2f}x the baseline")
    if len(runtimes) == 2:
        print(f"scores, onnx vs torch: {_score_gap(ours['onnx'][0], ours['torch'][0])}")
    print(f"scores, {runtimes[0]} vs baseline at the same working size: {_score_gap(ours[runtimes[0]][0], base[0])}")
    floor = in_child(run_floor, folder, sizes)
    side = floor["side"]
    print(f"per image, alone in one process (wall / CPU ms): draft decode floor {floor['draft_ms']:.1f} / {floor['draft_cpu_ms']:.1f}, "
          f"aescull decode {floor['decode_ms']:.1f} / {floor['decode_cpu_ms']:.1f}; model (batch {floor['batch']}, "
          f"{floor['threads']} threads, interleaved) by working size: ")
    for runtime, by_size in floor["model"].items():
        model = by_size[str(side)]
        print(f"  {runtime:<5} " + ", ".join(f"{size} px {m['ms']:.1f} / {m['cpu_ms']:.1f} ({m['shape'][2]}x{m['shape'][1]})"
                                           for size, m in by_size.items())
              + f"; at {side} px {model['ms'] / floor['draft_ms']:.2f}x the floor by wall")


def _score_gap(ours: dict, base: dict) -> str:
    deltas = [abs(o - b) for name, b in base["scores"].items() if (o := ours["scores"].get(name)) is not None and b is not None]
    return f"max |diff| {max(deltas):.6f}, median {statistics.median(deltas):.6f}"


def sweep(folder: Path, work: Path) -> None:
    print(f"\n== settings sweep on {folder} (each in its own process) ==")
    print(FOOTNOTE)
    print(HEADER)
    configs = [{"batch_size": b} for b in (1, 2, 4, 8)] + [{"workers": w} for w in (1, 2, 4)] + [{"threads": t} for t in (1, 2)]
    for options in configs:
        result = in_child(run_ours, folder, work / "sweep.csv", options)
        print(_row(",".join(f"{k}={v}" for k, v in options.items()), result), flush=True)


def memory(folder: Path, work: Path) -> None:
    print(f"\n== peak RSS, default settings: {folder} ==")
    result = in_child(run_ours, folder, work / "huge.csv", {})
    print(f"{result['n']} files, {result['failed']} failed: peak RSS {result['peak_rss_mb']:.0f} MB "
          f"(after imports and model load: {result['rss_loaded_mb']:.0f} MB), {result['e2e_s']:.1f} s")


def warm_cache(folder: Path, work: Path) -> None:
    print(f"\n== warm cache: {folder} ==")
    cache_file = work / "warm.sqlite3"
    result = in_child(run_warm_cache, folder, cache_file, work / "warm.csv")
    print(f"in-process re-run: {result['n']} files, {result['hits']} cache hits, {result['e2e_s']:.2f} s wall = "
          f"{result['n'] / result['e2e_s']:.0f} files/s; {result['cpu_s']:.2f} CPU s = {result['n'] / result['cpu_s']:.0f} files/CPU-s")
    command = run_command(["score", str(folder), "--cache", str(cache_file), "--quiet", "--output", str(work / "warm-cli.csv")],
                          child_env(work))
    print(f"whole command (start-up, imports, model load included): rc {command['rc']}, {command['wall_s']:.2f} s wall = "
          f"{result['n'] / command['wall_s']:.0f} files/s; {command['cpu_s']:.2f} CPU s = {result['n'] / command['cpu_s']:.0f} files/CPU-s")
    if command["rc"] != 0:
        print(command["stderr"])


# The decode floor as a whole process: Pillow opens every JPEG in draft mode and scales it to the
# working size on 2 threads, nothing else (no EXIF, no model, no output).
FLOOR_SCRIPT = """
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from PIL import Image
def one(path):
    with Image.open(path) as image:
        scale = min(1.0, 512 / max(image.size))
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image.draft("RGB", size)
        image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
paths = sorted(p for p in Path(sys.argv[1]).iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
with ThreadPoolExecutor(2) as pool:
    list(pool.map(one, paths))
"""


def child_env(work: Path, cache_home: Path | None = None) -> dict[str, str]:
    """The environment of a measured process, as an installed aescull runs: its bytecode compiled
    (pip compiles on install, so PYTHONDONTWRITEBYTECODE is dropped and a bytecode folder under
    ``work`` is kept), and a user cache folder of its own (``cache_home``; default: one under
    ``work`` that every run shares, where ONNX Runtime's rewrite of the graph is kept)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(work / "pycache"), "XDG_CACHE_HOME": str(cache_home or work / "xdg-cache")}


def run_process(command: list[str], env: dict[str, str]) -> dict:
    """A whole process: wall and CPU seconds, peak RSS, and when its first row (second stdout line) came."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert process.stdout is not None
    first_row = None
    for index, _ in enumerate(process.stdout):
        if index == 1:
            first_row = time.perf_counter() - started
    _, status, usage = os.wait4(process.pid, 0)
    return {"wall_s": time.perf_counter() - started, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "first_row_s": first_row, "rc": os.waitstatus_to_exitcode(status)}


def engines(folder: Path, rounds: int, work: Path) -> None:
    """The floor, the torch runtime and the ONNX runtime as whole processes, interleaved round by
    round; a one-photo run also with an empty user cache (the first run ever: it writes the rewrite
    of the graph that later runs start from)."""
    from aescull.model.inference import RUNTIMES, onnx_available

    runtimes = [runtime for runtime in RUNTIMES if runtime != "onnx" or onnx_available()]
    one = _jpegs(folder)[0]
    score = [sys.executable, "-m", "aescull", "score", "--no-cache", "-q"]
    configs = {"floor": [sys.executable, "-c", FLOOR_SCRIPT, str(folder)]}
    for runtime in runtimes:
        configs[f"{runtime} score"] = [*score, "--runtime", runtime, str(folder)]
        configs[f"{runtime} --checks"] = [*score, "--runtime", runtime, "--checks", str(folder)]
        configs[f"{runtime} 1 photo"] = [*score, "--runtime", runtime, str(one)]
    if "onnx" in runtimes:
        configs["onnx 1st run"] = configs["onnx 1 photo"]
    env = child_env(work)
    run_process(configs[f"{runtimes[0]} 1 photo"], env)  # compiles the bytecode and keeps the rewrite, untimed
    print(f"\n== whole processes, interleaved ({rounds} rounds): {folder}, {len(_jpegs(folder))} JPEGs; one photo: {one.name}; "
          f"peak RSS counts from the spawning parent's {_rss_mb():.0f} MB ==")
    print(f"{'':<16} {'wall s':>7} {'cpu s':>7} {'1st row s':>9} {'RSS MB':>7}")
    results: dict[str, list[dict]] = {name: [] for name in configs}
    for index in range(rounds):
        names = list(configs) if index % 2 == 0 else list(reversed(configs))
        for name in names:
            fresh = work / f"xdg-fresh-{index}" if name == "onnx 1st run" else None
            if fresh:
                shutil.rmtree(fresh, ignore_errors=True)  # a work folder kept from an earlier bench holds a rewrite
            result = run_process(configs[name], child_env(work, fresh) if fresh else env)
            results[name].append(result)
            first = f"{result['first_row_s']:9.2f}" if result["first_row_s"] is not None else f"{'-':>9}"
            print(f"{name + ' #' + str(index + 1):<16} {result['wall_s']:7.2f} {result['cpu_s']:7.2f} {first} {result['rss_mb']:7.0f}"
                  + ("" if result["rc"] == 0 else f"  rc {result['rc']}"), flush=True)
    median = {name: {key: statistics.median(run[key] for run in runs if run[key] is not None) for key in ("wall_s", "cpu_s", "rss_mb")}
              for name, runs in results.items()}
    floor = median["floor"]["wall_s"]
    print("medians: " + ", ".join(f"{name} {m['wall_s']:.2f} s / {m['cpu_s']:.2f} CPU s / {m['rss_mb']:.0f} MB" for name, m in median.items()))
    for runtime in runtimes:
        ratios = [s["wall_s"] / f["wall_s"] for s, f in zip(results[f"{runtime} score"], results["floor"])]
        checks = [c["wall_s"] / s["wall_s"] for c, s in zip(results[f"{runtime} --checks"], results[f"{runtime} score"])]
        first = statistics.median(run["first_row_s"] for run in results[f"{runtime} 1 photo"])
        print(f"{runtime}: score {median[f'{runtime} score']['wall_s'] / floor:.2f}x the floor (per round: "
              f"{', '.join(f'{r:.2f}x' for r in ratios)}), --checks {statistics.median(checks):.2f}x score, "
              f"first row of one photo {first:.2f} s")
    if "onnx" in runtimes:
        print(f"onnx, first run ever (empty user cache): first row of one photo "
              f"{statistics.median(run['first_row_s'] for run in results['onnx 1st run']):.2f} s")


def startup(work: Path) -> None:
    print("\n== start-up ==")
    env = child_env(work)
    for args in (["--version"], ["--help"], ["score", "--help"]):
        run_command(args, env)  # its bytecode compiled, untimed
        runs = [run_command(args, env) for _ in range(3)]
        print(f"aescull {' '.join(args):<14} median {statistics.median(r['wall_s'] for r in runs):.3f} s wall, "
              f"{statistics.median(r['cpu_s'] for r in runs):.3f} s CPU (3 runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "data" / "photos")
    parser.add_argument("--big", type=int, default=12, help="how many 24-MP JPEGs to generate")
    parser.add_argument("--rounds", type=int, default=2, help="ours/baseline pairs per folder")
    parser.add_argument("--work", type=Path, help="keep generated inputs here (default: a temporary folder)")
    parser.add_argument("--only", default="engines,photos,24mp,100mp,cache,startup")
    parser.add_argument("--sizes", default="512,384", help="working sizes for the model-alone timing (the model's own first)")
    parser.add_argument("--sweep", action="store_true", help="also time batch sizes, workers and torch threads on the 24-MP set")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="aescull-bench-") as temporary:
        work = args.work or Path(temporary)
        started = time.perf_counter()
        folders = {name: Path(folder) for name, folder in in_child(prepare, args.photos, work, args.big).items() if name != "peak_rss_mb"}
        print(f"inputs ready in {time.perf_counter() - started:.0f} s under {work}; load average {os.getloadavg()}, "
              f"nice {os.nice(0)}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}", flush=True)
        if "engines" in parts:  # before torch is imported here: Linux counts a child's peak RSS from before its exec
            engines(args.photos, args.rounds, work)
        import torch  # the in-process children are forked from here, so each starts as an aescull process would

        import aescull.pipeline.local  # noqa: F401  (imported once, before the forks)

        print(f"torch {torch.__version__}, default threads {torch.get_num_threads()}; parent RSS before the forks {_rss_mb():.0f} MB "
              "(in-process rows carry torch's imports whatever the runtime: the whole-process rows are the RSS to compare)", flush=True)
        if "photos" in parts:
            compare("photos", args.photos, args.rounds, work, sizes)
        if "24mp" in parts:
            compare("24-MP JPEGs (6000x4000, q92)", folders["24mp"], args.rounds, work, sizes)
        if args.sweep:
            sweep(folders["24mp"], work)
        if "100mp" in parts:
            memory(folders["100mp"], work)
        if "cache" in parts:
            warm_cache(folders["cache"], work)
        if "startup" in parts:
            startup(work)
        print(f"\nload average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
