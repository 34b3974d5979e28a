"""Korean text measures: NFC lengths, script ratios, the language check, leftover English."""

from __future__ import annotations

import json
import unicodedata

import polars as pl
import pytest

from curation.text import korean

REAL = "korean/public_mwp_data_v2_reasoning-test.jsonl"


@pytest.fixture(scope="module")
def real(shared_data) -> pl.DataFrame:
    """The real Korean CoT rows (question and machine-written rationale)."""
    with open(shared_data / REAL, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return pl.DataFrame({"question": [r["question"] for r in rows], "reason": [r["reason"] for r in rows]})


def _apply(expr: pl.Expr, values: list) -> list:
    return pl.DataFrame({"t": values}, schema={"t": pl.String}).select(expr)["t"].to_list()


# --------------------------------------------------------------------------- lengths and NFC


def test_decomposed_hangul_counts_one_character_per_syllable():
    composed = "한국어 문장입니다"
    decomposed = unicodedata.normalize("NFD", composed)
    assert len(decomposed) > len(composed)  # the fixture really is decomposed
    assert _apply(korean.char_len("t"), [composed, decomposed, None]) == [9, 9, None]
    assert _apply(korean.nfc("t"), [decomposed]) == [composed]
    assert _apply(korean.hangul_count("t"), [composed, decomposed, "abc 1"]) == [8, 8, 0]
    # Without NFC, Polars counts the jamo: this is the bug the helper exists for.
    assert _apply(pl.col("t").str.len_chars(), [decomposed]) == [len(decomposed)]


def test_real_lengths_equal_python_len_after_nfc(real):
    for column in ("question", "reason"):
        texts = real[column].to_list()
        expected = [len(unicodedata.normalize("NFC", t)) for t in texts]
        assert real.select(korean.char_len(column))[column].to_list() == expected
        decomposed = pl.DataFrame({column: [unicodedata.normalize("NFD", t) for t in texts]})
        assert decomposed.select(korean.char_len(column))[column].to_list() == expected
        # Byte length would overcount Hangul threefold; character length does not.
        assert real.select(pl.col(column).str.len_bytes())[column].sum() > 2 * sum(expected)


# --------------------------------------------------------------------------- script ratios


def test_ratios_are_over_letters():
    values = ["한국어", "abc", "가나 ab", "x = 3 + 4 = 7인 수", "123 + 4", None]
    assert _apply(korean.hangul_ratio("t"), values) == [1.0, 0.0, 0.5, 2 / 3, None, None]
    assert _apply(korean.latin_ratio("t"), values) == [0.0, 1.0, 0.5, 1 / 3, None, None]
    decomposed = unicodedata.normalize("NFD", "한국 ab")
    assert _apply(korean.hangul_ratio("t"), [decomposed]) == [0.5]  # syllables, not jamo


def test_is_korean_on_crafted_text():
    values = [
        "머신 러닝(machine learning)은 중요합니다.",
        "HTML CSS JS API를 배웁니다.",
        "I love 김치 and bibimbap.",
        "The whole text is English.",
        "123 + 4",
        None,
    ]
    assert _apply(korean.is_korean("t"), values) == [True, True, False, False, False, None]
    assert _apply(korean.is_korean("t", min_ratio=0.5), values[:2]) == [False, False]


def test_real_rows_are_korean_by_script_and_by_langdetect(real):
    from langdetect import DetectorFactory, detect

    assert real.select(korean.is_korean("question"))["question"].all()
    # Two real rationales are pure formulas ("A = 426/2 = 213 ..."): no letter of any language.
    formulas = real.filter(~korean.is_korean("reason"))["reason"].to_list()
    assert len(formulas) == 2 and all("=" in f and not any("가" <= c <= "힣" for c in f) for f in formulas)
    DetectorFactory.seed = 0  # langdetect samples; the seed makes it deterministic
    sample = real.gather_every(24)
    languages = [detect(text) for text in sample["question"].to_list() + sample["reason"].to_list()]
    assert len(languages) == 60 and set(languages) == {"ko"}


# --------------------------------------------------------------------------- leftover English


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("이 문장은 The quick brown fox jumps over the lazy dog 라는 뜻입니다.", True),
        ("그는 말했다: I am going to the store now.", True),
        ("반지의 제왕(The Lord of the Rings)은 소설이다.", True),
        ("코끼리는 큽니다. An elephant is far too large to fit. 따라서 말이 안 됩니다.", True),
        ("정답은 A, B, C, D 중 하나입니다.", False),
        ("HTML CSS JS API 를 배웁니다.", False),
        ("머신 러닝(machine learning)은 중요합니다.", False),
        ("파이썬에서 `for i in range(10)` 을 씁니다.", False),
        ("코드:\n```\nfor item in the list do print it\n```\n입니다.", False),
        ("The whole text is English and nothing else here.", False),
        ("I love 김치 and bibimbap very much, it is tasty.", False),
        ("속도 = 313.6m / 35초 = 8.96m/s입니다.", False),
        (None, None),
    ],
)
def test_untranslated_english_on_crafted_text(text, flag):
    assert _apply(korean.untranslated_english("t"), [text]) == [flag]


def test_english_runs_and_min_words():
    text = "결과는 as shown above 입니다. 즉 the cat sat on the mat 이라는 예입니다."
    assert _apply(korean.english_runs("t"), [text]) == [["the cat sat on the mat"]]
    assert _apply(korean.english_runs("t", min_words=3), [text]) == [["as shown above", "the cat sat on the mat"]]
    assert _apply(korean.untranslated_english("t", min_words=7), [text]) == [False]
    with pytest.raises(ValueError, match="min_words"):
        korean.english_runs("t", min_words=1)


def test_real_text_has_no_leftovers_until_one_is_spliced_in(real):
    for column in ("question", "reason"):
        assert not real.select(korean.untranslated_english(column))[column].any()
    # Splice an English sentence into every real rationale, after its first sentence.
    spliced = real.select(
        pl.col("reason").str.replace(r"([.!?]) ", "${1} This step was not translated at all. ", literal=False, n=1)
    ).filter(pl.col("reason").str.contains("not translated"))
    assert spliced.height > 600
    flags = spliced.select(korean.untranslated_english("reason"))["reason"]
    assert flags.all()
