"""Language identification with langdetect, made deterministic, on the rows still alive.

langdetect samples n-grams at random; seeding its factory makes the result a function of the
text alone. It runs in Python per row, so the pipeline calls it only after the cheap filters.
Code blocks are removed first (code is not a language), and only the first ``max_chars``
characters are read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial

import polars as pl

from curation.filters.base import Filter
from curation.filters.style import without_code
from curation.rowmap import map_values


#: Held while langdetect loads its profiles: its factory is visible before they are all loaded, so
#: a detection must not start meanwhile (it would see part of the languages).
_PROFILES = threading.Lock()


def load_profiles() -> None:
    """Load langdetect's language profiles now (once per process, about 0.3 s)."""
    with _PROFILES:
        from langdetect import detector_factory

        detector_factory.init_factory()


def detect_language(text: str | None, max_chars: int = 2000) -> str | None:
    """ISO 639-1 code of ``text`` (e.g. ``en``, ``ko``), or None when there is nothing to detect."""
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    load_profiles()
    DetectorFactory.seed = 0
    if not text or not text.strip():
        return None
    try:
        return detect(text[:max_chars])
    except LangDetectException:
        return None


def language_expr(expr: pl.Expr, max_chars: int = 2000) -> pl.Expr:
    """Polars expression: the detected language of each value."""
    return expr.map_batches(
        lambda s: pl.Series(s.name, map_values(partial(detect_language, max_chars=max_chars), s.to_list()),
                            dtype=pl.String),
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
