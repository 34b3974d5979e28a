"""Bounds on the length of `html_to_markdown(html)`, read from the HTML without converting it.

Why: LIMA keeps answers of 1,200-4,096 Markdown characters, and most answers the sampler reaches
fail that, most of them as too short. Converting one costs about half a millisecond of Python
(several for a long one); the upper bound costs a few vectorised regex counts, and where lists or
quotes need their nesting, or a long answer a lower bound, an lxml parse (about 20 µs per KB).
Where the upper bound is below the minimum, or the lower bound above the maximum, the row fails
the length filter whatever the conversion would give, so the pipeline skips converting it
(`curation.pipeline`). A bound must never be wrong: a row it rejects wrongly would change the data.

Why the upper bound holds (markdownify 1.2 with the options of `curation.text.html_markdown`;
checked by ``tests/test_markdown_bound.py`` on real posts and on generated adversarial HTML).
Every character of the Markdown is one of:

- **Text of a text node.** The parser decodes entities (never longer than their source) and
  markdownify only collapses white space, so text costs at most the source characters outside
  tags. Tag characters (``</?[A-Za-z][^>]*>``) are subtracted: a match is always inside a real tag
  or a comment, whose characters never reach the text, except inside the raw-text elements
  (``title``, ``textarea``, ``xmp``, ``iframe``, ``noembed``, ``noframes``, ``noscript``,
  ``plaintext``), so rows with those get no bound.
- **Markup an element adds.** Per start tag at most 4 characters (``**``…``**``, ``\\n\\n``…
  ``\\n\\n``, a code span's two back-ticks), except: links, images and spans add none; headings add
  up to 11 (``\\n\\n###### `` … ``\\n\\n``); ``<hr>`` 7; ``<pre>`` 12 plus its language, at most
  10 characters (an alias such as ``javascript``) plus the class token it came from, so the
  ``<pre>``/``<code>`` tags are not subtracted. A code span around back-ticks grows by two per
  back-tick. Elements the parser makes without a start tag: ``<br>`` from ``</br>`` (2), a
  paragraph libxml2 may imply at the start or after ``<html>``/``<head>``/``<body>`` tags (4 each).
- **Indentation.** A list item, block quote or definition ``E`` prefixes each line of its
  content: ``W`` characters for an item (``* `` or ``12. ``, computed as markdownify does from the
  ``<ol start>`` and the item's place), 2 for a quote, 4 for a definition, plus a few fixed ones.
  Its lines are at most 1 + the line breaks of the text inside it (``\\n`` or ``\\r``) + 6 per
  element inside it (no element makes more line breaks than ``<pre>``'s 6). That needs the tree,
  so these rows are parsed with lxml, fed the whole string as BeautifulSoup feeds it, which gives
  BeautifulSoup's tree (a test compares the two on every real and adversarial document; they differ
  only around ``<html>``, ``<head>`` or ``<body>`` tags, whose rows get no parse). Tables
  (whose header rows are made up) and ``<video>`` get no bound.
- **ftfy.** Repairs never add characters to ASCII text; a non-ASCII character becomes at most 3
  (a ligature such as ``ﬃ``, or an NFC expansion), and an entity other than ``&lt;``, ``&gt;``,
  ``&amp;``, ``&quot;`` decodes to at most 2 non-ASCII characters. Line trimming after ftfy only
  removes characters.

Why the lower bound holds: every visible ASCII character (not white space, not a control) of a
text node reaches the Markdown (markdownify only folds white space; escaping is off), except
under ``<script>``/``<style>`` (dropped) and ``<hr>``/``<img>`` (whose converters ignore their
content), and except what ftfy takes: it decodes entity-like runs (``&amp;``, ``&ampersand``) left
in the text, may fold a character into a non-ASCII neighbour (NFC composing ``e`` + ``◌́``; a
mojibake repair), and drops terminal escapes (rows with ``ESC`` get no lower bound). So their
count, less the ``&…`` runs and two per non-ASCII character, is a lower bound.
"""

from __future__ import annotations

import functools
import re
from importlib.metadata import version

import polars as pl

#: The markdownify versions the argument above was made for; with any other there are no bounds
#: (no row is skipped, so results stay right, only slower).
VERIFIED_MARKDOWNIFY = ("1.2.",)

_TAG = r"</?[A-Za-z][^>]*>"
_KEPT_TAG = r"(?i)<(?:pre|code)[^>]*>"  # their class attribute may become the code block's language
_NO_BOUND = (
    r"(?i)<(?:table|t[dhr]|video"  # made-up table rows, video links
    r"|title|textarea|xmp|iframe|noembed|noframes|noscript|plaintext)"  # raw text: "<b>" is text there
)
_INDENTING = r"(?i)<(?:li|blockquote|dd)"
_DOCUMENT_TAG = re.compile(r"(?i)</?(?:html|head|body)\b")
_BOUNDS = pl.Struct({"lower": pl.Int64, "upper": pl.Int64})


def bound_applies() -> bool:
    """True when the installed markdownify is one the bounds were proven for."""
    return _markdownify_version().startswith(VERIFIED_MARKDOWNIFY)


@functools.cache
def _markdownify_version() -> str:
    return version("markdownify")  # reads package metadata: once per process


def markdown_length_bounds(html: pl.Expr, minimum: int | None = None, maximum: int | None = None) -> pl.Expr:
    """Struct of Int64 ``lower`` and ``upper`` bounds on ``len(html_to_markdown(html))`` (see the module).

    Null where none is proven, and where only a parse could give one that would not settle
    ``[minimum, maximum]`` (an upper bound at or above ``minimum``, a lower one at or below
    ``maximum``): the parse is spent only where it may save a conversion.
    """
    if not bound_applies():
        unknown = pl.when(pl.lit(False)).then(html.str.len_chars().cast(pl.Int64))  # null, one per row
        return pl.struct(unknown.alias("lower"), unknown.alias("upper"))
    flat = _flat_upper(html)
    indenting = html.str.contains(_INDENTING)
    wanted = pl.lit(False)
    if minimum is not None:
        wanted = wanted | (indenting & (flat < minimum))
    if maximum is not None:
        wanted = wanted | (html.str.len_chars() > maximum)
    inputs = pl.struct(html.alias("html"), flat.alias("flat"), indenting.alias("indenting"), wanted.alias("wanted"))
    return inputs.map_batches(_with_parsed, return_dtype=_BOUNDS)  # one Python call per batch


def _flat_upper(html: pl.Expr) -> pl.Expr:
    """The upper bound without indentation (null for tables, video and raw-text elements)."""

    def count(pattern: str) -> pl.Expr:
        return html.str.count_matches(pattern).cast(pl.Int64)

    length = html.str.len_chars().cast(pl.Int64)

    def chars_of(pattern: str) -> pl.Expr:
        return length - html.str.replace_all(pattern, "").str.len_chars().cast(pl.Int64)

    text = length - chars_of(_TAG) + chars_of(_KEPT_TAG)
    markup = (
        4 * (count("<[A-Za-z]") - count(r"(?i)<(?:a|img|span)[\s/>]"))
        + 7 * count("(?i)<h[0-9]")
        + 3 * count("(?i)<hr")
        + 18 * count("(?i)<pre")
        + 2 * count("`")
        + 2 * count("(?i)</br")
        + 4 * (1 + count("(?i)</?(?:html|head|body)"))
    )
    repair = 2 * count(r"[^\x00-\x7f]") + 4 * (count("&") - count("&(?:lt|gt|amp|quot);"))
    return pl.when(html.str.contains(_NO_BOUND)).then(None).otherwise(text + markup + repair)


def _with_parsed(inputs: pl.Series) -> pl.Series:
    """The bounds per document: the flat upper bound, completed by a parse where it was wanted.

    Python runs only for the wanted documents (the parse); the rest stays in Polars.
    """
    frame = inputs.struct.unnest()
    at = frame["wanted"].fill_null(False).arg_true()
    parsed = [_parsed(doc) for doc in frame["html"].gather(at).to_list()]
    lower = pl.repeat(None, frame.height, dtype=pl.Int64, eager=True).scatter(at, [p[0] for p in parsed])
    indent = pl.repeat(None, frame.height, dtype=pl.Int64, eager=True).scatter(at, [p[1] for p in parsed])
    bounds = frame.select(
        lower.alias("lower"),
        pl.when(pl.col("indenting")).then(pl.col("flat") + indent).otherwise(pl.col("flat")).alias("upper"),
    )
    return bounds.to_struct(inputs.name)


def _parse(doc: str):
    """The tree BeautifulSoup's lxml builder makes of ``doc``: one ``feed`` of the string, BOM dropped."""
    from lxml import etree

    parser = etree.HTMLParser(recover=True)
    parser.feed(doc[1:] if doc.startswith("\ufeff") else doc)
    return parser.close()


def _parsed(doc: str) -> tuple[int | None, int | None]:
    """The lower bound, and what indentation adds to the flat upper bound (None: no bound)."""
    if _DOCUMENT_TAG.search(doc):  # BeautifulSoup opens a second <html> after </html>; lxml does not
        return None, None
    try:
        root = _parse(doc)
    except Exception:  # lxml refuses it: BeautifulSoup would retry as UTF-8 bytes; no bounds here
        return None, None
    if root is None:
        return None, None
    indent = _indentation(root)
    return _lower(root), indent  # _lower changes the tree: last


_LINE_BREAKS = re.compile(r"[\r\n]")
_VISIBLE = re.compile(r"[\x21-\x7e]")  # printable ASCII but the space
_ENTITY_RUN = re.compile(r"&[#A-Za-z0-9]+;?")


def _indentation(root) -> int | None:
    """What list items, quotes and definitions add (bullets, prefixes, their own line breaks)."""
    total = 0
    for el in root.iter("li", "blockquote", "dd"):
        inside = 0
        breaks = len(_LINE_BREAKS.findall(el.text or ""))
        for node in el.iterdescendants():
            inside += 1
            breaks += len(_LINE_BREAKS.findall(node.text or "")) + len(_LINE_BREAKS.findall(node.tail or ""))
        lines = 1 + breaks + 6 * inside
        if el.tag == "li":
            width = _bullet_width(el)
            if width is None:
                return None
            total += width * lines + 1
        elif el.tag == "blockquote":
            total += 2 * lines + 3
        else:
            total += 4 * lines + 1
    return total


def _bullet_width(li) -> int | None:
    """``len(bullet) + 1`` as markdownify's ``convert_li`` makes the bullet (None: it would raise)."""
    parent = li.getparent()
    if parent is None or parent.tag != "ol":
        return 2  # "* "
    start = parent.get("start")
    try:
        first = int(start) if start and str(start).isnumeric() else 1
    except ValueError:  # isnumeric() but not an int ("²"): markdownify raises, so no bound
        return None
    before = sum(1 for sibling in li.itersiblings(preceding=True) if sibling.tag == "li")
    return len(f"{first + before}.") + 1


def _lower(root) -> int | None:
    """Visible ASCII characters of the text that surely reach the Markdown, less what ftfy may take."""
    from lxml import etree

    dropped = ("script", "style", "hr", "img", etree.Comment, etree.ProcessingInstruction)
    etree.strip_elements(root, *dropped, with_tail=False)  # their text goes, the text after them stays
    text = "".join(root.itertext())  # in document order, so an "&…" run split by tags is one run here
    if "\x1b" in text:
        return None
    visible = len(_VISIBLE.findall(text))
    taken = sum(map(len, _ENTITY_RUN.findall(text)))
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return max(0, visible - taken - 2 * non_ascii)
