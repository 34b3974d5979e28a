"""Community score thresholds (LIMA: the top answer, kept only with score >= 10)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curation.filters.base import Filter


@dataclass(frozen=True)
class MinScore(Filter):
    """Keep rows whose ``column`` is at least ``minimum`` (nulls are dropped)."""

    column: str = "answer_score"
    minimum: int = 10

    @property
    def name(self) -> str:
        return f"min_{self.column}"

    @property
    def reasons(self) -> tuple[str, ...]:
        return (f"{self.column}_below_{self.minimum}",)

    def score(self) -> pl.Expr:
        return pl.col(self.column)

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(score.is_null() | (score < self.minimum)).then(pl.lit(self.reasons[0]))


@dataclass(frozen=True)
class TopRanked(Filter):
    """Keep the top-ranked row of its group (``rank_column == 1``), e.g. a question's top answer."""

    rank_column: str = "answer_rank"
    what: str = "answer"

    @property
    def name(self) -> str:
        return f"top_{self.what}"

    @property
    def reasons(self) -> tuple[str, ...]:
        return (f"not_top_{self.what}",)

    def score(self) -> pl.Expr:
        return pl.col(self.rank_column)

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(score.is_null() | (score != 1)).then(pl.lit(self.reasons[0]))
