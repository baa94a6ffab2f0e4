"""The review's web server: the standard library's threading HTTP server, on 127.0.0.1 only, for one person's browser.

Every request passes the same gate before anything else runs, and is refused otherwise:

- its ``Host`` header is exactly ``127.0.0.1:PORT`` (a page of another site that a DNS record
  points at 127.0.0.1, a "DNS rebinding" attack, sends its own name);
- it carries the run's secret token: in the address (``?token=``) or the ``X-Aescull-Token``
  header for reading; in the header only for a change (``POST``), which a page of another
  origin cannot set without the browser asking this server first, and which no cookie stands
  in for (there are none); a change must also come as JSON, from no other ``Origin``;
- it names a route of the table below, with its method (a change asked by ``GET`` is refused);
  shots are named by their number in the review, never by a path, so no request can reach a
  file that is not a shot's (see :mod:`aescull.review.catalog`).

Responses forbid framing, sniffing, referrers and any script or image from elsewhere (CSP).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import socket
import threading
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from string import Template
from urllib.parse import parse_qs, urlsplit

from aescull import __version__
from aescull.judge.checks import REASONS
from aescull.library.decisions import Decision
from aescull.review.images import Images, NotServed
from aescull.review.session import Review

log = logging.getLogger("aescull")

LOOPBACK = "127.0.0.1"
TOKEN_HEADER = "X-Aescull-Token"
PAGE_SIZE = 200  # shots a page of the grid shows, as the report pages its tiles
MAX_BODY = 64 << 10  # a decision is a few bytes; a bigger body is refused unread
MAX_IDS = 10_000
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_SHOT_ROUTE = re.compile(r"/(thumb|focus|crop)/(0|[1-9][0-9]{0,8})")
_NUMBER = re.compile(r"0|[1-9][0-9]{0,6}")
_READS = ("/", "/review.js", "/review.css", "/api/shots")
_CHANGES = ("/api/decide", "/api/apply")


class ReviewServer(ThreadingHTTPServer):
    """Serves one review on 127.0.0.1:``port`` (0: a free port) until :meth:`server_close`."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, review: Review, images: Images, title: str, port: int = 0) -> None:
        self.closed = False  # before binding: a port in use closes the server at once
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((LOOPBACK, port), _Handler)
        self.review = review
        self.images = images
        self.token = secrets.token_urlsafe(32)
        self.host = f"{LOOPBACK}:{self.server_port}"
        self.summaries = [shot.summary(review.root, review.catalog.moment_sizes) for shot in review.catalog.shots]
        self.page = Template(_asset("page.html")).substitute(title=escape(title), token=escape(self.token), version=escape(__version__))
        self.title = title

    @property
    def url(self) -> str:
        return f"http://{self.host}/?token={self.token}"

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)  # type: ignore[arg-type]

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)  # type: ignore[arg-type]

    def server_close(self) -> None:
        """Stop listening, and end the connections a browser keeps open: nothing is answered after this."""
        self.closed = True
        super().server_close()
        with self._connections_lock:
            still_open = list(self._connections)
        for connection in still_open:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: object, client_address: object) -> None:
        """A browser that left mid-answer is not worth a traceback on the terminal."""
        log.debug("review: a request failed", exc_info=True)


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, message: str, allow: str | None = None) -> None:
        super().__init__(message)
        self.status, self.allow = status, allow


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aescull-review"
    sys_version = ""
    timeout = 30  # an idle or stalled connection is closed after this many seconds
    server: ReviewServer

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def log_message(self, format: str, *args: object) -> None:
        log.debug("review: " + format, *args)

    def _answer(self, method: str) -> None:
        try:
            self._route(method)
        except _Refused as refusal:
            self._send(refusal.status, str(refusal).encode(), "text/plain; charset=utf-8", extra={"Allow": refusal.allow} if refusal.allow else {})
        except NotServed as error:
            self._send(HTTPStatus.NOT_FOUND, str(error).encode(), "text/plain; charset=utf-8")
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception:
            if self.server.closed:  # stopped under it (its pixels' folder is gone): nobody is waiting for it
                self.close_connection = True
                return
            log.warning("review: a request failed", exc_info=log.isEnabledFor(logging.DEBUG))
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, b"internal error", "text/plain; charset=utf-8")

    def _route(self, method: str) -> None:
        server = self.server
        if self.headers.get("Host") != server.host:
            raise _Refused(HTTPStatus.BAD_REQUEST, "wrong Host header: open the address aescull printed")
        if not self.path.startswith("/") or self.path.startswith("//"):
            raise _Refused(HTTPStatus.BAD_REQUEST, "bad request target")
        target = urlsplit(self.path)
        try:
            query = parse_qs(target.query, keep_blank_values=True, strict_parsing=bool(target.query), max_num_fields=16)
        except ValueError:
            raise _Refused(HTTPStatus.BAD_REQUEST, "bad query") from None
        given = self.headers.get(TOKEN_HEADER) if method == "POST" else self.headers.get(TOKEN_HEADER) or _one(query, "token")
        if not given or not hmac.compare_digest(given.encode(), server.token.encode()):
            raise _Refused(HTTPStatus.FORBIDDEN, f"missing or wrong token{' (a change needs it in the ' + TOKEN_HEADER + ' header)' if method == 'POST' else ''}")
        path = target.path
        shot_route = _SHOT_ROUTE.fullmatch(path)
        wanted = "POST" if path in _CHANGES else "GET" if path in _READS or shot_route else None
        if wanted is None:
            raise _Refused(HTTPStatus.NOT_FOUND, "no such page")
        if method != wanted:
            raise _Refused(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {wanted} only", allow=wanted)
        if method == "POST":
            self._answer_change(path, self._json_body())
        elif shot_route:
            self._answer_shot(shot_route[1], int(shot_route[2]), query)
        elif path == "/":
            self._send(HTTPStatus.OK, server.page.encode(), "text/html; charset=utf-8")
        elif path == "/api/shots":
            self._send_json(self._shots())
        else:
            kind = "text/javascript" if path.endswith(".js") else "text/css"
            self._send(HTTPStatus.OK, _asset(path.lstrip("/")).encode(), f"{kind}; charset=utf-8")

    def _shots(self) -> dict[str, object]:
        review = self.server.review
        catalog = review.catalog
        return {
            "title": self.server.title,
            "root": str(review.root),
            "page_size": PAGE_SIZE,
            "checked": catalog.checked,
            "reasons": list(REASONS),
            "can_apply": review.can_apply,
            "culled_folder": str(review.destination),
            "shots": self.server.summaries,
            "states": [review.state(shot.number) for shot in catalog.shots],
        }

    def _answer_shot(self, kind: str, number: int, query: dict[str, list[str]]) -> None:
        shot = self.server.review.catalog.get(number)
        if shot is None or number in self.server.review.gone:
            raise _Refused(HTTPStatus.NOT_FOUND, "no such shot")
        images = self.server.images
        if kind == "thumb":
            self._send(HTTPStatus.OK, images.thumbnail(shot), "image/jpeg", cache=True)
        elif kind == "focus":
            self._send_json(images.focus(shot).as_json())
        else:
            numbers = [_one(query, name) for name in ("x", "y", "w", "h")]
            if not all(value is not None and _NUMBER.fullmatch(value) for value in numbers):
                raise _Refused(HTTPStatus.BAD_REQUEST, "a crop needs whole numbers x, y, w and h")
            left, top, width, height = (int(value) for value in numbers)  # type: ignore[arg-type]
            self._send(HTTPStatus.OK, images.crop(shot, left, top, width, height), "image/jpeg", cache=True)

    def _answer_change(self, path: str, body: dict[str, object]) -> None:
        review = self.server.review
        if path == "/api/apply":
            states, failures = review.apply()
        else:
            ids = body.get("ids")
            if not isinstance(ids, list) or not 0 < len(ids) <= MAX_IDS or not all(isinstance(n, int) and not isinstance(n, bool) for n in ids):
                raise _Refused(HTTPStatus.BAD_REQUEST, "ids: a list of shot numbers")
            if any(review.catalog.get(number) is None for number in ids):
                raise _Refused(HTTPStatus.NOT_FOUND, "no such shot")
            stars = body.get("stars", 0)
            try:
                decision = Decision(str(body.get("action")), stars if isinstance(stars, int) and not isinstance(stars, bool) else -1)
            except ValueError as error:
                raise _Refused(HTTPStatus.BAD_REQUEST, str(error)) from None
            states, failures = review.decide(ids, decision)
        for failure in failures:
            log.warning(f"review: {failure}")
        self._send_json({"states": states, "failures": failures, "rejected": len(review.rejected())})

    def _json_body(self) -> dict[str, object]:
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.server.host}":
            raise _Refused(HTTPStatus.FORBIDDEN, "a change must come from the review's own page")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            raise _Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "a change is sent as application/json")
        length = self.headers.get("Content-Length") or ""
        if not length.isdigit() or int(length) > MAX_BODY:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            status = HTTPStatus.LENGTH_REQUIRED if not length.isdigit() else HTTPStatus.REQUEST_ENTITY_TOO_LARGE
            raise _Refused(status, f"a change needs a Content-Length of at most {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(int(length)) or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise _Refused(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise _Refused(HTTPStatus.BAD_REQUEST, "the body is a JSON object")
        return body

    def _send_json(self, value: object) -> None:
        self._send(HTTPStatus.OK, json.dumps(value, ensure_ascii=True).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, kind: str, cache: bool = False, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        # The token is part of every address, so a cached image is never seen by another run.
        self.send_header("Cache-Control", "private, max-age=86400" if cache else "no-store")
        for name, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values and len(values) == 1 else None


def _asset(name: str) -> str:
    return resources.files("aescull.review").joinpath(name).read_text(encoding="utf-8")

