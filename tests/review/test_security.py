"""Every refusal of the review's server, sent as an attacker's page or tool would send it, and a bounded load.

Each refused request must change nothing and give nothing away: no photo bytes, no file names.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aescull.library import xmp
from aescull.review.catalog import Catalog
from aescull.review.server import TOKEN_HEADER, ReviewServer
from aescull.rows.record import ScoreRecord
from tests.support.library import fingerprint
from tests.support.reviewing import decide, make_review_library, records_for, request, serving

JPEG = b"\xff\xd8\xff"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("security")
    made = make_review_library(root)
    (made / "linked").symlink_to(root / "elsewhere", target_is_directory=True)  # a folder link out of the library
    return made


@pytest.fixture(scope="module")
def server(library: Path) -> ReviewServer:
    rows = records_for(library) + [ScoreRecord(library / "linked" / "secret.jpg", 0.99)]
    with serving(Catalog(rows, library)) as running:
        yield running  # type: ignore[misc]


def get(server: ReviewServer, target: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    joiner = "&" if "?" in target else "?"
    return request(server.server_port, "GET", f"{target}{joiner}token={server.token}", headers)


def names_in(body: bytes) -> bool:
    return any(name in body for name in (b"a.jpg", b"b.jpg", b"sharp", b"secret", b"IMG_"))


def test_it_listens_on_the_loopback_address_only(server: ReviewServer) -> None:
    assert server.socket.getsockname()[0] == "127.0.0.1"
    assert server.url.startswith(f"http://127.0.0.1:{server.server_port}/?token=")
    assert len(server.token) >= 40  # 32 random bytes
    status, _, body = get(server, "/api/shots")
    assert status == 200 and json.loads(body)["shots"]


TARGETS = ["/", "/review.js", "/review.css", "/api/shots", "/thumb/0", "/focus/0", "/crop/0?x=0&y=0&w=64&h=64"]


@pytest.mark.parametrize("target", TARGETS)
def test_a_request_without_the_token_is_refused(server: ReviewServer, target: str) -> None:
    status, _, body = request(server.server_port, "GET", target)
    assert status == 403 and not body.startswith(JPEG) and not names_in(body)


@pytest.mark.parametrize("token", ["", "wrong", "TRUNCATED", "twice"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_request_with_a_wrong_token_is_refused(server: ReviewServer, target: str, token: str) -> None:
    given = {"": "", "wrong": "x" * 43, "TRUNCATED": server.token[:-1], "twice": f"{server.token}&token={server.token}"}[token]
    joiner = "&" if "?" in target else "?"
    status, _, body = request(server.server_port, "GET", f"{target}{joiner}token={given}")
    assert status == 403 and not body.startswith(JPEG) and not names_in(body)
    status, _, _ = request(server.server_port, "GET", target, {TOKEN_HEADER: given or "-"})
    assert status == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "localhost:{port}", "127.0.0.1:{other}", "127.0.0.1",
                                  "127.0.0.1:{port}.evil.example", "[::1]:{port}", ""])
def test_a_foreign_host_header_is_refused_even_with_the_token(server: ReviewServer, host: str) -> None:
    """A page of another site rebinding its name to 127.0.0.1 sends its own name as Host."""
    named = host.format(port=server.server_port, other=server.server_port + 1)
    for target in ("/", "/api/shots", "/thumb/0"):
        status, _, body = get(server, target, {"Host": named})
        assert status == 400 and not body.startswith(JPEG) and not names_in(body)


PATH_TRICKS = [
    "/thumb/../../../../etc/passwd", "/thumb/..%2F..%2F..%2Fetc%2Fpasswd", "/thumb/%2e%2e/%2e%2e/etc/passwd", "/thumb/0%2F..%2F1",
    "/thumb/0/../1", "/thumb/0/", "/thumb/%30", "/thumb/00", "/thumb/-1", "/thumb/1e3", "/thumb/0x1", "/thumb/999999999",
    "/thumb/0%00", "/thumb/a.jpg", "/thumb/lib%2Fa.jpg", "/..%2f..%2fetc%2fpasswd", "/review.js/../api/shots", "/api/shots/..",
    "/crop/0?x=0&y=0&w=0&h=10", "/crop/0?x=-1&y=0&w=10&h=10", "/crop/0?x=0&y=0&w=99999&h=10", "/crop/0?x=0&y=0&w=10",
    "/review.js%00.png", "/page.html", "/server.py", "/__init__.py", "/etc/passwd",
]


@pytest.mark.parametrize("target", PATH_TRICKS)
def test_path_tricks_name_no_file(server: ReviewServer, target: str) -> None:
    status, _, body = get(server, target)
    assert status in (400, 404) and not body.startswith(JPEG) and b"root:" not in body and b"import" not in body


@pytest.mark.parametrize("target", ["//etc/passwd", "http://127.0.0.1/thumb/0", "*"])
def test_a_request_target_that_is_not_a_path_is_refused(server: ReviewServer, target: str) -> None:
    status, _, body = request(server.server_port, "GET", target + f"?token={server.token}")
    assert status in (400, 404) and not body.startswith(JPEG) and b"root:" not in body


def test_a_photo_linked_from_outside_the_library_is_never_served(server: ReviewServer, library: Path, tmp_path: Path) -> None:
    shots = json.loads(get(server, "/api/shots")[2])["shots"]
    assert len(shots) == len(server.review.catalog) and not any("secret" in shot["name"] or "outside" in shot["name"] for shot in shots)
    assert {path.name for path in server.review.catalog.outside} == {"outside.jpg", "secret.jpg"}
    # A shot's file swapped for a link out of the library while the review runs is refused too.
    blurry = next(shot for shot in server.review.catalog.shots if shot.shown.path.name == "blurry.jpg")
    kept = tmp_path / "blurry.jpg"
    blurry.shown.path.rename(kept)
    blurry.shown.path.symlink_to(library.parent / "elsewhere" / "secret.jpg")
    try:
        for target in (f"/thumb/{blurry.number}", f"/focus/{blurry.number}", f"/crop/{blurry.number}?x=0&y=0&w=32&h=32"):
            status, _, body = get(server, target)
            assert status == 404 and not body.startswith(JPEG), target
    finally:
        blurry.shown.path.unlink()
        kept.rename(blurry.shown.path)


def change(server: ReviewServer, target: str, headers: dict[str, str], body: bytes = b'{"ids": [0], "action": "reject"}') -> int:
    return request(server.server_port, "POST", target, headers, body)[0]


def test_a_change_asked_by_get_is_refused_and_changes_nothing(server: ReviewServer, library: Path) -> None:
    before = fingerprint(library)
    for target in ("/api/decide?ids=0&action=reject", "/api/decide", "/api/apply"):
        status, headers, _ = get(server, target, {TOKEN_HEADER: server.token})
        assert status == 405 and headers["allow"] == "POST"
    for target in ("/api/shots", "/thumb/0", "/"):  # and reads are not changes
        assert change(server, target + f"?token={server.token}", {TOKEN_HEADER: server.token, "Content-Type": "application/json"}) == 405
    assert fingerprint(library) == before


@pytest.mark.parametrize("case", ["token in the address", "token in a cookie", "no token", "wrong header token", "foreign origin",
                                  "a form's content type", "no content type"])
def test_a_change_needs_the_token_in_its_header_json_and_its_own_origin(server: ReviewServer, library: Path, case: str) -> None:
    """What a page of another site can send (a form, an image, a fetch without preflight) is refused."""
    token, json_type, own = server.token, {"Content-Type": "application/json"}, {"Origin": f"http://{server.host}"}
    target, headers = {
        "token in the address": (f"/api/decide?token={token}", {**json_type, **own}),
        "token in a cookie": ("/api/decide", {"Cookie": f"token={token}", **json_type, **own}),
        "no token": ("/api/decide", {**json_type, **own}),
        "wrong header token": ("/api/decide", {TOKEN_HEADER: token[::-1], **json_type, **own}),
        "foreign origin": ("/api/decide", {TOKEN_HEADER: token, **json_type, "Origin": "http://evil.example"}),
        "a form's content type": ("/api/decide", {TOKEN_HEADER: token, "Content-Type": "application/x-www-form-urlencoded", **own}),
        "no content type": ("/api/decide", {TOKEN_HEADER: token, **own}),
    }[case]
    before = fingerprint(library)
    assert change(server, target, headers) in (403, 415)
    assert change(server, target.replace("decide", "apply"), headers, b"{}") in (403, 415)
    assert fingerprint(library) == before
    assert not (library / ".aescull-journal.jsonl").exists() and not (library / ".aescull.lock").exists()


@pytest.mark.parametrize(("body", "expected"), [
    (b"not json", 400), (b"[0]", 400), (b'{"ids": "0", "action": "reject"}', 400), (b'{"ids": [], "action": "reject"}', 400),
    (b'{"ids": [true], "action": "reject"}', 400), (b'{"ids": [0], "action": "delete"}', 400),
    (b'{"ids": [0], "action": "stars", "stars": 7}', 400), (b'{"ids": [0], "action": "stars", "stars": "3"}', 400),
    (b'{"ids": [123456], "action": "reject"}', 404), (b'{"ids": [-1], "action": "reject"}', 404),
])
def test_a_malformed_change_is_refused_and_changes_nothing(server: ReviewServer, library: Path, body: bytes, expected: int) -> None:
    before = fingerprint(library)
    headers = {TOKEN_HEADER: server.token, "Content-Type": "application/json"}
    assert change(server, "/api/decide", headers, body) == expected
    assert fingerprint(library) == before


def test_a_body_too_large_or_of_unknown_length_is_refused_unread(server: ReviewServer) -> None:
    headers = {TOKEN_HEADER: server.token, "Content-Type": "application/json", "Content-Length": str(10**9)}
    assert request(server.server_port, "POST", "/api/decide", headers, b"{}")[0] == 413
    assert request(server.server_port, "POST", "/api/decide", {TOKEN_HEADER: server.token, "Content-Type": "application/json"})[0] == 411


def test_reading_changes_nothing_and_every_answer_forbids_framing_sniffing_and_foreign_scripts(server: ReviewServer, library: Path) -> None:
    before = fingerprint(library, with_mtimes=True)
    for target in TARGETS:
        status, headers, _ = get(server, target)
        assert status == 200, target
        assert "frame-ancestors 'none'" in headers["content-security-policy"] and "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer" and headers["cross-origin-resource-policy"] == "same-origin"
    status, headers, _ = request(server.server_port, "GET", "/thumb/0")
    assert status == 403 and headers["x-frame-options"] == "DENY"
    assert fingerprint(library, with_mtimes=True) == before  # nothing is written before a decision
    assert not (library / ".aescull-journal.jsonl").exists() and not (library / ".aescull.lock").exists()


def test_many_parallel_requests_are_all_answered_and_the_server_stays_up(server: ReviewServer, library: Path) -> None:
    """A bounded load on loopback: 48 clients at once, 480 requests, a mix of reads, refusals and
    crops; plus 24 connections opened and left silent. Every request gets its answer."""
    silent = [socket.create_connection(("127.0.0.1", server.server_port), timeout=30) for _ in range(24)]
    count = len(server.review.catalog)
    targets = [(f"/thumb/{index % count}", 200) for index in range(160)] + [("/api/shots", 200)] * 80
    targets += [(f"/crop/{index % count}?x={index}&y=0&w=64&h=64", 200) for index in range(80)]
    targets += [("/thumb/..%2F..", 404)] * 80
    targets += [("no token", 403)] * 80

    def one(item: tuple[str, int]) -> tuple[int, int]:
        target, expected = item
        if target == "no token":
            return request(server.server_port, "GET", "/api/shots", timeout_s=120)[0], expected
        return get(server, target)[0], expected

    try:
        with ThreadPoolExecutor(max_workers=48) as pool:
            answers = list(pool.map(one, targets))
    finally:
        for connection in silent:
            connection.close()
    assert Counter(status == expected for status, expected in answers) == Counter({True: len(targets)})
    status, _ = decide(server, [0], "stars", 3)  # and it still writes decisions
    assert status == 200
    shown = server.review.catalog.get(0)
    assert shown is not None
    assert xmp.read(xmp.sidecar_path(shown.shown.path).read_bytes(), [xmp.RATING]) == {xmp.RATING: "3"}
    assert threading.active_count() < 200  # the handler threads ended


def test_once_stopped_it_answers_nothing_even_on_a_connection_the_browser_kept_open(library: Path) -> None:
    with serving(Catalog(records_for(library), library)) as stopping:
        kept = http.client.HTTPConnection("127.0.0.1", stopping.server_port, timeout=30)
        kept.request("GET", f"/api/shots?token={stopping.token}", headers={"Host": stopping.host})
        answer = kept.getresponse()
        assert answer.status == 200 and answer.getheader("Connection") != "close"
        answer.read()
        port = stopping.server_port
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        kept.request("GET", f"/api/shots?token={stopping.token}", headers={"Host": f"127.0.0.1:{port}"})
        kept.getresponse()
    kept.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=10)
