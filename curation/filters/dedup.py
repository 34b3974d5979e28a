"""Exact deduplication on normalised text (case, punctuation and white space folded)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curation.filters.base import Select


def normalised(column: str) -> pl.Expr:
    """Lower case, every run of non-alphanumerics folded to one space, trimmed."""
    return pl.col(column).fill_null("").str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars()


@dataclass(frozen=True)
class ExactDedup(Select):
    """Keep one row per normalised ``column``: the highest ``prefer`` (then the smallest id)."""

    column: str = "response"
    prefer: str | None = "answer_score"

    name = "exact_dedup"
    reason = "duplicate_text"

    def decides_on(self) -> list[str]:
        return ["id", *([self.prefer] if self.prefer else []), self.column]

    def apply(self, lf: pl.LazyFrame, seed: int) -> pl.LazyFrame:
        order = [self.prefer, "id"] if self.prefer else ["id"]
        descending = [True, False] if self.prefer else [False]
        chosen = (
            lf.select(*dict.fromkeys(order), normalised(self.column).alias("_key"))
            .sort(order, descending=descending, nulls_last=True)
            .unique("_key", keep="first", maintain_order=True)
            .select("id")
        )
        return lf.join(chosen, on="id", how="semi", maintain_order="left")
