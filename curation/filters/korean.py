"""Korean-aware steps: script check, untranslated-English leftovers, chain-of-thought formatting.

Lengths need nothing special: `Length` counts characters (``str.len_chars``), and `CoTFormat`
NFC-normalises the text first, so a Hangul syllable counts once however it was encoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curation.filters.base import Filter, Transform
from curation.sources.kocot import ANSWER_LINE, cot_prompt_response
from curation.text.korean import hangul_ratio, is_korean, nfc, untranslated_english


@dataclass(frozen=True)
class KoreanScript(Filter):
    """Keep rows whose ``column`` is Korean by script: Hangul is at least ``min_ratio`` of its letters."""

    column: str = "prompt"
    min_ratio: float = 0.25

    name = "korean_script"
    reasons = ("not_korean",)

    def score(self) -> pl.Expr:
        return hangul_ratio(self.column).fill_null(0.0)

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(~is_korean(self.column, self.min_ratio).fill_null(False)).then(pl.lit("not_korean"))


@dataclass(frozen=True)
class UntranslatedEnglish(Filter):
    """Drop Korean text holding a run of ``min_words`` or more English words (translation leftovers)."""

    column: str = "response"
    min_words: int = 4

    name = "untranslated_english"
    reasons = ("untranslated_english",)

    def score(self) -> pl.Expr:
        return untranslated_english(self.column, self.min_words).fill_null(False)

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(score).then(pl.lit("untranslated_english"))


@dataclass(frozen=True)
class CoTFormat(Transform):
    """prompt/response for the with- or without-chain-of-thought arm (see `curation.sources.kocot`)."""

    with_cot: bool = True
    trigger: str | None = None
    answer_line: str = ANSWER_LINE

    @property
    def name(self) -> str:
        return "format_cot" if self.with_cot else "format_no_cot"

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        lf = lf.with_columns(nfc(c).alias(c) for c in ("question", "rationale", "answer"))
        return lf.with_columns(**cot_prompt_response(self.with_cot, self.trigger, self.answer_line))
