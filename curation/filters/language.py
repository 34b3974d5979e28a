"""Language identification with langdetect, made deterministic, on the rows still alive.

langdetect samples n-grams at random; seeding its factory makes the result a function of the
text alone. `detect_language` is langdetect itself, one text at a time; the filter runs
`curation.text.langdetect_batch` instead (the same answers, a batch at a time, ~3x faster), on
batches shared with the helper processes, and only after the cheap filters. Code blocks are
removed first (code is not a language), and only the first ``max_chars`` characters are read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial

import polars as pl

from curation.filters.base import Filter
from curation.filters.style import without_code
from curation.rowmap import map_values, worker_count
from curation.text.langdetect_batch import detect_languages


def load_profiles() -> None:
    """Load the language profiles the filter uses, as arrays (once per process, about 0.2 s)."""
    from curation.text.langdetect_batch import profiles

    profiles()


#: Held while langdetect loads its own factory: the factory is visible before its profiles are all
#: loaded, so a detection must not start meanwhile (it would see part of the languages).
_FACTORY = threading.Lock()


def _langdetect_factory() -> None:
    with _FACTORY:
        from langdetect import detector_factory

        detector_factory.init_factory()


def detect_language(text: str | None, max_chars: int = 2000) -> str | None:
    """ISO 639-1 code of ``text`` (e.g. ``en``, ``ko``), or None when there is nothing to detect.

    langdetect itself, one text at a time (the reference `detect_languages` is tested against).
    """
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    _langdetect_factory()
    DetectorFactory.seed = 0
    if not text or not text.strip():
        return None
    try:
        return detect(text[:max_chars])
    except LangDetectException:
        return None


#: Texts per batch handed to `detect_languages`, at most and at least (batches are shared with the
#: helper processes; a batch's cost is partly per step of its slowest text, so not too small).
BATCH_TEXTS = 32
MIN_BATCH_TEXTS = 16


def detect_languages_shared(texts: list[str | None], max_chars: int = 2000) -> list[str | None]:
    """`detect_language` of each text: batches of `detect_languages` (same results), on every core."""
    # at least two batches per process when there are enough texts, so that a few texts are shared too
    size = max(MIN_BATCH_TEXTS, min(BATCH_TEXTS, -(-len(texts) // (2 * worker_count()))))
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]
    return [code for batch in map_values(partial(detect_languages, max_chars=max_chars), batches) for code in batch]


def language_expr(expr: pl.Expr, max_chars: int = 2000) -> pl.Expr:
    """Polars expression: the detected language of each value."""
    return expr.map_batches(
        lambda s: pl.Series(s.name, detect_languages_shared(s.to_list(), max_chars), dtype=pl.String),
        return_dtype=pl.String,
    )


@dataclass(frozen=True)
class Language(Filter):
    """Keep rows whose ``column`` is written in one of ``languages``."""

    column: str = "response"
    languages: tuple[str, ...] = ("en",)
    max_chars: int = 2000

    name = "language"
    cheap = False

    def warm_up(self) -> None:
        """Load the profiles in the background (the pipeline calls this while cheap steps run)."""
        threading.Thread(target=load_profiles, name="langdetect-profiles", daemon=True).start()

    @property
    def reasons(self) -> tuple[str, ...]:
        return ("language_not_" + "_".join(self.languages),)

    def score(self) -> pl.Expr:
        return language_expr(without_code(self.column), self.max_chars)

    def reason(self, score: pl.Expr) -> pl.Expr:
        return pl.when(score.is_null() | ~score.is_in(list(self.languages))).then(pl.lit(self.reasons[0]))
