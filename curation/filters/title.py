"""Self-contained titles: LIMA kept questions "whose title alone states the question".

LIMA judged this by hand; our heuristic (every part a parameter) calls a title self-contained
when it has at least ``min_words`` words, reads as a question (ends with "?" or starts with a
question word such as how/what/why/is/can/should), and does not point at context the title
lacks ("this", "these", "the following", "above", "below", "attached", "here").
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curation.filters.base import Filter

QUESTION_WORDS = (
    "how", "what", "why", "when", "where", "which", "who", "whom", "whose", "is", "are", "am",
    "can", "could", "should", "would", "will", "does", "do", "did", "has", "have", "had", "was",
    "were", "may", "might", "must", "shall", "any", "difference", "best", "ways",
)  # fmt: skip
DEICTIC = ("this", "these", "those", "the following", "above", "below", "attached", "here")


@dataclass(frozen=True)
class SelfContainedTitle(Filter):
    """Keep questions whose title states the question on its own (heuristic, see module doc)."""

    column: str = "title"
    min_words: int = 4
    question_words: tuple[str, ...] = QUESTION_WORDS
    deictic: tuple[str, ...] = DEICTIC

    name = "self_contained_title"
    reasons = ("title_not_self_contained",)

    def score(self) -> pl.Expr:
        title = pl.col(self.column).fill_null("").str.strip_chars()
        # ">= min_words runs of non-space" as one match, not a count of them all (7x faster)
        enough = pl.lit(True) if self.min_words <= 0 else title.str.contains(r"\S+(?:\s+\S+){%d}" % (self.min_words - 1))
        asks = title.str.ends_with("?") | title.str.to_lowercase().str.contains(
            r"^(?:" + "|".join(self.question_words) + r")\b"
        )
        points = title.str.to_lowercase().str.contains(r"\b(?:" + "|".join(self.deictic) + r")\b")
        return enough & asks & ~points

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(~score).then(pl.lit("title_not_self_contained"))
