"""Columnar parsing of Stack Exchange dump tables (`<row Name="value" … />` per line).

A dump row is a flat list of attributes whose values never hold a raw ``"`` (it is escaped as
``&quot;``), so a whole chunk of rows becomes NDJSON with a handful of C-speed ``bytes.replace``
passes, and Polars' NDJSON reader builds the columns. Text values are XML-decoded afterwards with one
multi-pattern replace. No Python code runs per row on this path.

Rows the fast path cannot take (a value that starts with a space or ends with ``=``, stray lines,
broken rows) make the whole chunk fall back to a per-line path: valid rows are read with lxml,
broken ones raise a `CurationError` naming the line, or are skipped and counted on request.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
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


def xml_unescape(expr: pl.Expr) -> pl.Expr:
    """Decode XML entities of an attribute value column (one pass; rare numeric refs by fallback)."""
    return expr.map_batches(_slow_unescape, return_dtype=pl.String)


def _slow_unescape(values: pl.Series) -> pl.Series:
    mask = values.str.contains(_OTHER_NUMERIC_REF).fill_null(False)
    out = values.str.replace_many(_ENTITIES, _DECODED)
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
) -> Iterator[pl.DataFrame]:
    """Turn a dump table's byte chunks into DataFrames of raw (still XML-escaped) string columns.

    ``fields`` are the attribute names to keep (absent ones come out null), ``root`` the document
    element (``posts``, ``users``), ``label`` names the file in errors.

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
        buf = carry + piece if carry else piece
        if not started:
            start = _body_start(buf, root, label)
            if start is None:  # prologue not complete yet
                carry = buf
                continue
            line += buf.count(b"\n", 0, start)
            offset += start
            closed = buf[start - 2 : start] == b"/>"  # <posts/>: an empty table
            buf = buf[start:]
            started = True
        cut = buf.rfind(b"\n")
        if cut < 0:
            carry = buf
            continue
        body, carry = buf[: cut + 1], buf[cut + 1 :]
        newlines = body.count(b"\n")
        if closed:
            _expect_nothing_after_close(body, label, offset, line)
        else:
            if tail:
                body, closed = _strip_close(body, close_tag)
            if body:
                yield _parse_body(body, fields, label, offset, line, stats, skip_malformed)
        stats.bytes += cut + 1
        offset += cut + 1
        line += newlines
    if not started:
        raise CurationError(f"no <{root}> element: not a Stack Exchange {root.title()}.xml", path=label)
    if not closed:
        body, closed = _strip_close(carry, close_tag) if tail else (carry, False)
        if not closed and tail:
            raise CurationError(
                f"file ends at byte {offset + len(carry):,} (line {line}) before </{root}>: truncated?",
                path=label,
                position=f"byte {offset + len(carry):,}",
            )
        if body.strip():
            yield _parse_body(body, fields, label, offset, line, stats, skip_malformed)
    else:
        _expect_nothing_after_close(carry, label, offset, line)
    stats.bytes += len(carry)


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


def _strip_close(body: bytes, close_tag: bytes) -> tuple[bytes, bool]:
    at = body.rfind(close_tag)
    if at < 0:
        return body, False
    return body[:at], True


def _expect_nothing_after_close(rest: bytes, label: str, offset: int, line: int) -> None:
    if rest.strip():
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
    expected = body.count(b"<row ")
    try:
        frame = _rows_frame(body, fields)
        if frame.height == expected:  # a stray line is either invalid JSON or one row too many
            stats.rows += frame.height
            return frame
    except Exception:
        pass
    return _parse_lines(body, fields, label, offset, line, stats, skip_malformed)


#: Row markup -> JSON, in one multi-pattern pass. ``leftmost`` makes the longer `` />`` win over
#: ``" `` at the same position; values never hold a raw ``"``, so these only ever match markup.
_MARKUP = ["\\", "\t", "<row ", '" />', '"/>', '" ></row>', '"></row>', '="', '" ']
_JSON = ["\\\\", "\\t", '{"', '"}', '"}', '"}', '"}', '":"', '","']


def _rows_frame(body: bytes, fields: list[str]) -> pl.DataFrame:
    """A chunk of row lines -> a frame of the wanted attributes (strings, still XML-escaped).

    The lines become one string column (the CSV reader with a separator and quote that XML
    text cannot hold), one ``replace_many`` turns each row into a JSON object, and Polars decodes
    the objects into a struct; all three run in Rust, in parallel over the column's chunks.
    """
    lines = pl.read_csv(body, separator="\x01", quote_char=None, has_header=False, new_columns=["row"],
                        schema={"row": pl.String})  # fmt: skip
    dtype = pl.Struct({f: pl.String for f in fields})
    return (
        lines.lazy()
        .filter(pl.col("row").str.strip_chars() != "")
        .select(pl.col("row").str.replace_many(_MARKUP, _JSON, leftmost=True).str.json_decode(dtype).struct.unnest())
        .collect()
    )


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
    stats.slow_chunks += 1
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
            if not _ROW_LINE.match(raw):
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
            stats.malformed += 1
            continue
        records.append(record)
    stats.rows += len(records)
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
