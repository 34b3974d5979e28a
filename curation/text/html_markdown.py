"""Stack Exchange post HTML -> Markdown, as the released LIMA data (GAIR/lima) shows it.

Code blocks become fenced blocks with the language hint the post carries (``lang-python`` on the
``<pre>``, or ``language-python`` on the ``<code>``), inline code keeps single back-ticks, list
items become ``* item`` / ``1. item``, links are reduced to their text, images are dropped,
entities are decoded, headings/blockquotes/tables stay readable, and ftfy repairs mojibake.
The converter is markdownify on BeautifulSoup (lxml parser); this module only sets its options.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import ftfy
from markdownify import MarkdownConverter, re_make_convert_fn_name

from curation.rowmap import map_values

if TYPE_CHECKING:  # the helper processes import this module for `html_to_markdown` alone: no Polars there
    import polars as pl

_LANG = re.compile(r"(?:^|\s)(?:lang|language)-([A-Za-z0-9_+#.-]+)")
#: SE's own non-language classes on code blocks.
_NOT_A_LANGUAGE = {"none", "default", "auto", "all", "html"}  # html is kept below via the alias map
_ALIASES = {"js": "javascript", "py": "python", "html": "html", "sh": "bash", "cs": "csharp"}
_BLANK_RUNS = re.compile(r"\n{3,}")


def _language(el) -> str:
    """Language hint of a ``<pre>`` block: its own class, or its ``<code>`` child's."""
    classes = " ".join(el.get("class") or [])
    code = el.find("code")
    if code is not None:
        classes += " " + " ".join(code.get("class") or [])
    match = _LANG.search(classes)
    if not match:
        return ""
    lang = match[1].lower()
    if lang in _ALIASES:
        return _ALIASES[lang]
    return "" if lang in _NOT_A_LANGUAGE else lang


#: markdownify finds a tag's converter by name (``convert_<tag>``, ``-:[]`` read as ``_``), so the
#: tags ``<soup>`` and ``<fn-cache>`` reach two attributes that are not converters and crash it.
_NOT_CONVERTERS = {"convert_soup", "convert_fn_cache"}


class _PostConverter(MarkdownConverter):
    """markdownify with images dropped and links reduced to their text."""

    def get_conv_fn(self, tag_name):
        if "convert_" + re_make_convert_fn_name.sub("_", tag_name.lower()) in _NOT_CONVERTERS:  # its own lookup
            return None  # an unknown tag: its text is kept
        return super().get_conv_fn(tag_name)

    def convert_img(self, el, text, parent_tags):
        return ""

    def convert_a(self, el, text, parent_tags):
        return text

    def convert_hr(self, el, text, parent_tags):
        return "\n\n---\n\n"


_CONVERTER = _PostConverter(
    heading_style="ATX",
    bullets="*",
    code_language_callback=_language,
    escape_asterisks=False,
    escape_underscores=False,
    escape_misc=False,
    strong_em_symbol="*",
    newline_style="BACKSLASH",
    bs4_options="lxml",
)


def html_to_markdown(html: str | None) -> str | None:
    """Render one post body (HTML) as Markdown; None stays None."""
    if html is None:
        return None
    text = _CONVERTER.convert(html)
    text = ftfy.fix_text(text, normalization="NFC")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip()


def html_to_markdown_expr(column: str | pl.Expr) -> pl.Expr:
    """Polars expression applying `html_to_markdown` to a column (run it after the cheap filters)."""
    import polars as pl

    expr = pl.col(column) if isinstance(column, str) else column
    return expr.map_batches(
        lambda s: pl.Series(s.name, map_values(html_to_markdown, s.to_list()), dtype=pl.String),
        return_dtype=pl.String,
    )
