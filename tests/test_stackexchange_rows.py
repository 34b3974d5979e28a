"""The compiled row scan (`rowscan.rows_frame`) against lxml (`xmlrows._parse_lines`), row by row.

The fast path must either give exactly lxml's attributes or refuse the chunk (``ValueError``), so
that the line-by-line path can name the bad line; it may never return something different.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import polars as pl
import pytest

from curation.errors import CurationError

from curation.sources.stackexchange.pairs import _DATE, POST_FIELDS, POST_TYPES, _typed_posts
from curation.sources.stackexchange.rowscan import rows_frame
from curation.sources.stackexchange.streams import Member, read_chunks
from curation.sources.stackexchange.xmlrows import ParseStats, _parse_body, _parse_lines, iter_row_frames

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
    fast = rows_frame(body, POST_FIELDS)
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
    fast = rows_frame(body, FIELDS)
    assert fast.equals(_lxml(body))
    assert fast.rows() == [
        ("1", "1", "", '<p>a "b"\n', "-3"),
        ("2", "2", None, "tab\t", "0"),
        ("4", "1", "no space before the end", None, None),
    ]


def test_every_kind_of_reference_and_raw_white_space_is_decoded_as_lxml_does():
    body = (
        '  <row Id="1" Title="&amp;lt; stays &amp;#65; &apos;q&apos; &#65;&#x42;" '
        'Body="caf\u00e9 &#233;&#xE9; &#x1F600;&#128512; raw\ttab raw\rcr &#xD;&#13;&#x9;&#10; &gt;&lt;" />\n'
    ).encode()
    fast = rows_frame(body, FIELDS)
    assert fast.equals(_lxml(body))
    assert fast.row(0)[2:4] == (
        "&lt; stays &#65; 'q' AB",
        "caf\u00e9 \u00e9\u00e9 \U0001F600\U0001F600 raw tab raw cr \r\r\t\n ><",
    )


def test_an_unknown_attribute_type_is_an_error():
    with pytest.raises(TypeError, match="unknown attribute types \\['float'\\]"):
        rows_frame(b'<row Id="1" />\n', ["Id"], types={"Id": "float"})


def test_many_attributes_are_fine_and_so_are_rows_without_any():
    many = b"  <row " + b" ".join(b'A%d="%d"' % (i, i) for i in range(60)) + b' Id="7" PostTypeId="1" />\n'
    body = many + b"  <row />\n"
    assert rows_frame(body, FIELDS).equals(_lxml(body))


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
        b'  <row Id="1" Id="2" />\n',  # a repeated attribute: not well-formed
        b'  <row Id="1" Other="a" Other="b" />\n',  # also when we do not keep it
        b'  <row Id="1" Body="a < b" />\n',  # raw "<" in a value
        b'  <row Id="1" Body="AT&amp;T &T" />\n',  # "&" that starts no reference
        b'  <row Id="1" Body="&nbsp;" />\n',  # no DTD: only the five named entities
        b'  <row Id="1" Body="&#X41;" />\n',  # XML's hexadecimal references take a lowercase x
        b'  <row Id="1" Body="&#0; &#xD800;" />\n',  # characters XML does not allow
        b'  <row Id="1" Body="\x01" />\n',
        b'  <row Id="1" Body="\xc3\x28" />\n',  # invalid UTF-8
        b'  <row Id="1" Body="\xe0\x80\x80" />\n',  # overlong UTF-8
        b"  <row " + b" ".join(b'A%d="%d"' % (i, i) for i in range(70)) + b" />\n",  # past the row's room
        b'  <row Id="1" Body="' + b"x" * 45 + b"<" + b"y" * 45 + b'" />\n',  # found by the 8-byte skip too
        b'  <row Id="1" Body="' + b"x" * 45 + b"\x01" + b"y" * 45 + b'" />\n',  # and by the 8-byte copy
    ],
)
def test_anything_but_a_clean_row_is_refused_by_the_fast_path(line):
    body = b'  <row Id="1" PostTypeId="1" />\n' + line
    with pytest.raises(ValueError):
        rows_frame(body, FIELDS)


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


@pytest.mark.parametrize("site", ["cardano.stackexchange.com", "coffee.stackexchange.com",
                                  "variants/ai.stackexchange.com-reserialized"])  # fmt: skip
def test_typed_attributes_of_real_rows_equal_the_cast_of_their_text(shared_data, site):
    body = _body((shared_data / "stackexchange" / site / "Posts.xml").read_bytes())
    typed = rows_frame(body, POST_FIELDS, types=POST_TYPES)
    assert typed.schema["Id"] == pl.Int64 and typed.schema["CreationDate"] == pl.Datetime("us", "UTC")
    slow = _lxml(body, POST_FIELDS)
    assert _typed_posts(typed, "Posts.xml", ParseStats(), False).equals(
        _typed_posts(slow, "Posts.xml", ParseStats(), False)
    )


def test_dates_are_read_exactly_as_polars_parses_their_text():
    rng = random.Random(7)
    stamps = [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(2000, 2, 29), datetime(1970, 1, 1)]
    stamps += [datetime(1, 1, 1) + timedelta(microseconds=rng.randrange(315_537_897_600_000_000)) for _ in range(3000)]
    texts = [f"{s.year:04d}-{s:%m-%dT%H:%M:%S}" + rng.choice(["", f".{s.microsecond // 1000:03d}", f".{s.microsecond:06d}",
                                                          f".{s.microsecond // 100_000}"]) for s in stamps]  # fmt: skip
    body = "".join(f'<row Id="{i}" CreationDate="{t}" />\n' for i, t in enumerate(texts)).encode()
    fast = rows_frame(body, ["Id", "CreationDate"], types={"Id": "int", "CreationDate": "datetime"})["CreationDate"]
    expected = pl.Series(texts).str.to_datetime(_DATE, time_zone="UTC", time_unit="us")
    assert fast.to_list() == expected.to_list()


@pytest.mark.parametrize(
    "attributes",
    [
        'Id="+4"', 'Id=" 5"', 'Id="1.0"', 'Id=""', 'Id="9999999999999999999"',  # Polars' cast decides these
        'CreationDate="2014-1-21T20:26:05"', 'CreationDate="2014-02-29T20:26:05"', 'CreationDate="2016-12-31T23:59:60"',
        'CreationDate="2014-01-21T20:26:05.1234567"', 'CreationDate="2014-01-21T20:26:05."',
        'CreationDate=" 2014-01-21T20:26:05"', 'CreationDate="2014-01-21 20:26:05"',
    ],
)
def test_numbers_and_dates_that_are_not_plain_are_left_to_the_cast_of_their_text(attributes):
    body = f'  <row Id="1" CreationDate="2014-01-21T20:26:05.383" />\n  <row PostTypeId="1" {attributes} />\n'.encode()
    with pytest.raises(ValueError):
        rows_frame(body, POST_FIELDS, types=POST_TYPES)
    rows_frame(body, POST_FIELDS)  # as text they are fine


@pytest.mark.parametrize("chunk_bytes", [1, 7, 1000, 2**20])
def test_plain_files_are_read_in_chunks_that_end_at_line_ends(tmp_path, chunk_bytes):
    lines = [b"<?xml?>\n", b"<posts>\n", b'  <row Id="1" Body="' + b"x" * 5000 + b'" />\n', b"\n", b'  <row Id="2" />\n']
    path = tmp_path / "Posts.xml"
    path.write_bytes(b"".join(lines) + b"</posts>")  # no line end after the last line
    chunks = list(read_chunks(Member(path), chunk_bytes))
    assert b"".join(chunks) == path.read_bytes()
    assert all(chunk.endswith(b"\n") for chunk in chunks[:-1])  # a line longer than a chunk comes whole
    assert all(len(chunk) <= chunk_bytes + 5030 for chunk in chunks)  # and a chunk grows only by it


@pytest.mark.parametrize("site", ["coffee.stackexchange.com", "variants/ai.stackexchange.com-reserialized"])
def test_the_parse_does_not_depend_on_chunk_sizes_or_threads(shared_data, site):
    path = shared_data / "stackexchange" / site / "Posts.xml"

    def parse(chunk_bytes, threads):
        frames = iter_row_frames(read_chunks(Member(path), chunk_bytes), fields=POST_FIELDS, root="posts",
                                 label=str(path), stats=ParseStats(), types=POST_TYPES, threads=threads)  # fmt: skip
        return pl.concat(list(frames))

    reference = parse(2**23, 2)
    assert reference.height > 500
    for chunk_bytes, threads in ((4096, 2), (65536, 1), (300_000, 4)):
        assert parse(chunk_bytes, threads).equals(reference)
