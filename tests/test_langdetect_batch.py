"""The batched langdetect gives langdetect's own answer for every text: real and adversarial ones."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from bs4 import BeautifulSoup

from curation.filters.language import Language, detect_language, detect_languages_shared
from curation.filters.style import without_code
from curation.sources import stackexchange
from curation.text.html_markdown import html_to_markdown
from curation.text.langdetect_batch import detect_languages, profiles


def _reference(texts: list, max_chars: int = 2000) -> list:
    return [detect_language(text, max_chars) for text in texts]


@pytest.fixture(scope="module")
def real_texts(shared_data: Path, tmp_path_factory) -> dict[str, list[str]]:
    """Texts as the filter meets them, from every kind of real dump: answers, comments, Korean, wikiHow."""
    cache = tmp_path_factory.mktemp("cache")
    answers = (
        stackexchange.scan(shared_data / "stackexchange" / "coffee.stackexchange.com", cache_dir=cache)
        .select("answer_html").head(250).collect()["answer_html"].to_list()
    )  # fmt: skip
    comments = [
        json.loads(line)["body"]
        for line in (shared_data / "reddit" / "askreddit_2016-05_threads" / "comments.ndjson").open(encoding="utf-8")
    ][:300]
    korean = []
    for line in (shared_data / "korean" / "public_mwp_data_v2_reasoning-test.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        korean += [row["question"], row["reason"]]
        if len(korean) >= 200:
            break
    wikihow = []
    for page in sorted((shared_data / "wikihow").glob("*.html")):
        text = BeautifulSoup(page.read_text(encoding="utf-8"), "lxml").get_text(" ")
        wikihow += [text[i : i + 700] for i in range(0, min(len(text), 7000), 700)]
    return {
        "stackexchange": [html_to_markdown(html) for html in answers],
        "reddit": comments,
        "korean": korean,
        "wikihow": wikihow,
    }


def test_same_answers_as_langdetect_on_real_texts(real_texts: dict[str, list[str]]):
    for source, texts in real_texts.items():
        assert len(texts) >= 60, source
        expected = _reference(texts)
        assert detect_languages(texts) == expected, source
    # the real texts do exercise more than one answer
    korean = _reference(real_texts["korean"])
    assert korean.count("ko") > len(korean) // 2
    assert _reference(real_texts["stackexchange"]).count("en") > 200


def _adversarial(rng: random.Random) -> str:
    """A text mixing what langdetect treats specially: scripts, capitals, URLs, e-mails, marks, spaces."""
    pieces = [
        lambda: " ".join(rng.choice(["the", "and", "coffee", "beans", "brew", "water", "is", "of"]) for _ in range(5)),
        lambda: " ".join(rng.choice(["NASA", "USA", "HTML", "OK", "I", "ABC", "CPU"]) for _ in range(3)),
        lambda: "McDonald iPhone eBay XMLHttpRequest ABCdef",
        lambda: "see https://example.com/a_b?c=d&e=f#g or www.x.org, mail me@mail.example.com now",
        lambda: "Tie\u0302\u0301ng Vie\u0323\u0302t co\u0301 da\u0302\u0301u a\u0300 e\u0303 o\u0309",  # base + combining
        lambda: "Tiếng Việt có dấu ạ ả ấ ầ ẩ ẫ ậ ắ ằ",
        lambda: "façade naïve crème brûlée ¿qué? ¡sí! « guillemets » µ ß ÷ ×",
        lambda: "Română: ș ț Ș Ț şi ţ",
        lambda: "dash \u2014 quote \u201cx\u201d ellipsis\u2026 \u2030 \u2020",
        lambda: "العربية فارسی یک دو ی ي",
        lambda: "ひらがな カタカナ ㄅㄆㄇ ㆠㆡ 漢字 中文 测试 丁七万",
        lambda: "한국어 텍스트 입니다 가나다 ㄱㄴㄷ",
        lambda: "Русский текст ПРИВЕТ Ελληνικά ΑΒΓ αβγ עברית हिन्दी ไทย",
        lambda: "emoji \U0001f600 \U0001f44d astral \U00020000\U0002a6d6 math \U0001d400\U0001d401",
        lambda: "ǅemal ǈ ǋ İstanbul ß ẞ Ⅰ Ⅱ Ⅻ ⒶⒷⓒ",
        lambda: "lone \ud800 surrogate \udfff here",
        lambda: "  double  spaces\t\ttabs\n\nnew lines \r\n  ",
        lambda: "1234 5678 !@#$ %^&* ()_+ [] {} <> ~`",
        lambda: "A",
        lambda: "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(1, 40))),
    ]
    return " ".join(rng.choice(pieces)() for _ in range(rng.randrange(1, 12)))


def test_same_answers_as_langdetect_on_adversarial_texts():
    rng = random.Random(20261206)
    texts = [_adversarial(rng) for _ in range(400)]
    texts += [None, "", "   ", "12345 !!", "x", "I", "AB", "Ab", "aB", "a b", " a", "a ", "Ⅰ", "\ud800"]
    for max_chars in (2000, 40):
        expected = _reference(texts, max_chars)
        assert detect_languages(texts, max_chars) == expected
        assert len(set(expected)) > 8  # many different answers, None and "unknown" among them
    assert None in expected


def test_a_non_latin_text_with_latin_words_drops_them_as_langdetect_does():
    # More than twice as many non-Latin characters as Latin ones: langdetect removes the Latin letters.
    texts = ["これは日本語の文章です。ひらがなとカタカナと漢字 with some English words in it " * 3,
             "Это русский текст с английскими словами inside it and more words here " * 2]  # fmt: skip
    assert detect_languages(texts) == _reference(texts) == ["ja", "ru"]


def test_batches_shared_with_helpers_keep_order_and_answers(real_texts: dict[str, list[str]], two_processes):
    texts = real_texts["reddit"][:150] + real_texts["korean"][:50]
    expected = _reference(texts)
    before = sum(h.values_done for h in two_processes)
    assert detect_languages_shared(texts) == expected
    assert sum(h.values_done for h in two_processes) > before, "the helper took batches"


def test_language_filter_uses_the_batches(real_texts: dict[str, list[str]]):
    texts = real_texts["korean"][:40] + real_texts["stackexchange"][:40]
    frame = pl.DataFrame({"response": texts})
    score = frame.select(Language(languages=("ko",)).score().alias("lang"))["lang"].to_list()
    prose = frame.select(without_code("response"))["response"].to_list()  # the filter reads prose only
    assert score == _reference(prose)
    assert score.count("ko") >= 30 and score.count("en") >= 30


def test_profiles_read_from_the_files_equal_langdetects_factory():
    from langdetect import detector_factory

    detect_language("load langdetect's own factory")
    factory = detector_factory._factory
    p = profiles()
    assert p.langs == factory.langlist and len(p.langs) == 55
    table = factory.word_lang_prob_map
    assert p.words == [w for w in table if 1 <= len(w) <= 3]
    assert np.array_equal(p.matrix, np.array([table[w][: len(p.langs)] for w in p.words]))
    assert np.unique(p.keys).size == len(p.words)  # the packed keys tell every n-gram apart
