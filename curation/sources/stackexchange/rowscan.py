"""The fast path of the dump parser: a compiled scan of `<row Name="value" … />` lines into columns.

A dump table is one row element per line, each a flat list of attributes. Kernels compiled once by
numba (machine code, no Python per row or per byte, the GIL released so chunks parse on every core
at once) do all the work:

1. `_scan` walks the chunk once, checks each line's shape, and records, for every row and every
   wanted attribute, where its value starts and ends in the chunk (``-1``: absent). Attributes
   typed as numbers or dates are parsed on the spot, while their bytes are in the cache.
2. `_decode_column` copies one text attribute's values into one contiguous UTF-8 buffer, decoding
   XML references (the five named entities, decimal and hexadecimal character references) and
   normalising raw tabs and carriage returns to spaces, as an XML parser does in an attribute
   value; it validates UTF-8 as it copies. `_string_views` then describes the values as Arrow
   string views, which Polars takes without another copy.

The kernels accept only well-formed rows of the usual layout. Anything else refuses the whole
chunk (`ValueError`), and the caller parses it line by line with lxml, which names the bad line:
unusual white space between attributes, single quotes, a raw ``<``, ``&`` that starts no
reference, a character XML does not allow, a repeated attribute, invalid UTF-8, a number or date
that is not plain, stray lines. So this path either gives exactly what lxml gives or gives
nothing (tested on every real dump).
"""

from __future__ import annotations

import numba
import numpy as np
import polars as pl
import pyarrow as pa

from curation.sources.lines import count_newlines

_SPACE, _TAB, _CR, _LF = 32, 9, 13, 10
_TEXT, _INT, _DATETIME = 0, 1, 2
_KINDS = {"text": _TEXT, "int": _INT, "datetime": _DATETIME}
#: Attributes a row may carry besides the wanted ones (a row with more takes the line-by-line path).
_MAX_OTHER_ATTRIBUTES = 64
_QUOTE, _LT, _GT, _AMP, _SLASH, _EQ, _SEMI, _HASH = 34, 60, 62, 38, 47, 61, 59, 35


@numba.njit(nogil=True, cache=True)
def _is_space(c) -> bool:
    return c == _SPACE or c == _TAB or c == _CR


@numba.njit(nogil=True, cache=True)
def _is_name_char(c, first: bool) -> bool:
    if (65 <= c <= 90) or (97 <= c <= 122) or c == 95 or c == 58:  # A-Z a-z _ :
        return True
    return not first and ((48 <= c <= 57) or c == 45 or c == 46)  # 0-9 - .


@numba.njit(nogil=True, cache=True)
def _same_bytes(a, at_a, b, at_b, length) -> bool:
    """Whether ``a[at_a:at_a + length]`` equals ``b[at_b:at_b + length]``."""
    for t in range(length):
        if a[at_a + t] != b[at_b + t]:
            return False
    return True


@numba.njit(nogil=True, cache=True)
def _digits(buf, at, count) -> int:
    """The decimal number in ``buf[at:at + count]``, or -1 if any byte is not a digit."""
    value = 0
    for i in range(at, at + count):
        d = buf[i]
        if not 48 <= d <= 57:
            return -1
        value = value * 10 + d - 48
    return value


@numba.njit(nogil=True, cache=True)
def _int_value(buf, s, e) -> tuple[int, bool]:
    """``buf[s:e]`` as an integer, if it is ``-?[0-9]{1,18}`` (what dumps hold): ``(value, ok)``."""
    negative = e > s and buf[s] == 45  # "-"
    if negative:
        s += 1
    value = _digits(buf, s, e - s) if 1 <= e - s <= 18 else -1
    if value < 0:
        return 0, False
    return (-value if negative else value), True


@numba.njit(nogil=True, cache=True)
def _datetime_value(buf, s, e) -> tuple[int, bool]:
    """``buf[s:e]`` as microseconds since 1970 (UTC): ``(value, ok)``.

    Only ``YYYY-MM-DDTHH:MM:SS`` with an optional ``.`` and 1 to 6 digits, a real calendar day
    and a second below 60 is taken (what dumps hold).
    """
    length = e - s
    if length < 19 or length == 20 or length > 26:
        return 0, False
    if buf[s + 4] != 45 or buf[s + 7] != 45 or buf[s + 10] != 84 or buf[s + 13] != 58 or buf[s + 16] != 58:
        return 0, False
    year, month, day = _digits(buf, s, 4), _digits(buf, s + 5, 2), _digits(buf, s + 8, 2)
    hour, minute, second = _digits(buf, s + 11, 2), _digits(buf, s + 14, 2), _digits(buf, s + 17, 2)
    if year < 0 or not 1 <= month <= 12 or not 0 <= hour <= 23 or not 0 <= minute <= 59 or not 0 <= second <= 59:
        return 0, False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    month_days = 29 if month == 2 and leap else (28 if month == 2 else (30 if month in (4, 6, 9, 11) else 31))
    if not 1 <= day <= month_days:
        return 0, False
    micros = 0
    if length > 19:
        if buf[s + 19] != 46:  # "."
            return 0, False
        fraction = _digits(buf, s + 20, length - 20)
        if fraction < 0:
            return 0, False
        micros = fraction * 10 ** (26 - length)
    # days from 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil)
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    return ((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micros, True


_ONES = np.uint64(0x0101010101010101)
_HIGHS = np.uint64(0x8080808080808080)
_QUOTES = np.uint64(0x2222222222222222)
_LTS = np.uint64(0x3C3C3C3C3C3C3C3C)
_LFS = np.uint64(0x0A0A0A0A0A0A0A0A)


@numba.njit(nogil=True, cache=True)
def _has_byte(word, a, b, c) -> bool:
    """Whether any byte of ``word`` is the byte repeated in ``a``, ``b`` or ``c`` (the classic
    "has a zero byte" test on ``word ^ a`` etc.)."""
    x, y, z = word ^ a, word ^ b, word ^ c
    return ((((x - _ONES) & ~x) | ((y - _ONES) & ~y) | ((z - _ONES) & ~z)) & _HIGHS) != 0


_SPACES = np.uint64(0x2020202020202020)
_AMPS = np.uint64(0x2626262626262626)


@numba.njit(nogil=True, cache=True)
def _plain_word(word) -> bool:
    """Whether all eight bytes of ``word`` are ASCII, none below a space and none an ``&``."""
    x = word ^ _AMPS
    return ((word | ((word - _SPACES) & ~word) | ((x - _ONES) & ~x)) & _HIGHS) == 0


@numba.njit(nogil=True, cache=True)
def _scan(buf, words, names, name_ends, kinds, starts, ends, values):
    """Fill ``starts``/``ends`` (fields × rows) with value positions; return ``(rows, bad_line)``.

    ``words`` is ``buf`` seen as 64-bit words: long values are skipped eight bytes at a time.
    Fields of kind `_INT` or `_DATETIME` are parsed into ``values`` on the spot, while their bytes
    are in the cache; a value that is not plain refuses its line like a malformed one.
    ``bad_line`` is -1 when every line is a clean row or blank, else the 0-based index of the
    first line that is not (the caller then refuses the chunk). ``names`` holds the wanted names
    back to back, ``name_ends`` where each one ends in it.
    """
    n = buf.shape[0]
    fields = name_ends.shape[0]
    other_starts = np.empty(_MAX_OTHER_ATTRIBUTES, np.int64)
    other_lengths = np.empty(_MAX_OTHER_ATTRIBUTES, np.int64)
    i = 0
    row = 0
    line = 0
    while i < n:
        j = i
        while j < n and _is_space(buf[j]):
            j += 1
        if j >= n:
            break
        if buf[j] == _LF:  # a blank line
            i = j + 1
            line += 1
            continue
        if j + 5 > n or buf[j] != _LT or buf[j + 1] != 114 or buf[j + 2] != 111 or buf[j + 3] != 119:  # <row
            return row, line
        j += 4
        if not _is_space(buf[j]):
            return row, line
        while j < n and _is_space(buf[j]):
            j += 1
        for f in range(fields):
            starts[f, row] = -1
        others = 0  # attributes of this row that we do not keep
        first = True
        while True:
            if j >= n:
                return row, line
            if not first:  # after a value: the end of the row, or exactly one space and a name
                w = j
                while w < n and _is_space(buf[w]):
                    w += 1
                if w < n and (buf[w] == _SLASH or buf[w] == _GT):
                    j = w
                    break
                if buf[j] != _SPACE or w != j + 1:
                    return row, line
                j = w
            elif buf[j] == _SLASH or buf[j] == _GT:  # <row /> with no attribute
                break
            first = False
            k = j
            if k >= n or not _is_name_char(buf[k], True):
                return row, line
            k += 1
            while k < n and _is_name_char(buf[k], False):
                k += 1
            if k + 1 >= n or buf[k] != _EQ or buf[k + 1] != _QUOTE:
                return row, line
            length = k - j
            field = -1
            begin = 0
            for f in range(fields):
                end = name_ends[f]
                if end - begin == length and _same_bytes(names, begin, buf, j, length):
                    field = f
                    break
                begin = end
            value = k + 2
            e = value
            while e < n:
                if (e & 7) == 0:  # at a word boundary: eight bytes at a time while none is '"', "<" or a line end
                    while e + 8 <= n and not _has_byte(words[e >> 3], _QUOTES, _LTS, _LFS):
                        e += 8
                    if e >= n:
                        break
                c = buf[e]
                if c == _QUOTE:
                    break
                if c == _LF or c == _LT:
                    return row, line
                e += 1
            if e >= n:
                return row, line
            if field >= 0:
                if starts[field, row] != -1:  # a repeated attribute: not well-formed XML
                    return row, line
                starts[field, row] = value
                ends[field, row] = e
                if kinds[field] != _TEXT:
                    number, ok = _int_value(buf, value, e) if kinds[field] == _INT else _datetime_value(buf, value, e)
                    if not ok:
                        return row, line
                    values[field, row] = number
            else:  # not kept, but a repeat must still refuse the row, as lxml would
                for u in range(others):
                    if other_lengths[u] == length and _same_bytes(buf, other_starts[u], buf, j, length):
                        return row, line
                if others == other_starts.shape[0]:
                    return row, line
                other_starts[others] = j
                other_lengths[others] = length
                others += 1
            j = e + 1
        if buf[j] == _SLASH:
            if j + 1 >= n or buf[j + 1] != _GT:
                return row, line
            j += 2
        else:  # "></row>"
            if j + 7 > n or buf[j + 1] != _LT or buf[j + 2] != _SLASH or buf[j + 3] != 114 \
                    or buf[j + 4] != 111 or buf[j + 5] != 119 or buf[j + 6] != _GT:  # fmt: skip
                return row, line
            j += 7
        while j < n and _is_space(buf[j]):
            j += 1
        if j < n and buf[j] != _LF:
            return row, line
        row += 1
        line += 1
        i = j + 1
    return row, -1


@numba.njit(nogil=True, cache=True)
def _xml_char(code) -> bool:
    """A character XML 1.0 allows (``Char`` in the spec)."""
    if code < 0x20:
        return code == 0x9 or code == 0xA or code == 0xD
    return code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


@numba.njit(nogil=True, cache=True)
def _decode_column(buf, words, starts, ends, rows, field):
    """One attribute's decoded values: ``(data, offsets, valid, bad_row)``; ``bad_row`` -1 if clean.

    Decoded text is never longer than its source (``&#65536;`` is 8 bytes for 4), so the buffer is
    sized by the raw values and the offsets say how much of it is used.
    """
    total = 0
    for r in range(rows):
        if starts[field, r] >= 0:
            total += ends[field, r] - starts[field, r]
    data = np.empty(total, np.uint8)
    offsets = np.empty(rows + 1, np.int64)
    valid = np.zeros(rows, np.bool_)
    at = 0
    for r in range(rows):
        offsets[r] = at
        s = starts[field, r]
        if s < 0:
            continue
        valid[r] = True
        e = ends[field, r]
        i = s
        while i < e:
            if (i & 7) == 0:  # at a word boundary: copy eight plain bytes at a time
                while i + 8 <= e and _plain_word(words[i >> 3]):
                    for t in range(8):
                        data[at + t] = buf[i + t]
                    at += 8
                    i += 8
                if i >= e:
                    break
            c = buf[i]
            if c != _AMP and 0x20 <= c < 0x80:  # plain ASCII: most bytes
                data[at] = c
                at += 1
                i += 1
                continue
            if c == _AMP:
                if i + 3 < e and buf[i + 3] == _SEMI and buf[i + 2] == 116 and (buf[i + 1] == 108 or buf[i + 1] == 103):
                    data[at] = _LT if buf[i + 1] == 108 else _GT  # &lt; &gt;: two in three references
                    at += 1
                    i += 4
                    continue
                if i + 4 < e and buf[i + 4] == _SEMI and buf[i + 1] == _HASH and buf[i + 2] == 120 and buf[i + 3] == 65:
                    data[at] = _LF  # &#xA;: line breaks, most of the rest
                    at += 1
                    i += 5
                    continue
                i, at = _reference(buf, i, e, data, at)
                if i < 0:
                    return data, offsets, valid, r
            elif c == _TAB or c == _CR:  # attribute-value normalisation
                data[at] = _SPACE
                at += 1
                i += 1
            elif c < 0x20:
                return data, offsets, valid, r
            else:
                width = _utf8_width(buf, i, e)
                if width == 0:
                    return data, offsets, valid, r
                for t in range(width):
                    data[at + t] = buf[i + t]
                at += width
                i += width
    offsets[rows] = at
    return data, offsets, valid, -1


@numba.njit(nogil=True, cache=True)
def _string_views(data, offsets, valid, rows):
    """Arrow string views of the values ``data[offsets[r]:offsets[r + 1]]``: 16 bytes a value, the
    length, then the value itself if it fits in 12 bytes, else its first 4 bytes, buffer 0 and its
    offset. Polars takes views as they are, where offsets would cost it a copy of every string."""
    views = np.zeros(rows * 16, np.uint8)
    for r in range(rows):
        if not valid[r]:
            continue
        start, length = offsets[r], offsets[r + 1] - offsets[r]
        v = r * 16
        for t in range(4):
            views[v + t] = (length >> (8 * t)) & 0xFF
        if length <= 12:
            for t in range(length):
                views[v + 4 + t] = data[start + t]
        else:
            for t in range(4):
                views[v + 4 + t] = data[start + t]
                views[v + 12 + t] = (start >> (8 * t)) & 0xFF
    return views


@numba.njit(nogil=True, cache=True)
def _reference(buf, i, e, data, at):
    """Decode the reference at ``buf[i] == "&"`` into ``data[at:]``: ``(next i, next at)``, i -1 if bad."""
    semi = i + 1
    while semi < e and semi - i <= 12 and buf[semi] != _SEMI:
        semi += 1
    if semi >= e or buf[semi] != _SEMI:
        return -1, at
    length = semi - i - 1
    a = buf[i + 1]
    if length == 2 and buf[i + 2] == 116 and (a == 108 or a == 103):  # lt gt
        data[at] = _LT if a == 108 else _GT
        return semi + 1, at + 1
    if length == 3 and a == 97 and buf[i + 2] == 109 and buf[i + 3] == 112:  # amp
        data[at] = _AMP
        return semi + 1, at + 1
    if length == 4 and a == 113 and buf[i + 2] == 117 and buf[i + 3] == 111 and buf[i + 4] == 116:  # quot
        data[at] = _QUOTE
        return semi + 1, at + 1
    if length == 4 and a == 97 and buf[i + 2] == 112 and buf[i + 3] == 111 and buf[i + 4] == 115:  # apos
        data[at] = 39
        return semi + 1, at + 1
    if a != _HASH or length < 2:
        return -1, at
    code = 0
    k = i + 2
    if buf[k] == 120:  # &#x…;
        k += 1
        if k == semi:
            return -1, at
        while k < semi:
            d = buf[k]
            if 48 <= d <= 57:
                code = code * 16 + d - 48
            elif 97 <= d <= 102:
                code = code * 16 + d - 87
            elif 65 <= d <= 70:
                code = code * 16 + d - 55
            else:
                return -1, at
            k += 1
    else:
        while k < semi:
            d = buf[k]
            if not 48 <= d <= 57:
                return -1, at
            code = code * 10 + d - 48
            k += 1
    if not _xml_char(code):
        return -1, at
    if code < 0x80:
        data[at] = code
        return semi + 1, at + 1
    if code < 0x800:
        data[at] = 0xC0 | (code >> 6)
        data[at + 1] = 0x80 | (code & 0x3F)
        return semi + 1, at + 2
    if code < 0x10000:
        data[at] = 0xE0 | (code >> 12)
        data[at + 1] = 0x80 | ((code >> 6) & 0x3F)
        data[at + 2] = 0x80 | (code & 0x3F)
        return semi + 1, at + 3
    data[at] = 0xF0 | (code >> 18)
    data[at + 1] = 0x80 | ((code >> 12) & 0x3F)
    data[at + 2] = 0x80 | ((code >> 6) & 0x3F)
    data[at + 3] = 0x80 | (code & 0x3F)
    return semi + 1, at + 4


@numba.njit(nogil=True, cache=True)
def _utf8_width(buf, i, e) -> int:
    """Bytes of the valid UTF-8 sequence of an XML character at ``buf[i]`` (>= 0x80), else 0."""
    c = buf[i]
    if 0xC2 <= c <= 0xDF:
        width, code = 2, c & 0x1F
    elif 0xE0 <= c <= 0xEF:
        width, code = 3, c & 0x0F
    elif 0xF0 <= c <= 0xF4:
        width, code = 4, c & 0x07
    else:
        return 0
    if i + width > e:
        return 0
    for t in range(1, width):
        d = buf[i + t]
        if d & 0xC0 != 0x80:
            return 0
        code = (code << 6) | (d & 0x3F)
    if (width == 3 and code < 0x800) or (width == 4 and code < 0x10000) or not _xml_char(code):
        return 0  # overlong, a surrogate, past U+10FFFF, or U+FFFE/U+FFFF
    return width


def rows_frame(
    body: bytes | bytearray, fields: list[str], newlines: int | None = None, types: dict[str, str] | None = None
) -> pl.DataFrame:
    """A chunk of row lines -> a frame of the wanted attributes, decoded, as String columns.

    ``types`` may name attributes to read as ``"int"`` (Int64) or ``"datetime"`` (UTC, in
    microseconds) instead. Absent attributes are null. Raises ``ValueError`` for anything but
    clean, well-formed rows whose typed attributes are plain numbers and dates.
    ``newlines``: at least the number of line ends in ``body``, if the caller counted them.
    """
    if len(body) >= 2**31:  # string views address their buffer with 32 bits
        raise ValueError("a chunk of 2 GiB or more")
    buf = np.frombuffer(body, np.uint8)
    buf.flags.writeable = False  # one compiled variant for bytes and bytearray alike
    encoded = [name.encode() for name in fields]
    names = np.frombuffer(b"".join(encoded), np.uint8)
    name_ends = np.cumsum([len(name) for name in encoded]).astype(np.int64)
    capacity = (count_newlines(body) if newlines is None else newlines) + 1
    types = types or {}
    unknown = set(types.values()) - set(_KINDS)
    if unknown:
        raise TypeError(f"unknown attribute types {sorted(unknown)}: use {sorted(_KINDS)}")
    kinds = np.array([_KINDS[types.get(name, "text")] for name in fields], np.uint8)
    # fields × rows: each column's positions lie together for the passes that build the columns
    starts = np.empty((len(fields), capacity), np.int64)
    ends = np.empty((len(fields), capacity), np.int64)
    values = np.zeros((len(fields) if kinds.any() else 0, capacity), np.int64)
    words = np.frombuffer(body, np.uint64, count=len(body) // 8)
    words.flags.writeable = False
    rows, bad_line = _scan(buf, words, names, name_ends, kinds, starts, ends, values)
    if bad_line >= 0:
        raise ValueError(f"line {bad_line + 1} of the chunk is not a clean row or has a number or date that is not plain")
    columns = []
    for field, name in enumerate(fields):
        kind = types.get(name, "text")
        if kind == "text":
            data, offsets, valid, bad_row = _decode_column(buf, words, starts, ends, rows, field)
            if bad_row >= 0:
                raise ValueError(f"row {bad_row + 1} of the chunk: {name} is not well-formed XML text")
        else:
            valid = starts[field, :rows] >= 0
        nulls = rows - int(np.count_nonzero(valid))
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
        if kind == "text":
            views = _string_views(data, offsets, valid, rows)
            array = pa.Array.from_buffers(pa.string_view(), rows, [bitmap, pa.py_buffer(views), pa.py_buffer(data)], nulls)
            columns.append(pl.Series(name, array, dtype=pl.String))
        else:
            arrow_type = pa.int64() if kind == "int" else pa.timestamp("us", tz="UTC")
            array = pa.Array.from_buffers(arrow_type, rows, [bitmap, pa.py_buffer(values[field, :rows])], nulls)
            columns.append(pl.Series(name, array))
    return pl.DataFrame(columns)


def load_kernels() -> None:
    """Compile the kernels, or load them from numba's cache, now rather than on first use.

    The first use on a new machine compiles them (about 5 s) and caches the machine code next to
    this module; later processes load it (about 0.3 s). Benchmarks call this before their clock.
    """
    count_newlines(b"\n")
    rows_frame(b'<row Id="1" Day="2008-07-31T21:42:52.667" Text="a" />\n', ["Id", "Day", "Text"],
               types={"Id": "int", "Day": "datetime"})  # fmt: skip
