"""Run the aescull CLI with one test-only fault, so that a test can interrupt it at a chosen point.

aescull itself has no test hook: this wrapper patches the process it runs in, then calls the CLI.

    python tests/support/interrupting.py slow-decodes N SECONDS -- ARGS   every photo after the Nth waits
        SECONDS before it is opened, leaving time for a signal to land in the middle of a run
    python tests/support/interrupting.py kill-at-fsync N -- ARGS          SIGKILL at the Nth os.fsync, before it
        runs: every journal line, sidecar, copy and folder change is followed by one
    python tests/support/interrupting.py pause-at-fsync N -- ARGS         at the Nth os.fsync, print "paused" on
        stderr and wait to be killed from outside
"""

from __future__ import annotations

import os
import signal
import sys
import time

from PIL import Image

from aescull.cli.app import app

PAUSED = "paused"


def slow_decodes(after: int, seconds: float) -> None:
    real_open = Image.open
    opened = 0

    def slow_open(*args: object, **kwargs: object) -> Image.Image:
        nonlocal opened
        opened += 1
        if opened > after:
            time.sleep(seconds)
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    Image.open = slow_open  # type: ignore[assignment]


def at_fsync(number: int, act: str) -> None:
    real_fsync = os.fsync
    calls = 0

    def fsync(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == number:
            if act == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            print(PAUSED, file=sys.stderr, flush=True)
            time.sleep(600)
        real_fsync(fd)

    os.fsync = fsync


def main(argv: list[str]) -> None:
    split = argv.index("--")
    mode, options, arguments = argv[0], argv[1:split], argv[split + 1 :]
    if mode == "slow-decodes":
        slow_decodes(int(options[0]), float(options[1]))
    elif mode in ("kill-at-fsync", "pause-at-fsync"):
        at_fsync(int(options[0]), mode.split("-")[0])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    # The tests stand for Ctrl-C at a terminal; a suite started as a background job (`nohup ... &`,
    # some CI runners) would otherwise hand this process SIGINT ignored, and nothing would stop.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    app(args=arguments, prog_name="aescull")


if __name__ == "__main__":
    main(sys.argv[1:])
