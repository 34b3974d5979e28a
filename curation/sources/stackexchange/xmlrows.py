"""Columnar parsing of Stack Exchange dump tables (`<row Name="value" … />` per line).

A dump row is a flat list of attributes whose values never hold a raw ``"`` (it is escaped as
``&quot;``), so Polars' CSV reader with ``"`` as its separator splits every line into names and
values, in Rust and on every core; each wanted attribute is then gathered from the field after its
name (`_rows_frame`). Text values are XML-decoded afterwards with one multi-pattern replace. No
Python code runs per row on this path, and chunks are parsed two or more at a time.

Rows the fast path cannot take (unusual white space between attributes, single quotes, stray lines,
broken rows) make the whole chunk fall back to a per-line path: valid rows are read with lxml,
broken ones raise a `CurationError` naming the line, or are skipped and counted on request.
"""

from __future__ import annotations

import html
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

#: XML's predefined entities plus the character references dumps use for whitespace.
_ENTITIES = ["&lt;", "&gt;", "&quot;", "&#xA;", "&#xD;", "&#x9;", "&apos;", "&amp;"]
_DECODED = ["<", ">", '"', "\n", "\r", "\t", "'", "&"]
#: Any other numeric character reference (rare): decoded by the slow path, only where present.
_OTHER_NUMERIC_REF = r"&#(?:[0-9]+|x[0-9A-Fa-f]{2,}|x[0-8B-CE-Fb-ce-f]);"

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


def xml_unescape(expr: pl.Expr) -> pl.Expr:
    """Decode XML entities of an attribute value column (one pass; rare numeric refs by fallback)."""
    return expr.map_batches(_slow_unescape, return_dtype=pl.String)


def _slow_unescape(values: pl.Series) -> pl.Series:
    out = values.str.replace_many(_ENTITIES, _DECODED)
    # any other numeric reference leaves a "&#" behind (so does a decoded "&amp;#": the regex decides)
    maybe = out.str.contains("&#", literal=True).fill_null(False)
    if not maybe.any():
        return out
    mask = maybe & values.str.contains(_OTHER_NUMERIC_REF).fill_null(False)
    if not mask.any():
        return out
    idx = mask.arg_true()
    fixed = [_unescape_one(v) for v in values.gather(idx).to_list()]
    return out.scatter(idx, pl.Series(fixed, dtype=pl.String))


def _unescape_one(value: str | None) -> str | None:
    # XML attribute values only carry the five named entities and numeric references,
    # all of which html.unescape decodes exactly as an XML parser would.
    return None if value is None else html.unescape(value)


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
) -> Iterator:
    """Turn a dump table's byte chunks into DataFrames of raw (still XML-escaped) string columns.

    ``fields`` are the attribute names to keep (absent ones come out null), ``root`` the document
    element (``posts``, ``users``), ``label`` names the file in errors. ``convert``, if given, runs
    on each frame in the parse thread and its result is yielded instead.

    Up to ``threads`` chunks are parsed at once; results come out in file order, and the first
    error in file order is the one raised, as if the chunks were parsed one after another.
    A byte range of the file parses on its own: see `_row_bodies` for ``head``, ``tail``,
    ``offset`` and ``line``.
    """

    def work(job: tuple[bytes, int, int]):
        body, at, first_line = job
        frame = _parse_body(body, fields, label, at, first_line, stats, skip_malformed)
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
) -> Iterator[tuple[bytes, int, int]]:
    """Cut a table's byte chunks into bodies of whole row lines: ``(body, byte offset, first line)``.

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
        size, newlines = len(body), body.count(b"\n")
        if closed:
            _expect_nothing_after_close(body, label, offset, line)
        else:
            if tail:
                body, closed = _strip_close(body, close_tag, label, offset, line)
            if body:
                yield body, offset, line
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
            yield body, offset, line
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
) -> pl.DataFrame:
    try:
        frame = _rows_frame(body, fields)
    except Exception:  # anything but clean rows: the line-by-line path finds and names the line
        pass
    else:
        stats.add(rows=frame.height)
        return frame
    return _parse_lines(body, fields, label, offset, line, stats, skip_malformed)


#: The most fields a row line may split into (``2 × attributes + 1``); a longer row takes the slow path.
MAX_FIELDS = 64
_COLUMNS = [f"f{i}" for i in range(MAX_FIELDS)]
#: An attribute name as the split leaves it: one space before it, ``=`` after it.
_NAME = re.compile(r" [A-Za-z_:][-A-Za-z0-9_.:]*=")
_TAILS = ("/>", "></row>")


def _rows_frame(body: bytes, fields: list[str]) -> pl.DataFrame:
    """A chunk of row lines -> a frame of the wanted attributes (strings, still XML-escaped).

    An attribute value never holds a raw ``"``, so splitting each line on ``"`` (Polars' CSV
    reader with ``"`` as the separator and no quoting) lays a row out as
    ``<row Name=`` · value · `` Name=`` · value · … · `` />``: names at even fields, values at odd
    ones. Each name becomes a small integer code, and each wanted attribute is gathered from the
    field after its name. All of it runs in Rust over whole columns, on every core.

    Raises ``ValueError`` for anything that is not a clean row (the caller then takes the
    line-by-line path, which names the line).
    """
    split = pl.read_csv(
        body, separator='"', quote_char=None, has_header=False, truncate_ragged_lines=True,
        schema=dict.fromkeys(_COLUMNS, pl.String), missing_columns="insert", empty_string_is_null=False,
    )  # fmt: skip
    last = split.get_column(_COLUMNS[-1])
    if (last != "").any():
        raise ValueError("row with more fields than MAX_FIELDS")
    first = split.get_column("f0")
    blank = (first.str.strip_chars() == "") & (split.get_column("f1") == "") & (split.get_column("f2") == "")
    if blank.any():
        split = split.filter(~blank)
        first = split.get_column("f0")
    if not first.str.contains(r"^\s*<row\s").all():
        raise ValueError("a line that is not a row")
    height = split.height
    code_of = {f" {name}=": i for i, name in enumerate(fields)}
    # even fields: names (the first one after "<row"), until the first that is not a name: the tail
    names = [first.str.replace(r"^\s*<row\s+", " ")] + [split.get_column(c) for c in _COLUMNS[2::2]]
    codes = pl.DataFrame(
        [n.replace_strict(code_of, default=None, return_dtype=pl.Int16).alias(str(k)) for k, n in enumerate(names)]
    )
    is_name = pl.DataFrame([n.str.ends_with("=").alias(str(k)) for k, n in enumerate(names)])
    tail_at = is_name.select(
        pl.coalesce([pl.when(~pl.col(str(k))).then(k) for k in range(len(names))]).alias("t")
    ).get_column("t")
    if tail_at.is_null().any() or (tail_at == 0).any():
        raise ValueError("not a row line")
    # names long: position k of row r at k * height + r
    names_long = pl.concat(names, rechunk=True)
    rows = pl.int_range(0, height, eager=True, dtype=pl.Int64)
    tail = names_long.gather(tail_at.cast(pl.Int64) * height + rows).str.strip_chars()
    if not tail.is_in(_TAILS).all():
        raise ValueError("row does not end with /> or ></row>")
    unknown = [names[k].filter(codes.get_column(str(k)).is_null() & (tail_at > k)) for k in range(len(names))]
    for name in pl.concat(unknown).unique().to_list():  # attributes we do not keep: few distinct names
        if not _NAME.fullmatch(name):
            raise ValueError(f"not an attribute name: {name!r}")
    values_long = pl.concat([split.get_column(c) for c in _COLUMNS[1::2]], rechunk=True)
    at = codes.select(
        pl.coalesce([pl.when(pl.col(str(k)) == i).then(k) for k in range(len(names) - 1)]).alias(name)
        for i, name in enumerate(fields)
    )
    return pl.DataFrame([values_long.gather(at.get_column(name).cast(pl.Int64) * height + rows).alias(name)
                         for name in fields])  # fmt: skip


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
                    record = {k: _xml_escape_back(v) for k, v in element.attrib.items() if k in wanted}
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


def _xml_escape_back(value: str) -> str:
    """lxml hands back decoded values; re-escape so both paths feed `xml_unescape` the same text."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#xA;")
        .replace("\r", "&#xD;")
        .replace("\t", "&#x9;")
    )
