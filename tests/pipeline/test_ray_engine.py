"""`aescull score --engine ray`: the same rows as the local engine, from a Ray on 127.0.0.1.

The resource plan and the missing-extra error need no Ray; the rest is skipped when the ``ray``
extra is not installed. Every Ray run is bounded in time, so a starved pipeline fails the test
instead of hanging the suite.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from typer.testing import CliRunner

import aescull
from aescull.pipeline.batch import Scorer, read_files
from aescull.pipeline.cache import ScoreCache
from aescull.cli.app import app
from aescull.pipeline.discover import discover
from aescull.pipeline.ray import FILES_PER_BLOCK, LOOPBACK_ONLY_ENV, READ_TASK_CPUS, _Rows, plan_resources, score_paths_ray
from aescull.pipeline.local import score_paths
from aescull.rows.record import ScoreRecord
from aescull.model.checkpoint import LoadedModel
from tests.support.images import save_photo
from tests.support.images import mixed_library
from tests.support.cli import rows, subprocess_env

# Ray reads this when it is imported: every Ray these tests start listens on 127.0.0.1 only.
os.environ.setdefault(LOOPBACK_ONLY_ENV, "0")
# On a loaded machine Ray's agents start slowly; its 20-30 s start-up waits then fail a healthy
# run (seen here, beside a model training). Longer waits change nothing on an idle machine.
os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")
os.environ.setdefault("RAY_worker_register_timeout_seconds", "300")

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed")
runner = CliRunner()
T = TypeVar("T")
# Far above a healthy run (seconds), far below "hangs forever", and above the 300-s start-up
# waits set above: a run Ray itself would still wait for must not fail the test first.
RAY_RUN_SECONDS = 600


def within(seconds: float, work: Callable[[], T]) -> T:
    """Run ``work`` with a deadline: a Ray pipeline whose read tasks are starved never returns."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as error:  # re-raised in the test's thread
            result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"the Ray run did not finish within {seconds} s (starved read tasks?)")
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.mark.parametrize("cpus", [0, 1, 1.5, 2, 3, 4, 8, 16, 64, 1000])
def test_the_actor_pool_always_leaves_cpu_for_the_read_tasks(cpus: float) -> None:
    plan = plan_resources(cpus)
    assert plan.actors >= 1 and plan.read_cpus == READ_TASK_CPUS
    if cpus >= 1:
        assert plan.actors * plan.actor_cpus + plan.read_cpus <= cpus
    if cpus >= 2:
        assert plan.actor_cpus == 1.0  # one torch thread per actor, whole CPUs pack on every node
        assert cpus - plan.actors >= 1.0  # a whole CPU free for reads, whichever node it is on


def test_asking_for_more_actors_than_cpus_is_capped_not_starved() -> None:
    assert plan_resources(2, actors=8).actors == 1
    assert plan_resources(16, actors=8).actors == 8
    assert plan_resources(16, actors=100).actors == 14


def test_without_the_extra_the_ray_engine_is_a_setup_error(tmp_path: Path, plumbing_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_photo(tmp_path / "a.jpg")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    result = runner.invoke(app, ["score", str(tmp_path), "--engine", "ray", "--weights", str(plumbing_weights)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "pip install 'aescull[ray]'" in result.stderr


def test_ray_options_need_the_ray_engine(tmp_path: Path, plumbing_weights: Path) -> None:
    result = runner.invoke(app, ["score", str(tmp_path), "--address", "127.0.0.1:6379", "--weights", str(plumbing_weights)])
    assert result.exit_code == 2 and "--engine ray" in result.stderr


def test_rows_back_from_the_cluster_in_any_order_become_the_local_engines_records(tmp_path: Path, plumbing_model: LoadedModel) -> None:
    """The driver's half of the Ray engine, fed by the Scorer directly: no Ray runtime needed."""
    library = mixed_library(tmp_path / "lib")
    cache = ScoreCache(tmp_path / "cache.sqlite", plumbing_model.sha256, plumbing_model.config.max_side)
    assembly = _Rows(list(discover([library])), cache)
    jobs = {"index": np.array([index for index, _ in assembly.to_score]), "path": np.array([path for _, path in assembly.to_score], dtype=object)}
    out = Scorer(plumbing_model)(read_files(jobs))
    back = [{name: out[name][row] for name in out} for row in range(len(jobs["index"]))]
    assembly.scored(back[::-1])
    assert_same_records([*assembly.ready(), *assembly.rest()], list(score_paths([library], model=plumbing_model)))
    assert len(_Rows(list(discover([library])), cache).to_score) == 4  # only the bad files: the rest is cached
    cache.close()


def assert_same_records(got: list[ScoreRecord], expected: list[ScoreRecord]) -> None:
    assert [record.path for record in got] == [record.path for record in expected]
    for record, reference in zip(got, expected):
        if reference.score is None:
            assert record.score is None
        else:
            assert abs(record.score - reference.score) <= 1e-5, reference.path  # type: ignore[operator]
        fields = ("width", "height", "taken", "camera", "error", "pair", "size", "mtime_ns")
        assert [getattr(record, name) for name in fields] == [getattr(reference, name) for name in fields], reference.path
    raw, jpeg = (next(r for r in got if r.path.name == name) for name in ("IMG_0002.ARW", "IMG_0002.JPG"))
    assert raw.score == jpeg.score and raw.pair == jpeg.path


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Any]:
    """One private Ray for the session: 2 CPUs, a small object store, no dashboard, loopback only."""
    import ray

    ray.init(
        address="local", num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False,
        logging_level=logging.ERROR, log_to_driver=False, runtime_env={"py_modules": [str(Path(aescull.__file__).parent)]},
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def listening_hosts(port: int) -> set[str]:
    """The local addresses a TCP port listens on, from /proc/net/tcp{,6} (hex, as the kernel writes them)."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            host, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                hosts.add(host)
    return hosts


@needs_ray
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_the_private_ray_listens_on_loopback_only(local_ray: Any) -> None:
    (node,) = local_ray.nodes()
    assert node["NodeManagerAddress"] == "127.0.0.1"
    gcs_port = int(local_ray.get_runtime_context().gcs_address.rsplit(":", 1)[1])
    loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
    for port in (gcs_port, node["NodeManagerPort"], node["ObjectManagerPort"]):
        hosts = listening_hosts(port)
        assert hosts and hosts <= loopback, f"port {port} listens on {hosts}"


def two_block_library(root: Path) -> Path:
    """The mixed library and enough small photos for a second Ray block without a failed file
    (Ray hands such a block's all-null error column over as NaN)."""
    mixed_library(root)
    for index in range(FILES_PER_BLOCK + 4):
        save_photo(root / "more" / f"{index:02d}.jpg", 96, 72, seed=index)
    return root


@needs_ray
def test_ray_engine_gives_the_records_of_the_local_engine(tmp_path: Path, plumbing_model: LoadedModel, local_ray: Any) -> None:
    library = two_block_library(tmp_path / "lib")
    local = list(score_paths([library], model=plumbing_model))
    on_ray = within(RAY_RUN_SECONDS, lambda: list(score_paths_ray([library], model=plumbing_model, batch_size=4)))
    assert_same_records(on_ray, local)


@needs_ray
def test_cli_ray_engine_prints_the_rows_of_the_local_engine(tmp_path: Path, plumbing_weights: Path, local_ray: Any) -> None:
    library = two_block_library(tmp_path / "lib")
    local = runner.invoke(app, ["score", str(library), "--weights", str(plumbing_weights), "--no-cache"])
    on_ray = within(RAY_RUN_SECONDS, lambda: runner.invoke(
        app, ["score", str(library), "--engine", "ray", "--weights", str(plumbing_weights), "--cache", str(tmp_path / "c.sqlite")]
    ))
    assert (on_ray.exit_code, local.exit_code) == (1, 1)  # four bad files, as rows
    assert same_rows(rows(on_ray.stdout), rows(local.stdout))
    assert on_ray.stderr.count("warning: ") == 4 and "28 of 32 files scored, 4 failed" in on_ray.stderr
    again = within(RAY_RUN_SECONDS, lambda: runner.invoke(
        app, ["score", str(library), "--engine", "ray", "--weights", str(plumbing_weights), "--cache", str(tmp_path / "c.sqlite")]
    ))
    assert again.stdout == on_ray.stdout and "28 from cache" in again.stderr


def same_rows(got: list[dict[str, str]], expected: list[dict[str, str]]) -> bool:
    """Equal rows; a score may differ in its 4th decimal only by float rounding across batchings."""
    assert [row["path"] for row in got] == [row["path"] for row in expected]
    for row, reference in zip(got, expected):
        assert {**row, "score": ""} == {**reference, "score": ""}, row["path"]
        assert (row["score"] == "") == (reference["score"] == ""), row["path"]
        if row["score"]:
            assert abs(float(row["score"]) - float(reference["score"])) <= 1e-4, row["path"]
    return True


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[str]:
    """A head and a worker node on 127.0.0.1, one CPU each; yields the address to pass as --address."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 100 * 2**20, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        cluster.shutdown()


@needs_ray
def test_two_node_cluster_over_loopback_writes_the_rows_of_aescull_score(tmp_path: Path, plumbing_weights: Path, two_node_cluster: str) -> None:
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    two_block_library(tmp_path / "lib")
    command = [sys.executable, "-m", "aescull", "score", "lib", "--weights", str(plumbing_weights), "--no-cache"]
    local = subprocess.run(command, cwd=tmp_path, env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=300)
    on_cluster = subprocess.run(
        [*command, "--engine", "ray", "--address", two_node_cluster, "--output", "out.parquet"],
        cwd=tmp_path, env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=RAY_RUN_SECONDS,
    )
    assert (on_cluster.returncode, local.returncode) == (1, 1), on_cluster.stderr
    assert on_cluster.stdout == "" and "28 of 32 files scored, 4 failed" in on_cluster.stderr
    table = pyarrow_parquet.read_table(tmp_path / "out.parquet").to_pylist()
    as_text = [{name: "" if value is None else (f"{value:.4f}" if name == "score" else str(value)) for name, value in row.items()} for row in table]
    assert same_rows(as_text, rows(local.stdout))
