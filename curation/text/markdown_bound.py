"""An upper bound on the length of `html_to_markdown(html)`, read from the HTML in Polars.

Why: LIMA keeps answers of 1,200-4,096 Markdown characters, and most answers the sampler reaches
are too short. Converting one costs about half a millisecond of Python; this bound costs a few
vectorised regex counts. Where the bound is below the minimum, the row fails the length filter
whatever the conversion would give, so the pipeline can skip converting it (`curation.pipeline`).
The bound must never be below the true length: a row it rejects wrongly would change the data.

Why it holds (markdownify 1.2 with the options of `curation.text.html_markdown`; checked by
``tests/test_markdown_bound.py`` on real answers and on generated adversarial HTML). Every character
of the Markdown is one of:

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
- **Indentation.** List items, block quotes and definitions indent every line of their content,
  so the bound would need the nesting; rows with ``<li>``, ``<blockquote>``, ``<dd>``, tables
  (whose header rows are made up) or ``<video>`` get no bound.
- **ftfy.** Repairs never add characters to ASCII text; a non-ASCII character becomes at most 3
  (a ligature such as ``ﬃ``, or an NFC expansion), and an entity other than ``&lt;``, ``&gt;``,
  ``&amp;``, ``&quot;`` decodes to at most 2 non-ASCII characters. Line trimming after ftfy only
  removes characters.
"""

from __future__ import annotations

from importlib.metadata import version

import polars as pl

#: The markdownify versions the argument above was made for; with any other the bound is null (no
#: row is skipped, so results stay right, only slower).
VERIFIED_MARKDOWNIFY = ("1.2.",)

_TAG = r"</?[A-Za-z][^>]*>"
_KEPT_TAG = r"(?i)<(?:pre|code)[^>]*>"  # their class attribute may become the code block's language
_NO_BOUND = (
    r"(?i)<(?:li|blockquote|dd|table|t[dhr]|video"  # indentation, made-up table rows
    r"|title|textarea|xmp|iframe|noembed|noframes|noscript|plaintext)"  # raw text: "<b>" is text there
)


def bound_applies() -> bool:
    """True when the installed markdownify is one the bound was proven for."""
    return version("markdownify").startswith(VERIFIED_MARKDOWNIFY)


def markdown_length_bound(html: pl.Expr) -> pl.Expr:
    """Int64 upper bound on ``len(html_to_markdown(html))``; null where none is proven (see the module)."""
    if not bound_applies():
        return pl.lit(None, dtype=pl.Int64)

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
