"""`aescull review` as a command: what it refuses up front, how it stops, and that it holds the library while it writes."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest

from aescull.review.catalog import Catalog
from tests.support.cli import invoke
from tests.support.library import fingerprint
from tests.support.mounts import read_only_view
from tests.support.reviewing import decide, get_ok, make_review_library, records_for, running_review, serving


def test_a_path_that_does_not_exist_is_refused_before_scoring(tmp_path: Path, plumbing_weights: Path) -> None:
    make_review_library(tmp_path)
    code, out, err = invoke(["review", "lib", "lib/typo", "--no-open"], tmp_path, plumbing_weights)
    assert code == 2 and "lib/typo: no such file or folder" in err and out == ""


def test_a_read_only_library_is_refused_up_front(tmp_path: Path, plumbing_weights: Path) -> None:
    source = make_review_library(tmp_path)
    with read_only_view(source, tmp_path / "card") as card:
        code, _, err = invoke(["review", str(card), "--no-open"], tmp_path, plumbing_weights)
    assert code == 2 and "is read-only" in err


def test_a_port_in_use_is_a_usage_error(tmp_path: Path, plumbing_weights: Path) -> None:
    make_review_library(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = invoke(["review", "lib", "--no-open", "--no-cache", "--port", str(port)], tmp_path, plumbing_weights)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err


@pytest.mark.parametrize(("sent", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_leave_nothing_listening_and_a_look_writes_nothing(
    tmp_path: Path, plumbing_weights: Path, sent: signal.Signals, code: int, said: str
) -> None:
    library = make_review_library(tmp_path)
    before = fingerprint(library, with_mtimes=True)
    with running_review(["lib", "--weights", str(plumbing_weights), "--no-cache"], tmp_path) as review:
        for target in ("/api/shots", "/thumb/0", "/focus/0", "/crop/0?x=0&y=0&w=64&h=64"):
            get_ok(review.port, review.token, target)
        review.process.send_signal(sent)
        assert review.process.wait(timeout=60) == code
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", review.port), timeout=10)
    said_all = review.stderr.decode()
    assert f"aescull: {said}" in said_all and "Traceback" not in said_all and "undo with" not in said_all
    assert fingerprint(library, with_mtimes=True) == before
    assert not (library / ".aescull-journal.jsonl").exists() and not (library / ".aescull.lock").exists()


def test_the_review_holds_the_library_from_its_first_decision_until_it_stops(tmp_path: Path, plumbing_weights: Path) -> None:
    library = make_review_library(tmp_path)
    catalog = Catalog(records_for(library), library)
    with serving(catalog) as first, serving(Catalog(records_for(library), library)) as second:
        assert invoke(["tag", "lib", "--dry-run"], tmp_path, plumbing_weights)[0] == 0  # looking holds nothing
        assert decide(first, [0], "reject")[0] == 200
        code, _, err = invoke(["tag", "lib"], tmp_path, plumbing_weights)
        assert code == 2 and "another aescull run is working on" in err
        written = fingerprint(library, with_mtimes=True)
        status, body = decide(second, [1], "pick")  # a second review of the same library writes nothing meanwhile
        assert status == 200 and b"another aescull run is working on" in body
        assert fingerprint(library, with_mtimes=True) == written
    assert invoke(["undo", "lib"], tmp_path)[0] == 0  # released when the review stopped


def test_review_verdict_shows_each_shot_its_verdict(tmp_path: Path) -> None:
    library = make_review_library(tmp_path)
    before = fingerprint(library, with_mtimes=True)
    with running_review(["lib", "--verdict", "--no-cache", "--max-side", "128"], tmp_path) as review:
        shots = json.loads(get_ok(review.port, review.token, "/api/shots"))
        review.process.send_signal(signal.SIGINT)
        assert review.process.wait(timeout=60) == 130
    listed = shots["shots"]
    assert len(listed) >= 2 and {shot["verdict"] for shot in listed} <= {"pick", "keep", "reject"} and "pick" in {shot["verdict"] for shot in listed}
    assert fingerprint(library, with_mtimes=True) == before
