"""Korean text measures as Polars expressions: lengths, script ratios, leftover English.

Why these exist: English-centric heuristics go wrong on Korean. Byte lengths count a Hangul
syllable as 3, whitespace-word counts are meaningless for an agglutinative language, and
machine-translated sets (KoCoT_2000 is DeepL output) keep untranslated English sentences that a
language filter on the whole text does not see. Every helper takes a column name or an
expression and returns an expression, so steps compose them and Polars runs them columnar.

Normalisation: Hangul can be stored precomposed (one code point per syllable, NFC) or decomposed
into conjoining jamo (two or three code points per syllable, NFD, as macOS file names and some
scrapes do). ``str.len_chars`` counts code points, so every measure here applies :func:`nfc`
first: "한국어" is 3 characters whether it arrived as 3 or 8 code points. After NFC, a Hangul
syllable is exactly one character, the same as Python's ``len`` on the NFC string.

Ratios are over *letters* (Unicode category L), not over all characters: digits, punctuation and
spaces say nothing about the language, and a Korean math rationale is full of them. A text with
no letters has a null ratio (undefined), and null input gives null output throughout.
"""

from __future__ import annotations

import polars as pl

#: Hangul script: syllables, conjoining and compatibility jamo (after NFC nearly all syllables).
HANGUL = r"\p{Hangul}"
#: Latin script letters, accented ones included.
LATIN = r"\p{Latin}"
#: Any letter of any script: the denominator of the script ratios.
LETTER = r"\p{L}"

#: One Latin word: letters, optionally joined by an apostrophe or hyphen ("don't", "well-known").
_WORD = r"\p{Latin}+(?:['’\-]\p{Latin}+)*"
#: Between two words of a run: optional light punctuation, then spaces (not newlines).
_SEP = r"[,;:]?[ \t]+"
#: A word of two or more lowercase letters: what tells a sentence from an acronym or option list.
_LOWER_WORD = r"(?:^|[^\p{L}])\p{Ll}{2,}(?:$|[^\p{L}])"
#: Code is not prose: fenced blocks and inline code are removed before looking for English.
_CODE = r"(?s)```.*?```|`[^`\n]*`"


def _expr(expr: pl.Expr | str) -> pl.Expr:
    return pl.col(expr) if isinstance(expr, str) else expr


def nfc(expr: pl.Expr | str) -> pl.Expr:
    """Unicode NFC: compose decomposed jamo into syllables so one syllable is one character."""
    return _expr(expr).str.normalize("NFC")


def char_len(expr: pl.Expr | str) -> pl.Expr:
    """Length in characters after NFC (a Hangul syllable counts 1; equals Python ``len`` on NFC)."""
    return nfc(expr).str.len_chars()


def hangul_count(expr: pl.Expr | str) -> pl.Expr:
    """Number of Hangul characters after NFC."""
    return nfc(expr).str.count_matches(HANGUL)


def _share(text: pl.Expr, script: str) -> pl.Expr:
    """Share of ``text``'s letters in ``script``; null when it has no letter or is null.

    Each costly sub-expression appears once (no ``when(letters > 0)`` re-reading the counts,
    no ``fill_nan``, which repeats its input): eager selects do not de-duplicate them.
    """
    return text.str.count_matches(script) / text.str.count_matches(LETTER).replace(0, None)


def hangul_ratio(expr: pl.Expr | str) -> pl.Expr:
    """Share of letters that are Hangul (0..1); null when the text has no letter."""
    return _share(nfc(expr), HANGUL)


def latin_ratio(expr: pl.Expr | str) -> pl.Expr:
    """Share of letters that are Latin (0..1); null when the text has no letter."""
    return _share(nfc(expr), LATIN)


def is_korean(expr: pl.Expr | str, min_ratio: float = 0.25) -> pl.Expr:
    """Cheap script-based language check: at least ``min_ratio`` of the letters are Hangul.

    The default is low on purpose: a Hangul syllable carries about as much as three Latin
    letters, so Korean prose with English terms ("머신 러닝(machine learning)은 중요합니다.",
    0.4) stays Korean, while English text quoting a Korean word ("I love 김치 and bibimbap",
    0.1) does not. A text without letters is not Korean (False); null text stays null. This is
    the fast path; langdetect agrees on real Korean rows (tests) but costs a Python call per row.
    """
    korean = (_share(nfc(expr), HANGUL) >= min_ratio).fill_null(False)
    return pl.when(_expr(expr).is_not_null()).then(korean)


def _run_pattern(min_words: int) -> str:
    if min_words < 2:
        raise ValueError(f"min_words must be at least 2, got {min_words}")
    return rf"{_WORD}(?:{_SEP}{_WORD}){{{min_words - 1},}}"


def _prose(expr: pl.Expr | str) -> pl.Expr:
    """NFC text with code (fenced blocks, inline code) blanked out: code is not prose."""
    return nfc(expr).str.replace_all(_CODE, " ")


def _runs(prose: pl.Expr, min_words: int) -> pl.Expr:
    return prose.str.extract_all(_run_pattern(min_words)).list.filter(
        pl.element().str.contains(_LOWER_WORD)
    )


def english_runs(expr: pl.Expr | str, min_words: int = 4) -> pl.Expr:
    """The sentence-like runs of ``min_words`` or more Latin words (list of str), code excluded.

    A run is words separated only by spaces and light punctuation (``,;:``) on one line, holding
    at least one all-lowercase word of two or more letters: "the cat sat on the mat" is a run,
    "A, B, C, D" (option letters) and "HTML CSS JS API" (acronyms) are not.
    """
    return _runs(_prose(expr), min_words)


def untranslated_english(
    expr: pl.Expr | str, min_words: int = 4, min_hangul_ratio: float = 0.5
) -> pl.Expr:
    """Flag machine-translation leftovers: an English sentence inside text that is Korean.

    True when the text holds a run from :func:`english_runs` and what is left once the Latin
    runs are cut out is Korean (at least ``min_hangul_ratio`` of its letters are Hangul). Judging
    the rest rather than the whole text keeps a long leftover ("그는 말했다: I am going to the
    store now.") from hiding itself by lowering the Hangul share, while English text that quotes
    a Korean word is not flagged (its rest is not Korean). Short English inside Korean ("Python",
    "machine learning", units, variables, option letters, code) is normal and not flagged; an
    untranslated title of four or more words is. Null text gives null.
    """
    prose = _prose(expr)
    has_run = _runs(prose, min_words).list.len() > 0
    rest = prose.str.replace_all(_run_pattern(min_words), " ")
    korean_rest = (_share(rest, HANGUL) >= min_hangul_ratio).fill_null(False)
    return pl.when(_expr(expr).is_not_null()).then(has_run & korean_rest)
