"""One error type for bad user input, so the CLI can print one clear line and exit non-zero."""

from __future__ import annotations


class CurationError(Exception):
    """A user's bad input: names the file, the position and what is wrong.

    The CLI prints ``str(error)`` as a single line and exits with status 2; library
    callers can catch it. ``path`` and ``position`` are kept for programmatic use.
    """

    def __init__(self, message: str, *, path: object | None = None, position: str | None = None):
        self.path = None if path is None else str(path)
        self.position = position
        where = ""
        if self.path:
            where = self.path + (f" ({position})" if position else "") + ": "
        super().__init__(where + message)
