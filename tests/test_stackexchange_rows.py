"""The fast row splitter (`xmlrows._rows_frame`) against lxml (`_parse_lines`), row by row.

The fast path must either give exactly lxml's attributes or refuse the chunk (``ValueError``), so
that the line-by-line path can name the bad line; it may never return something different.
"""

from __future__ import annotations

import pytest

from curation.errors import CurationError

from curation.sources.stackexchange.pairs import POST_FIELDS
from curation.sources.stackexchange.xmlrows import (
    MAX_FIELDS,
    ParseStats,
    _parse_body,
    _parse_lines,
    _rows_frame,
    iter_row_frames,
)

FIELDS = ["Id", "PostTypeId", "Title", "Body", "Score"]


def _lxml(body: bytes, fields=FIELDS):
    return _parse_lines(body, fields, "Posts.xml", 0, 1, ParseStats(), False)


def _body(posts_xml: bytes) -> bytes:
    start = posts_xml.index(b"<posts>") + len(b"<posts>")
    return posts_xml[start : posts_xml.rindex(b"</posts>")].lstrip(b"\r\n")


@pytest.mark.parametrize("site", ["cardano.stackexchange.com", "coffee.stackexchange.com",
                                  "datascience.meta.stackexchange.com",
                                  "variants/ai.stackexchange.com-reserialized",
                                  "variants/history.meta.stackexchange.com-doctype"])  # fmt: skip
def test_real_dumps_split_exactly_as_lxml_reads_them(shared_data, site):
    body = _body((shared_data / "stackexchange" / site / "Posts.xml").read_bytes())
    fast = _rows_frame(body, POST_FIELDS)
    assert fast.height > 500
    assert fast.equals(_lxml(body, POST_FIELDS))


def test_quirks_of_real_rows_are_read_exactly_by_the_fast_path():
    body = (
        b'  <row Id="1" PostTypeId="1" Title="" Body="&lt;p&gt;a &quot;b&quot;&#xA;" Score="-3" />\r\n'
        b"\n"
        b"   \n"
        b'  <row Id="2" PostTypeId="2" NewAttribute="x" Body="tab&#x9;" Score="0"></row>\n'
        b'\t<row Id="4" PostTypeId="1" Title="no space before the end"/>\n'
    )
    fast = _rows_frame(body, FIELDS)
    assert fast.equals(_lxml(body))
    assert fast.rows() == [
        ("1", "1", "", "&lt;p&gt;a &quot;b&quot;&#xA;", "-3"),
        ("2", "2", None, "tab&#x9;", "0"),
        ("4", "1", "no space before the end", None, None),
    ]


def test_unusual_white_space_between_attributes_takes_the_exact_slow_path():
    body = b'<row Id="3"  PostTypeId="2"\tBody="two spaces, then a tab" />\n'
    stats = ParseStats()
    frame = _parse_body(body, FIELDS, "Posts.xml", 0, 1, stats, False)
    assert stats.slow_chunks == 1
    assert frame.rows() == [("3", "2", None, "two spaces, then a tab", None)]


@pytest.mark.parametrize(
    "line",
    [
        b"  <row Id='1' PostTypeId='1' />\n",  # single quotes: valid XML, lxml's job
        b'  <row Id="1" PostTypeId="1">\n',  # not closed
        b'  <rowx Id="1" />\n',
        b'  <row Id="1" Bad Name="2" />\n',
        b"</posts>\n",
        b'  <row Id="1" Body="a" /> trailing\n',
        b"  <row " + b" ".join(b'A%d="%d"' % (i, i) for i in range(MAX_FIELDS)) + b" />\n",
    ],
)
def test_anything_but_a_clean_row_is_refused_by_the_fast_path(line):
    body = b'  <row Id="1" PostTypeId="1" />\n' + line
    with pytest.raises(ValueError):
        _rows_frame(body, FIELDS)


def test_the_first_error_in_file_order_wins_over_a_later_truncation():
    """Chunks parse in parallel, but errors come out as if they were parsed one after another."""
    good = b'  <row Id="1" PostTypeId="1" Body="x" />\n' * 2000
    chunks = [b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<posts>\n", good, b'  <row Id="2" Score="oops />\n', good, good]
    with pytest.raises(Exception) as info:  # the file is also truncated (no </posts>)
        list(iter_row_frames(iter(chunks), fields=FIELDS, root="posts", label="Posts.xml", stats=ParseStats(),
                             threads=2))  # fmt: skip
    assert "line 2003" in str(info.value)  # declaration, <posts>, 2,000 good rows, then the bad one
    assert "truncated" not in str(info.value)


def test_rows_after_the_closing_tag_are_an_error_naming_their_line():
    rows = b'  <row Id="1" PostTypeId="1" />\n' * 3
    chunks = [b'<?xml version="1.0"?>\n<posts>\n' + rows + b'</posts>\n  <row Id="9" PostTypeId="1" />\n']
    with pytest.raises(CurationError) as info:
        list(iter_row_frames(iter(chunks), fields=FIELDS, root="posts", label="Posts.xml", stats=ParseStats()))
    assert str(info.value) == "Posts.xml (line 7): data after the closing tag"  # the row after </posts>
