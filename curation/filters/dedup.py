"""Exact deduplication on normalised text (case, punctuation and white space folded).

With ``html=True`` the text is the normalised text of an HTML column (tags stripped, common
entities decoded, then the same folding): the ``lima`` recipe dedups answers this way *before*
converting them to Markdown, so dedup is cheap and can run before sampling. Identical HTML gives
identical Markdown, so no two answers kept have the same text either way; HTML that differs only
in markup (a link's address, ``<b>``) is folded too.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curation.filters.base import Select

#: Entities decoded before folding (``&amp;`` would otherwise leave the word "amp").
HTML_ENTITIES = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;", "&apos;", "&nbsp;", "&#160;"]
HTML_DECODED = ["&", "<", ">", '"', "'", "'", "'", " ", " "]


def normalised(column: str | pl.Expr) -> pl.Expr:
    """Lower case, every run of non-alphanumerics folded to one space, trimmed."""
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.fill_null("").str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars()


def html_text(column: str) -> pl.Expr:
    """The text of HTML: tags replaced by a space, common entities decoded (for dedup keys only)."""
    return pl.col(column).fill_null("").str.replace_all(r"<[^>]*>", " ").str.replace_many(HTML_ENTITIES, HTML_DECODED)


@dataclass(frozen=True)
class ExactDedup(Select):
    """Keep one row per normalised ``column``: the highest ``prefer`` (then the smallest id).

    ``html``: ``column`` holds HTML; the key is the normalised text of it (see `html_text`).
    """

    column: str = "response"
    prefer: str | None = "answer_score"
    html: bool = False

    name = "exact_dedup"
    reason = "duplicate_text"

    def decides_on(self) -> list[str]:
        return ["id", *([self.prefer] if self.prefer else []), self.column]

    def key(self) -> pl.Expr:
        """The text rows are compared on."""
        return normalised(html_text(self.column) if self.html else self.column)

    def apply(self, lf: pl.LazyFrame, seed: int) -> pl.LazyFrame:
        order = [self.prefer, "id"] if self.prefer else ["id"]
        descending = [True, False] if self.prefer else [False]
        chosen = (
            lf.select(*dict.fromkeys(order), self.key().alias("_key"))
            .sort(order, descending=descending, nulls_last=True)
            .unique("_key", keep="first", maintain_order=True)
            .select("id")
        )
        return lf.join(chosen, on="id", how="semi", maintain_order="left")
