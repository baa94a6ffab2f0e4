"""Headless Chromium for the report and review tests and the measurements: a DOM dump, a screenshot,
and the DevTools protocol over a pipe (load a page, press keys, wait for what it shows, capture
it), so no driver or websocket package is needed."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Offline and quiet: no first-run UI, no background fetches, no GPU process (CI has no display).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
TIMEOUT_S = 120
# Keys the review uses that are not characters: DOM key name -> Windows virtual key code.
NAMED_KEYS = {"ArrowLeft": 37, "ArrowUp": 38, "ArrowRight": 39, "ArrowDown": 40, "Escape": 27, "PageUp": 33, "PageDown": 34}


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


SKIP_REASON = "no chromium on PATH: the browser tests need Debian's `chromium` package (.ci/run installs it)"


@contextmanager
def _profile() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="aescull-chromium-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    binary = find_chromium()
    assert binary is not None, SKIP_REASON
    with _profile() as profile:
        return subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *arguments],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=True,
        )


def dump_dom(url: str, budget_ms: int = 3000) -> str:
    """The DOM after the page's scripts ran (``--virtual-time-budget`` lets them finish)."""
    return _run([f"--virtual-time-budget={budget_ms}", "--dump-dom", url]).stdout


def screenshot(url: str, target: Path, width: int = 1280, height: int = 900, budget_ms: int = 5000) -> Path:
    _run([f"--window-size={width},{height}", f"--virtual-time-budget={budget_ms}", f"--screenshot={target}", url])
    return target


class DevTools:
    """The Chrome DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-separated JSON)."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        binary = find_chromium()
        assert binary is not None, SKIP_REASON
        self.profile = tempfile.mkdtemp(prefix="aescull-chromium-")
        to_child_read, self.to_child = os.pipe()
        self.from_child, from_child_write = os.pipe()

        def wire_pipes() -> None:
            # Copies above 10 first, so neither dup2 can overwrite the other pipe's end.
            reading, writing = fcntl.fcntl(to_child_read, fcntl.F_DUPFD, 10), fcntl.fcntl(from_child_write, fcntl.F_DUPFD, 10)
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        self.process = subprocess.Popen(  # close_fds=False: fds 3 and 4 are made in wire_pipes, others are non-inheritable
            [binary, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "--remote-debugging-pipe", "about:blank"],
            close_fds=False,
            preexec_fn=wire_pipes,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_read)
        os.close(from_child_write)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(target for target in targets if target["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def _read_message(self) -> dict:
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params: object) -> dict:
        self.next_id += 1
        request: dict[str, object] = {"id": self.next_id, "method": method, "params": params}
        if session:
            request["sessionId"] = self.session
        os.write(self.to_child, json.dumps(request).encode() + b"\0")
        while True:
            message = self._read_message()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str) -> dict:
        for index, message in enumerate(self.events):
            if message.get("method") == event:
                return self.events.pop(index)
        while True:
            message = self._read_message()
            if message.get("method") == event:
                return message
            self.events.append(message)

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", session=True, expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        """Open ``url`` in the page and wait for its load event."""
        self.call("Page.enable", session=True)
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")

    def wait_until(self, expression: str, timeout_s: float = 60.0) -> object:
        """Poll a page expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never showed: {expression}")
            time.sleep(0.05)

    def press(self, key: str) -> None:
        """One key, down and up, as the keyboard sends it: a character ("x", "3") or a DOM key name ("ArrowRight")."""
        if key in NAMED_KEYS:
            down = {"key": key, "code": key, "windowsVirtualKeyCode": NAMED_KEYS[key]}
        else:
            code = f"Digit{key}" if key.isdigit() else f"Key{key.upper()}"
            down = {"key": key, "code": code, "text": key, "windowsVirtualKeyCode": ord(key.upper())}
        self.call("Input.dispatchKeyEvent", session=True, type="keyDown", **down)
        self.call("Input.dispatchKeyEvent", session=True, type="keyUp", **{name: value for name, value in down.items() if name != "text"})

    def capture(self, target: Path) -> Path:
        """A PNG of what the page shows now."""
        target.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", session=True, format="png")["data"]))
        return target

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.to_child)
        os.close(self.from_child)
        shutil.rmtree(self.profile, ignore_errors=True)
