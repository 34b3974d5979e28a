"""Parsing of Stack Exchange dump tables (`<row Name="value" … />` per line) into columns.

The file is cut into chunks of whole row lines (`_row_bodies`), and the chunks are parsed two or
more at a time, in order (`iter_row_frames`). Each chunk goes through the compiled scan of
`rowscan`, which yields the wanted attributes, XML-decoded, as String columns: no Python code runs
per row on this path.

Rows the fast path cannot take (unusual white space between attributes, single quotes, stray lines,
broken rows) make the whole chunk fall back to a per-line path: valid rows are read with lxml,
broken ones raise a `CurationError` naming the line, or are skipped and counted on request.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import polars as pl
from lxml import etree

from curation.errors import CurationError
from curation.sources.lines import count_newlines
from curation.sources.stackexchange.rowscan import rows_frame

_BOM = b"\xef\xbb\xbf"


@dataclass
class ParseStats:
    """What one table's parse saw: rows read, malformed rows skipped, bytes consumed, and how many
    chunks needed the slow line-by-line path (0 on a clean dump: the fast path took everything)."""

    rows: int = 0
    malformed: int = 0
    bytes: int = 0
    slow_chunks: int = 0

    def add(self, **counts: int) -> None:
        """Add to the counts; safe from the parse threads of `iter_row_frames`."""
        with _STATS_LOCK:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


_STATS_LOCK = threading.Lock()
#: Chunks parsed at once: each chunk's Polars work is partly single-threaded, so two chunks in
#: flight keep two cores busy.
PARSE_THREADS = max(2, min(4, os.cpu_count() or 2))


def iter_row_frames(
    chunks: Iterable[bytes],
    *,
    fields: list[str],
    root: str,
    label: str,
    stats: ParseStats,
    skip_malformed: bool = False,
    head: bool = True,
    tail: bool = True,
    offset: int = 0,
    line: int = 1,
    convert: Callable[[pl.DataFrame], object] | None = None,
    threads: int = PARSE_THREADS,
    types: dict[str, str] | None = None,
) -> Iterator:
    """Turn a dump table's byte chunks into DataFrames of String columns (XML-decoded attribute values).

    ``fields`` are the attribute names to keep (absent ones come out null); ``types`` names those
    the fast path may hand over typed (see `rowscan.rows_frame`: a chunk that takes the line-by-line
    path gives text, so ``convert`` must accept both). ``root`` the document
    element (``posts``, ``users``), ``label`` names the file in errors. ``convert``, if given, runs
    on each frame in the parse thread and its result is yielded instead.

    Up to ``threads`` chunks are parsed at once; results come out in file order, and the first
    error in file order is the one raised, as if the chunks were parsed one after another.
    A byte range of the file parses on its own: see `_row_bodies` for ``head``, ``tail``,
    ``offset`` and ``line``.
    """

    def work(job: tuple[bytes, int, int, int | None]):
        body, at, first_line, newlines = job
        frame = _parse_body(body, fields, label, at, first_line, stats, skip_malformed, newlines, types)
        return convert(frame) if convert is not None else frame

    bodies = _row_bodies(chunks, root=root, label=label, stats=stats, head=head, tail=tail, offset=offset, line=line)
    if threads <= 1:
        yield from map(work, bodies)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="xmlrows") as pool:
        pending: deque = deque()
        error: BaseException | None = None
        try:
            while True:
                try:
                    job = next(bodies)
                except StopIteration:
                    break
                except BaseException as exc:  # an earlier chunk's own error must come first
                    error = exc
                    break
                pending.append(pool.submit(work, job))
                if len(pending) > threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
    if error is not None:
        raise error


def _row_bodies(
    chunks: Iterable[bytes],
    *,
    root: str,
    label: str,
    stats: ParseStats,
    head: bool,
    tail: bool,
    offset: int,
    line: int,
) -> Iterator[tuple[bytes, int, int, int | None]]:
    """Cut a table's byte chunks into bodies of whole row lines: ``(body, byte offset, first line,
    at least as many line ends as the body has (None: not counted))``.

    A byte range of the file (cut at row boundaries, see `curation.engines.byte_ranges`) parses on
    its own: ``head=False`` when it does not start at the file's start (no prologue to find),
    ``tail=False`` when it does not run to the file's end (no closing tag to look for: a line
    holding one is not a row, like any stray line), ``offset`` and ``line`` the byte offset and line
    number it starts at.
    """
    close_tag = f"</{root}>".encode()
    carry = b""
    # offset: byte offset of ``carry`` within the member; line: line number of ``carry``'s first line
    started = not head
    closed = False
    for piece in chunks:
        if not started:
            buf = carry + piece if carry else piece
            start = _body_start(buf, root, label)
            if start is None:  # prologue not complete yet
                carry = buf
                continue
            line += buf.count(b"\n", 0, start)
            offset += start
            closed = buf[start - 2 : start] == b"/>"  # <posts/>: an empty table
            piece, carry = buf[start:], b""
            started = True
        cut = piece.rfind(b"\n")
        if cut < 0:
            carry += piece
            continue
        # one copy at most: the carried partial line joined to this piece's whole lines
        body = piece if not carry and cut + 1 == len(piece) else b"".join((carry, memoryview(piece)[: cut + 1]))
        carry = piece[cut + 1 :]
        size, newlines = len(body), count_newlines(body)
        if closed:
            _expect_nothing_after_close(body, label, offset, line)
        else:
            if tail:
                body, closed = _strip_close(body, close_tag, label, offset, line)
            if body:
                yield body, offset, line, newlines
        stats.add(bytes=size)
        offset += size
        line += newlines
    if not started:
        raise CurationError(f"no <{root}> element: not a Stack Exchange {root.title()}.xml", path=label)
    if not closed:
        body, closed = _strip_close(carry, close_tag, label, offset, line) if tail else (carry, False)
        if not closed and tail:
            raise CurationError(
                f"file ends at byte {offset + len(carry):,} (line {line}) before </{root}>: truncated?",
                path=label,
                position=f"byte {offset + len(carry):,}",
            )
        if body.strip():
            yield body, offset, line, None
    else:
        _expect_nothing_after_close(carry, label, offset, line)
    stats.add(bytes=len(carry))


def _body_start(buf: bytes, root: str, label: str) -> int | None:
    """Index just after the root start tag, or None if more bytes are needed."""
    tag = b"<" + root.encode()
    at = 0
    while True:
        at = buf.find(tag, at)
        if at < 0:
            if len(buf) > 4 * 1024 * 1024 or b"<row" in buf:
                raise CurationError(f"no <{root}> element: not a Stack Exchange {root.title()}.xml", path=label)
            return None
        after = buf[at + len(tag) : at + len(tag) + 1]
        if after in (b">", b" ", b"\t", b"\r", b"\n", b"/"):
            break
        at += len(tag)
    end = buf.find(b">", at)
    if end < 0:
        return None
    return end + 1


#: The closing tag is looked for only this near the end of a chunk: it ends the file, so anywhere
#: earlier it is followed by more lines, which the line-by-line path reports.
_CLOSE_WINDOW = 64 * 1024


def _strip_close(body: bytes, close_tag: bytes, label: str, offset: int, line: int) -> tuple[bytes, bool]:
    """``body`` without the closing tag, and whether it held it (only white space may follow it)."""
    at = body.rfind(close_tag, max(0, len(body) - _CLOSE_WINDOW))
    if at < 0:
        return body, False
    before = body[:at]
    _expect_nothing_after_close(body[at + len(close_tag) :], label, offset, line + before.count(b"\n"))
    return before, True


def _expect_nothing_after_close(rest: bytes, label: str, offset: int, line: int) -> None:
    """Only white space may follow the closing tag; ``line`` is where ``rest`` starts."""
    if rest.strip():
        line += rest[: len(rest) - len(rest.lstrip())].count(b"\n")  # the line the data is on
        raise CurationError("data after the closing tag", path=label, position=f"line {line}")


def _parse_body(
    body: bytes,
    fields: list[str],
    label: str,
    offset: int,
    line: int,
    stats: ParseStats,
    skip_malformed: bool,
    newlines: int | None = None,
    types: dict[str, str] | None = None,
) -> pl.DataFrame:
    try:
        frame = rows_frame(body, fields, newlines, types)
    except Exception:  # anything but clean rows: the line-by-line path finds and names the line
        pass
    else:
        stats.add(rows=frame.height)
        return frame
    return _parse_lines(body, fields, label, offset, line, stats, skip_malformed)


_ROW_LINE = re.compile(rb"^\s*<row\s.*(/>|></row>)\s*$", re.S)


def _parse_lines(
    body: bytes,
    fields: list[str],
    label: str,
    offset: int,
    line: int,
    stats: ParseStats,
    skip_malformed: bool,
) -> pl.DataFrame:
    """Slow, exact path for a chunk the fast path refused: one line at a time, errors by line."""
    stats.add(slow_chunks=1)
    records: list[dict] = []
    wanted = set(fields)
    for number, raw in enumerate(body.split(b"\n"), start=line):
        if not raw.strip():
            continue
        problem = None
        record = None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"invalid UTF-8 at byte {offset + _line_offset(body, number - line) + exc.start:,}"
        else:
            if raw.strip().startswith(b"</"):
                problem = "a closing tag before the end of the rows"
            elif not _ROW_LINE.match(raw):
                problem = "not a <row … /> element"
            else:
                try:
                    element = etree.fromstring(text.strip().encode())
                    record = {k: v for k, v in element.attrib.items() if k in wanted}
                except etree.XMLSyntaxError as exc:
                    problem = f"malformed row ({exc.msg})"
        if problem is not None:
            if not skip_malformed:
                raise CurationError(problem, path=label, position=f"line {number}")
            stats.add(malformed=1)
            continue
        records.append(record)
    stats.add(rows=len(records))
    schema = {f: pl.String for f in fields}
    if not records:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(records, schema=schema)


def _line_offset(body: bytes, index: int) -> int:
    at = 0
    for _ in range(index):
        at = body.index(b"\n", at) + 1
    return at
