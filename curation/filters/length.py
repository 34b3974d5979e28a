"""Length bounds in characters (LIMA: answers of 1,200-4,096 characters).

Characters are Unicode code points (``str.len_chars``), so Hangul or CJK text counts one per
syllable, not per UTF-8 byte. Whether to count the raw HTML or the cleaned Markdown is the
recipe's choice: the paper does not say.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curation.filters.base import Filter, Transform


@dataclass(frozen=True)
class Length(Filter):
    """Keep rows whose ``column`` has between ``minimum`` and ``maximum`` characters (inclusive)."""

    column: str = "response"
    minimum: int | None = 1200
    maximum: int | None = 4096

    @property
    def name(self) -> str:
        return f"length_{self.column}"

    @property
    def reasons(self) -> tuple[str, ...]:
        return ("too_short", "too_long")

    def score(self) -> pl.Expr:
        return pl.col(self.column).str.len_chars().fill_null(0)

    def reason(self, score: pl.Expr) -> pl.Expr:
        low = pl.lit(False) if self.minimum is None else score < self.minimum
        high = pl.lit(False) if self.maximum is None else score > self.maximum
        return pl.when(low).then(pl.lit("too_short")).when(high).then(pl.lit("too_long"))

    def decided_before(self, step: Transform) -> pl.Expr | None:
        """Too short already where ``step``'s upper bound on the column is below the minimum, too
        long where its lower bound is above the maximum."""
        if self.minimum is None and self.maximum is None:
            return None
        bounds = step.length_bounds(self.column, self.minimum, self.maximum)
        if bounds is None:
            return None
        upper, lower = pl.col("upper"), pl.col("lower")
        short = pl.lit(False) if self.minimum is None else upper < self.minimum
        long = pl.lit(False) if self.maximum is None else lower > self.maximum
        if self.minimum is not None and self.maximum is not None:
            long = long & (lower >= self.minimum)  # not too short either (a minimum above the maximum)
        reason = pl.when(short).then(pl.lit("too_short")).when(long).then(pl.lit("too_long"))

        def decide(b: pl.Series) -> pl.Series:  # the bounds are computed once, then read twice
            return b.struct.unnest().select(reason.alias(b.name)).to_series()

        return bounds.map_batches(decide, return_dtype=pl.String)


@dataclass(frozen=True)
class NonEmpty(Filter):
    """Structural validity: every one of ``columns`` holds non-blank text."""

    columns: tuple[str, ...] = ("prompt", "response")
    label: str = "non_empty"

    @property
    def name(self) -> str:
        return self.label

    @property
    def reasons(self) -> tuple[str, ...]:
        return ("empty_text",)

    def score(self) -> pl.Expr:
        return pl.min_horizontal([pl.col(c).str.strip_chars().str.len_chars().fill_null(0) for c in self.columns])

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(score == 0).then(pl.lit("empty_text"))

    def reason_alone(self) -> pl.Expr:
        """Blank = no non-space character (``\\S`` and ``strip_chars`` agree on Unicode's White_Space):
        the test stops at the first one, where the score strips and counts whole bodies."""
        text = [pl.col(c).str.contains(r"\S").fill_null(False) for c in self.columns]
        return pl.when(~pl.all_horizontal(text)).then(pl.lit("empty_text"))
