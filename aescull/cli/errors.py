"""Exit codes, and the one place where an error or a signal becomes one.

Every command runs inside :func:`guard`: a usage or setup problem (:class:`UsageError`) is one
``error:`` line and exit 2 with nothing done; Ctrl-C and SIGTERM run the same clean-up and exit
130 and 143; a crash (an aescull bug) exits 70, so scripts never mistake it for "some files
failed" (exit 1). Messages go to stderr with control characters escaped, one line each.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import NoReturn

import typer

log = logging.getLogger("aescull")


class ExitCode(IntEnum):
    OK = 0
    FILES_FAILED = 1  # some files failed, or some change was refused; the rest was done
    USAGE = 2  # a usage or setup error: nothing was done
    CRASH = 70  # an unexpected error inside aescull (EX_SOFTWARE): a bug, please report it with --debug
    INTERRUPTED = 128 + signal.SIGINT
    TERMINATED = 128 + signal.SIGTERM


class UsageError(Exception):
    """What the user asked cannot be done as asked (bad input, missing setup): exit 2, nothing changed."""


# A file name may hold a newline or a terminal escape: on stderr it is shown escaped, one line per message.
_CONTROL_CHARACTERS = {code: f"\\x{code:02x}" for code in (*range(32), 127)} | {ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"}


def warn(message: str) -> None:
    typer.echo(f"aescull: {message.translate(_CONTROL_CHARACTERS)}", err=True)


def counted(count: int, noun: str) -> str:
    """``1 photo``, ``2 photos``: the summaries read as sentences."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def fail(message: str) -> NoReturn:
    """Stop with a usage error; for the places outside :func:`guard` (option checks)."""
    warn(f"error: {message}")
    raise typer.Exit(ExitCode.USAGE)


class _StderrHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        warn(("warning: " if record.levelno >= logging.WARNING else "") + self.format(record))


def _setup_logging(debug: bool) -> None:
    log.handlers[:] = [_StderrHandler()]
    log.setLevel(logging.DEBUG if debug else logging.WARNING)
    log.propagate = False


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that the same clean-up runs (the cache commits,
    the lock is released, a half-written temp file is removed)."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def undecodable_names_pass_through(stream: object) -> None:
    """A file name that is not valid UTF-8 (Latin-1 from an old backup) is written as its own
    bytes, as ``ls`` does, instead of killing the run with a UnicodeEncodeError."""
    import io

    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="surrogateescape")


@contextmanager
def guard(debug: bool) -> Iterator[None]:
    """Errors become one line (a traceback only with --debug) and their exit code (see :class:`ExitCode`)."""
    _setup_logging(debug)
    undecodable_names_pass_through(sys.stdout)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except UsageError as error:
        warn(f"error: {error}")
        raise typer.Exit(ExitCode.USAGE) from None
    except KeyboardInterrupt as interruption:
        terminated = isinstance(interruption, _Terminated)
        warn("terminated" if terminated else "interrupted")
        raise typer.Exit(ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED) from None
    except BrokenPipeError:  # `aescull score | head`: the reader left; that is not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # silence the final flush
        raise typer.Exit(ExitCode.OK) from None
    except Exception as error:
        if debug:
            import traceback

            traceback.print_exc()
        else:
            warn(f"error: {error} (run with --debug for the traceback)")
        raise typer.Exit(ExitCode.CRASH) from None
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
