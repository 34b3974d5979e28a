"""Filters on flags and patterns a source already computed (deleted, bot, stickied, tagged…)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curation.filters.base import Filter


@dataclass(frozen=True)
class DropFlagged(Filter):
    """Drop rows where any boolean column in ``flags`` is true; the first true flag names the reason.

    ``flags`` is ``((column, reason), …)``, e.g. ``(("body_deleted", "deleted_or_removed"),)``.
    A null flag counts as false.
    """

    flags: tuple[tuple[str, str], ...] = ()
    label: str = "flags"

    @property
    def name(self) -> str:
        return self.label

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(reason for _, reason in self.flags))

    def score(self) -> pl.Expr:
        return pl.sum_horizontal([pl.col(c).fill_null(False).cast(pl.Int32) for c, _ in self.flags])

    def reason(self, score: pl.Expr) -> pl.Expr:
        expr = None
        for column, why in self.flags:
            hit = pl.col(column).fill_null(False)
            expr = pl.when(hit).then(pl.lit(why)) if expr is None else expr.when(hit).then(pl.lit(why))
        return expr if expr is not None else pl.lit(None, pl.String)


@dataclass(frozen=True)
class Matches(Filter):
    """Keep rows whose ``column`` matches the regular expression ``pattern`` (e.g. a ``[WP]`` tag)."""

    column: str = "title"
    pattern: str = r"^\s*\[\s*WP\s*\]"
    label: str = "matches"
    why: str = "no_match"

    @property
    def name(self) -> str:
        return self.label

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.why,)

    def score(self) -> pl.Expr:
        return pl.col(self.column).fill_null("").str.contains(self.pattern)

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(~score).then(pl.lit(self.why))


@dataclass(frozen=True)
class AtMost(Filter):
    """Keep rows whose ``column`` is null-free and at most ``maximum`` characters long when text, else value."""

    column: str = "selftext"
    maximum: int = 0
    label: str = "no_body"
    why: str = "has_body"

    @property
    def name(self) -> str:
        return self.label

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.why,)

    def score(self) -> pl.Expr:
        return pl.col(self.column).fill_null("").str.strip_chars().str.len_chars()

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(score > self.maximum).then(pl.lit(self.why))


@dataclass(frozen=True)
class Require(Filter):
    """Keep rows whose ``column`` is true (a boolean; null counts as false), or, with
    ``any_value``, rows where ``column`` has any value (e.g. a known top-level category)."""

    column: str = "has_submission"
    why: str = "no_submission"
    any_value: bool = False

    @property
    def name(self) -> str:
        return f"{'has' if self.any_value else 'require'}_{self.column}"

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.why,)

    def score(self) -> pl.Expr:
        return pl.col(self.column).is_not_null() if self.any_value else pl.col(self.column).fill_null(False)

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(~score).then(pl.lit(self.why))
