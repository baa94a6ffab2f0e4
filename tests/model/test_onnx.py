"""The ONNX runtime: the shipped ONNX file is the shipped checkpoint, scores agree with torch's, no torch on its path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from aescull.model.bundled import ONNX_FILE, WEIGHTS_SHA256
from aescull.pipeline.local import score_paths
from tests.support.cli import invoke, rows, subprocess_env
from tests.support.images import photo_pixels, sharp_scene
from tests.support.models import REPO, SHARED_DATA

pytest.importorskip("onnxruntime")

SHIPPED_ONNX = REPO / "weights" / ONNX_FILE
needs_onnx = pytest.mark.skipif(not SHIPPED_ONNX.is_file(), reason=f"weights/{ONNX_FILE} not exported")
# The runtimes agree to ~1e-6 (float32 arithmetic in another order); the issue asks for 1e-4.
AGREEMENT = 1e-4


def fixed_photos(folder: Path) -> Path:
    """Every shape the network meets: landscape, portrait, square, a panorama kept at 65 px high, a PNG, a small JPEG."""
    folder.mkdir()
    Image.fromarray(photo_pixels(1800, 1200, seed=1)).save(folder / "landscape.jpg", quality=90)
    Image.fromarray(photo_pixels(900, 1350, seed=2)).save(folder / "portrait.jpg", quality=90)
    Image.fromarray(photo_pixels(700, 700, seed=3)).save(folder / "square.png")
    Image.fromarray(photo_pixels(3000, 200, seed=4)).save(folder / "panorama.jpg", quality=90)
    Image.fromarray(photo_pixels(160, 120, seed=5)).save(folder / "small.jpg", quality=90)
    sharp_scene(1024, 683, seed=6).save(folder / "scene.jpg", quality=90)
    return folder


def scores(folder: Path, runtime: str) -> dict[str, float | None]:
    from aescull.model.inference import load_scoring_model

    return {record.path.name: record.score for record in score_paths([folder], model=load_scoring_model(runtime=runtime))}


@needs_onnx
def test_shipped_onnx_is_the_shipped_checkpoint(tmp_path: Path) -> None:
    """Exported from the shipped checkpoint (its sha256 in the metadata), same config, same scores on a fixed set."""
    from aescull.model.checkpoint import load_model
    from aescull.model.onnx_runtime import load_onnx

    exported, checkpoint = load_onnx(), load_model()
    assert exported.checkpoint_sha256 == WEIGHTS_SHA256 == checkpoint.sha256
    assert exported.config == checkpoint.config and exported.meta == checkpoint.meta
    assert exported.path.stat().st_size < 20_000_000  # float16 storage: a float32 export would be 33 MB
    folder = fixed_photos(tmp_path / "photos")
    on_onnx, on_torch = scores(folder, "onnx"), scores(folder, "torch")
    assert on_onnx.keys() == on_torch.keys() and len(on_onnx) == 6
    for name, score in on_onnx.items():
        assert score is not None and on_torch[name] is not None
        assert abs(score - on_torch[name]) <= AGREEMENT, name


@needs_onnx
def test_runtimes_agree_on_real_photos() -> None:
    photos = SHARED_DATA / "photos"
    if not photos.is_dir():
        pytest.skip("../shared/data/photos is not here")
    on_onnx, on_torch = scores(photos, "onnx"), scores(photos, "torch")
    assert len(on_onnx) >= 20 and on_onnx.keys() == on_torch.keys()
    assert max(abs(on_onnx[name] - on_torch[name]) for name in on_onnx) <= AGREEMENT  # type: ignore[operator]


@needs_onnx
def test_score_runtimes_give_the_same_rows(tmp_path: Path) -> None:
    """``--runtime onnx`` (the default here) and ``--runtime torch``: the same rows, scores within rounding."""
    folder = fixed_photos(tmp_path / "photos")
    outputs = {}
    for runtime in (None, "onnx", "torch"):
        code, out, err = invoke(["score", str(folder), "--no-cache", "-f", "jsonl", *(["--runtime", runtime] if runtime else [])])
        assert code == 0, err
        outputs[runtime] = [json.loads(line) for line in out.splitlines()]
    assert outputs[None] == outputs["onnx"]
    for onnx_row, torch_row in zip(outputs["onnx"], outputs["torch"], strict=True):
        assert {**onnx_row, "score": None} == {**torch_row, "score": None}
        assert abs(onnx_row["score"] - torch_row["score"]) <= AGREEMENT + 1e-9  # both rounded to 4 decimals


@needs_onnx
def test_score_on_onnx_never_imports_torch(tmp_path: Path) -> None:
    folder = fixed_photos(tmp_path / "photos")
    probe = (
        "import sys\n"
        "from aescull.cli.app import app\n"
        f"try:\n    app(['score', {str(folder)!r}, '--no-cache', '-q', '--checks'])\nexcept SystemExit as done:\n    assert not done.code, done.code\n"
        "print('torch' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, env=subprocess_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert len(rows(done.stdout)) == 6
    assert done.stderr.split()[-1] == "False"


def test_without_onnxruntime_the_torch_runtime_scores(tmp_path: Path) -> None:
    """The extra is optional: without it the default is torch, and asking for onnx is a setup error (exit 2)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(photo_pixels(300, 200, seed=1)).save(folder / "a.jpg", quality=90)
    probe = (
        "import sys\n"
        "sys.modules['onnxruntime'] = None\n"
        "from aescull.cli.app import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as done:\n    print('exit', done.code, 'torch' in sys.modules, file=sys.stderr)\n"
    )
    default = subprocess.run([sys.executable, "-c", probe, "score", str(folder), "--no-cache", "-q"], capture_output=True, text=True,
                             timeout=300, env=subprocess_env(tmp_path))
    assert default.stderr.split()[-3:] == ["exit", "0", "True"], default.stderr
    assert rows(default.stdout)[0]["score"]
    asked = subprocess.run([sys.executable, "-c", probe, "score", str(folder), "--runtime", "onnx"], capture_output=True, text=True,
                           timeout=300, env=subprocess_env(tmp_path))
    assert "pip install 'aescull[onnx]'" in asked.stderr and asked.stderr.split()[-3:-1] == ["exit", "2"]


def test_weights_pick_their_runtime_and_a_mismatch_is_a_usage_error(tmp_path: Path, plumbing_weights: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(photo_pixels(300, 200, seed=1)).save(folder / "a.jpg", quality=90)
    code, out, err = invoke(["score", str(folder), "--no-cache", "--runtime", "onnx"], weights=plumbing_weights)
    assert code == 2 and "torch checkpoint" in err and "--runtime torch" in err and not out
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    code, out, err = invoke(["score", str(folder), "--no-cache"], weights=broken)
    assert code == 2 and "not a valid ONNX model" in err and not out
    code, out, err = invoke(["score", str(folder), "--no-cache", "--runtime", "torch"], weights=broken)
    assert code == 2 and "an ONNX file" in err


@needs_onnx
def test_a_damaged_shipped_onnx_is_refused(tmp_path: Path) -> None:
    from aescull.model.bundled import WeightsError
    from aescull.model.onnx_runtime import load_onnx

    copy = tmp_path / ONNX_FILE
    copy.write_bytes(SHIPPED_ONNX.read_bytes()[:-1] + b"\0")
    with pytest.raises(WeightsError, match="sha256"):
        load_onnx(copy, expected_sha256=load_onnx().sha256)


@needs_onnx
def test_batch_scorer_sent_to_a_worker_scores_as_the_local_engine(tmp_path: Path) -> None:
    """Ray pickles the model to each actor: the ONNX model travels without its session and makes one there."""
    import pickle

    import numpy as np

    from aescull.model.inference import load_scoring_model
    from aescull.pipeline.batch import Scorer

    folder = fixed_photos(tmp_path / "photos")
    model = load_scoring_model(runtime="onnx")
    local = {record.path.name: record.score for record in score_paths([folder], model=model)}
    paths = sorted(folder.iterdir())
    scorer = Scorer(pickle.loads(pickle.dumps(model)), threads=1)
    batch = {"path": np.array([str(path) for path in paths], dtype=object), "bytes": np.array([path.read_bytes() for path in paths], dtype=object)}
    columns = scorer(batch)
    assert {Path(path).name: score for path, score in zip(columns["path"], columns["score"])} == local


def test_export_command_turns_a_checkpoint_into_an_onnx_file_that_scores_alike(tmp_path: Path, plumbing_weights: Path) -> None:
    """After a retrain: ``python -m training.export_onnx`` on the new checkpoint, then ``--weights FILE.onnx`` scores as the checkpoint."""
    pytest.importorskip("onnxscript", reason="the export extra exports")
    exported = tmp_path / "plumbing.onnx"
    done = subprocess.run([sys.executable, "-m", "training.export_onnx", "--checkpoint", str(plumbing_weights), "--output", str(exported)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=subprocess_env(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sha256" in done.stdout and exported.is_file()
    folder = fixed_photos(tmp_path / "photos")
    outputs = {}
    for weights in (exported, plumbing_weights):
        code, out, err = invoke(["score", str(folder), "--no-cache", "-f", "jsonl"], weights=weights)
        assert code == 0, err
        outputs[weights.suffix] = [json.loads(line) for line in out.splitlines()]
    for onnx_row, torch_row in zip(outputs[".onnx"], outputs[".pt"], strict=True):
        assert onnx_row["path"] == torch_row["path"] and onnx_row["error"] == torch_row["error"]
        if torch_row["score"] is not None:
            assert abs(onnx_row["score"] - torch_row["score"]) <= AGREEMENT + 1e-9


@needs_onnx
def test_the_model_config_is_read_from_the_file_without_a_session() -> None:
    """The metadata reader sees what ONNX Runtime sees, and refuses what is not a protobuf message."""
    import onnxruntime

    from aescull.model.onnx_runtime import custom_metadata

    session = onnxruntime.InferenceSession(str(SHIPPED_ONNX), providers=["CPUExecutionProvider"])
    assert custom_metadata(SHIPPED_ONNX.read_bytes()) == session.get_modelmeta().custom_metadata_map
    with pytest.raises(ValueError):
        custom_metadata(b"not a model")
    with pytest.raises(ValueError, match="truncated"):
        custom_metadata(SHIPPED_ONNX.read_bytes()[:100_000])


def _kept_rewrites(cache_home: Path) -> list[Path]:
    return sorted((cache_home / "aescull" / "compiled").glob("*.onnx"))


@needs_onnx
def test_the_kept_rewrite_scores_bit_for_bit_as_the_shipped_file(tmp_path: Path, isolated_cache: Path) -> None:
    """The first load keeps ONNX Runtime's rewrite of the graph; the next starts from it, and its
    scores are exactly those of a session on the shipped file; a damaged rewrite is written again."""
    import numpy as np
    import onnxruntime

    from aescull.model.onnx_runtime import load_onnx
    from aescull.pipeline.decode import decode

    folder = fixed_photos(tmp_path / "photos")
    batches = [decode(path, 512).pixels[None] for path in sorted(folder.iterdir()) if path.name != "small.jpg"]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    original = onnxruntime.InferenceSession(str(SHIPPED_ONNX), options, providers=["CPUExecutionProvider"])
    expected = [original.run(None, {"images": batch})[0] for batch in batches]

    load_onnx().network()
    [kept] = _kept_rewrites(isolated_cache)
    stamp = kept.stat().st_mtime_ns
    network = load_onnx().network()
    assert kept.stat().st_mtime_ns == stamp  # read, not written again
    assert all(np.array_equal(network(batch), scores) for batch, scores in zip(batches, expected, strict=True))

    kept.write_bytes(kept.read_bytes()[: kept.stat().st_size // 2])
    network = load_onnx().network()
    assert _kept_rewrites(isolated_cache) == [kept] and kept.stat().st_size > 2 * 10**7
    assert all(np.array_equal(network(batch), scores) for batch, scores in zip(batches, expected, strict=True))


@needs_onnx
def test_writing_a_rewrite_removes_those_unused_for_a_month_and_killed_writers_temporaries(isolated_cache: Path) -> None:
    from aescull.model.onnx_runtime import load_onnx

    folder = isolated_cache / "aescull" / "compiled"
    folder.mkdir(parents=True)
    day = 86400
    ages = {
        "0" * 32 + "-onnxruntime-1.20.0.onnx": 40 * day,  # an older ONNX Runtime's, unused: goes
        "1" * 32 + "-onnxruntime-1.20.0.onnx": 10 * day,  # another environment's, in use: stays
        ".2-onnxruntime-1.20.0.onnx.x1.tmp": 2 * 3600,  # a killed writer's: goes
        ".3-onnxruntime-1.20.0.onnx.x2.tmp": 60,  # a writer at work: stays
        "notes.txt": 400 * day,  # not ours: stays
    }
    now = time.time()
    for name, age in ages.items():
        (folder / name).write_bytes(b"x")
        os.utime(folder / name, (now - age, now - age))

    load_onnx().network()
    [kept] = [path for path in _kept_rewrites(isolated_cache) if path.name not in ages]
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [kept.name, "1" * 32 + "-onnxruntime-1.20.0.onnx", ".3-onnxruntime-1.20.0.onnx.x2.tmp", "notes.txt"])

    os.utime(kept, (now - 2 * day, now - 2 * day))
    load_onnx().network()
    assert time.time() - kept.stat().st_mtime < 600  # started from: marked used


@needs_onnx
def test_a_cache_folder_that_cannot_be_written_costs_only_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    folder = fixed_photos(tmp_path / "photos")
    code, out, err = invoke(["score", str(folder), "--no-cache", "-q"])
    assert code == 0, err
    assert len(rows(out)) == 6 and all(row["score"] for row in rows(out) if not row["error"])


def _protobuf_entry(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (lengths under 2**14 here)."""
    length = bytes([len(payload)]) if len(payload) < 0x80 else bytes([len(payload) & 0x7F | 0x80, len(payload) >> 7])
    return bytes([number << 3 | 2]) + length + payload


@needs_onnx
def test_a_model_whose_session_cannot_be_built_is_a_usage_error_before_any_output(tmp_path: Path) -> None:
    """An aescull export's metadata around no graph: the config reads, the session does not build
    (on its own thread, while the photo decodes); still exit 2, and nothing on stdout."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(SHIPPED_ONNX), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    graphless = tmp_path / "graphless.onnx"
    graphless.write_bytes(b"".join(
        _protobuf_entry(14, _protobuf_entry(1, key.encode()) + _protobuf_entry(2, value.encode())) for key, value in metadata.items()
    ))
    folder = fixed_photos(tmp_path / "photos")
    code, out, err = invoke(["score", str(folder), "--no-cache"], weights=graphless)
    assert code == 2 and "not a valid ONNX model" in err and out == ""
