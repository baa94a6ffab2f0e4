"""Why a change to the library was refused or failed, in words for stderr."""

from __future__ import annotations


class ActionError(RuntimeError):
    """An operation that was refused or failed; the library is left as it was for that file."""


class LibraryLocked(ActionError):
    """Another aescull run holds the library's lock."""


def reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} ({error.filename})" if error.filename else error.strerror
    return str(error)
