"""Cutting one big uncompressed dump file into byte ranges at row boundaries: one file, many tasks.

A Stack Exchange table holds one ``<row …/>`` per line (values escape ``<`` and newlines), so a
line that starts with ``<row`` (after indentation) starts a row; an NDJSON file holds one object
per line. A cut goes at the start of the first such line at or after each multiple of the target
size. The ranges then tile the file, each holds whole rows, and finding a cut reads a few
kilobytes around it, never the file: a 20 GB ``Posts.xml`` becomes ~160 tasks of 128 MiB whose
boundaries are known before any task starts. Nothing here needs Ray.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from curation.errors import CurationError

#: Default bytes per range: big enough that a task's fixed cost is noise, small enough to spread.
RANGE_BYTES = 128 * 1024 * 1024
#: Start of an XML row line (after indentation); ``None`` means every line is a row (NDJSON).
XML_ROW = b"<row"
_WINDOW = 256 * 1024
_PEEK = 64
_INDENT = b" \t"


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``[start, end)`` of ``path``: range ``index`` of ``count`` that tile the file."""

    path: Path
    start: int
    end: int
    index: int
    count: int

    @property
    def head(self) -> bool:
        """The range starts at the file's start (it holds the prologue)."""
        return self.index == 0

    @property
    def tail(self) -> bool:
        """The range runs to the file's end (it holds the closing tag)."""
        return self.index == self.count - 1

    @property
    def size(self) -> int:
        return self.end - self.start


def row_ranges(
    path: str | Path, target_bytes: int = RANGE_BYTES, *, row_start: bytes | None = XML_ROW
) -> list[ByteRange]:
    """Cut ``path`` into ranges of about ``target_bytes``, each starting at a row's line.

    ``row_start``: what a row's line starts with after indentation (``XML_ROW``), or ``None``
    when every line is a row (NDJSON). A file without such lines past the first target is one range.
    """
    path = Path(path)
    if target_bytes < 1:
        raise ValueError(f"target_bytes must be positive, got {target_bytes}")
    try:
        size = os.stat(path).st_size
        cuts = [0]
        with open(path, "rb") as handle:
            at = target_bytes
            while at < size:
                cut = _next_row_line(handle, at, size, row_start)
                if cut is None:
                    break
                cuts.append(cut)
                at = cut + target_bytes
    except OSError as exc:
        raise CurationError(f"cannot read: {exc.strerror}", path=path) from None
    bounds = [*cuts, size]
    count = len(cuts)
    return [ByteRange(path, bounds[i], bounds[i + 1], i, count) for i in range(count)]


def _next_row_line(handle, at: int, size: int, row_start: bytes | None) -> int | None:
    """Offset of the first row line starting at or after ``at`` (just after a newline), or None."""
    pos = at - 1  # a newline at at-1 puts a line start exactly at ``at``
    while pos < size:
        handle.seek(pos)
        block = handle.read(_WINDOW + _PEEK)
        full = len(block) == _WINDOW + _PEEK
        limit = _WINDOW if full else len(block)  # newlines past the window are judged from the next one
        nl = block.find(b"\n", 0, limit)
        while nl >= 0:
            line = pos + nl + 1
            if line >= size:
                return None
            if row_start is None or block[nl + 1 : nl + 1 + _PEEK].lstrip(_INDENT).startswith(row_start):
                return line
            nl = block.find(b"\n", nl + 1, limit)
        if not full:
            return None
        pos += _WINDOW
    return None


def read_range(path: str | Path, start: int, end: int, chunk_bytes: int = 32 * 1024 * 1024) -> Iterator[bytes]:
    """Yield the bytes ``[start, end)`` of ``path`` in chunks of about ``chunk_bytes``."""
    try:
        with open(path, "rb", buffering=0) as handle:
            handle.seek(start)
            left = end - start
            while left > 0:
                chunk = handle.read(min(chunk_bytes, left))
                if not chunk:
                    raise CurationError(f"file shrank while reading: ends before byte {end:,}", path=path)
                left -= len(chunk)
                yield chunk
    except OSError as exc:
        raise CurationError(f"cannot read: {exc.strerror}", path=path) from None


def line_number_at(path: str | Path, offset: int, chunk_bytes: int = 32 * 1024 * 1024) -> int:
    """1-based line number of the byte at ``offset`` (counts newlines before it; for error messages)."""
    return 1 + sum(chunk.count(b"\n") for chunk in read_range(path, 0, offset, chunk_bytes))
