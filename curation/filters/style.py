"""Answer style filters: first person, references to other answers, leftover links or images.

Rules (LIMA drops answers written in the first person or that refer to other answers; its exact
lists were never published, so these are ours, and every one is a parameter):

- First person: whole words ``I`` (capital, so it also catches I'm, I've, I'd, I'll) and,
  in any case, ``my``, ``me``, ``mine``, ``myself``. Text inside code blocks and inline code is
  ignored, so ``int i`` or ``print(me)`` do not count. A row is dropped when it has more than
  ``max_count`` such words (default 0). The rule is English: it does not run on text whose
  characters are at least ``skip_hangul_ratio`` Hangul (default 0.3), so Korean rows are never
  judged by English words.
- References to other answers: any of ``phrases``, case-insensitive, anywhere in the text.
- Leftover links or images: a raw URL, a Markdown image or an ``<img`` outside code.

All are Polars regular expressions over the column: no Python per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from curation.filters.base import Filter

FIRST_PERSON = r"\bI\b|(?i:\b(?:my|me|mine|myself)\b)"

OTHER_ANSWER_PHRASES: tuple[str, ...] = (
    "as mentioned",
    "as others have",
    "as other answers",
    "other answers",
    "another answer",
    "the other answer",
    "the accepted answer",
    "the answer above",
    "answers above",
    "answer below",
    "previous answer",
    "above answer",
    "as said above",
    "as stated above",
    "as noted above",
    "stack exchange",
    "stackexchange",
    "this site",
    "edit:",
    "update:",
    "upvote",
    "downvote",
    "in the comments",
)

_CODE_BLOCK = r"(?s)```.*?```"
_INLINE_CODE = r"`[^`\n]*`"
_LINK_OR_IMAGE = r"(?i)https?://|\bwww\.|!\[[^\]]*\]\(|<img\b"


def without_code(column: str) -> pl.Expr:
    """The column's text with fenced and inline code removed (style rules apply to prose)."""
    return pl.col(column).str.replace_all(_CODE_BLOCK, " ").str.replace_all(_INLINE_CODE, " ")


@dataclass(frozen=True)
class FirstPerson(Filter):
    """Drop text written in the first person (more than ``max_count`` first-person words)."""

    column: str = "response"
    pattern: str = FIRST_PERSON
    max_count: int = 0
    skip_hangul_ratio: float | None = 0.3

    name = "first_person"
    reasons = ("first_person",)

    def score(self) -> pl.Expr:
        count = without_code(self.column).str.count_matches(self.pattern).fill_null(0)
        if self.skip_hangul_ratio is None:
            return count
        # Hangul syllables and jamo over all characters: a cheap script share (no normalisation,
        # no letter classes) that is enough to tell Korean prose from English.
        text = pl.col(self.column).fill_null("")
        hangul = text.str.count_matches(r"\p{Hangul}") / text.str.len_chars().clip(lower_bound=1)
        return pl.when(hangul >= self.skip_hangul_ratio).then(0).otherwise(count)

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(score > self.max_count).then(pl.lit("first_person"))


@dataclass(frozen=True)
class OtherAnswerReferences(Filter):
    """Drop text that refers to other answers or to the site ("as mentioned", "edit:", …)."""

    column: str = "response"
    phrases: tuple[str, ...] = OTHER_ANSWER_PHRASES

    name = "other_answer_refs"
    reasons = ("refers_to_other_answers",)

    def score(self) -> pl.Expr:
        pattern = "(?i)" + "|".join(re.escape(p) for p in self.phrases)
        return without_code(self.column).str.count_matches(pattern).fill_null(0)

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(score > 0).then(pl.lit("refers_to_other_answers"))


@dataclass(frozen=True)
class LeftoverLinks(Filter):
    """Drop text that still holds raw URLs or images after cleaning."""

    column: str = "response"

    name = "leftover_links"
    reasons = ("leftover_link_or_image",)

    def score(self) -> pl.Expr:
        return without_code(self.column).str.count_matches(_LINK_OR_IMAGE).fill_null(0)

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(score > 0).then(pl.lit("leftover_link_or_image"))
