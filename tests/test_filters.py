"""Each step on real rows from ../shared/data (and on rows built to hit its edges)."""

from __future__ import annotations

import polars as pl
import pytest

from curation.filters.dedup import ExactDedup
from curation.filters.language import Language, detect_language
from curation.filters.length import Length, NonEmpty
from curation.filters.sampling import OnePerKey, StratifiedSample, allocate, split_quota
from curation.filters.score import MinScore, TopRanked
from curation.filters.style import FirstPerson, LeftoverLinks, OtherAnswerReferences
from curation.filters.text import ChoosePrompt, HtmlToMarkdown
from curation.filters.title import SelfContainedTitle
from curation.sources import stackexchange as se


@pytest.fixture(scope="module")
def beer(shared_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    lf = se.scan(shared_data / "stackexchange" / "beer.stackexchange.com.7z", cache_dir=cache)
    return HtmlToMarkdown("answer_html", "response").apply(lf).collect()


def _reasons(frame: pl.DataFrame, step) -> pl.Series:
    return frame.select(step.reason(step.score()).alias("r"))["r"]


def test_min_score_and_top_answer(beer):
    reasons = _reasons(beer, MinScore("answer_score", 10))
    assert (reasons.is_null() == (beer["answer_score"] >= 10)).all()
    top = _reasons(beer, TopRanked())
    assert (top.is_null() == (beer["answer_rank"] == 1)).all()
    assert set(top.drop_nulls().unique()) == {"not_top_answer"}


def test_a_real_first_person_answer_is_rejected_for_that_reason(beer):
    step = FirstPerson()
    frame = beer.with_columns(_reasons(beer, step).alias("reason"))
    first_person = frame.filter(pl.col("response").str.contains(r"\bI\b"))
    assert first_person.height > 100
    assert (first_person["reason"] == "first_person").all() or first_person.filter(
        pl.col("reason").is_null()
    )["response"].str.contains(r"`[^`]*\bI\b[^`]*`|```").all()  # only where the I is inside code
    row = frame.filter(pl.col("response").str.starts_with("I ")).row(0, named=True)
    assert row["reason"] == "first_person"
    clean = frame.filter(~pl.col("response").str.contains(r"(?i)\b(i|my|me|mine|myself)\b"))
    assert clean["reason"].is_null().all()


def test_first_person_ignores_code_and_counts_whole_words():
    frame = pl.DataFrame({"response": [
        "Use `I = 3` and ```\nprint(me)\n``` here.",   # only in code
        "Mining and meme and iMac are not first person.",  # not whole words
        "In my view this works.",                       # my
        "I'd suggest this.",                            # I'd
    ]})  # fmt: skip
    assert _reasons(frame, FirstPerson()).to_list() == [None, None, "first_person", "first_person"]


def test_other_answer_references_and_leftover_links(beer):
    refs = OtherAnswerReferences()
    frame = pl.DataFrame({"response": ["As mentioned above, yes.", "EDIT: fixed", "Brewing needs yeast.",
                                       "See the Accepted Answer."]})  # fmt: skip
    assert _reasons(frame, refs).to_list() == ["refers_to_other_answers"] * 2 + [None, "refers_to_other_answers"]
    real = beer.with_columns(_reasons(beer, refs).alias("r"))
    hit = real.filter(pl.col("response").str.to_lowercase().str.contains("other answers"))
    assert hit.height and (hit["r"] == "refers_to_other_answers").all()
    links = LeftoverLinks()
    frame = pl.DataFrame({"response": ["go to https://x.org now", "see www.example.com", "![a](b.png)",
                                       "plain text", "```\ncurl https://x.org\n```"]})  # fmt: skip
    assert _reasons(frame, links).to_list() == ["leftover_link_or_image"] * 3 + [None, None]


def test_real_code_blocks_survive_markdown_and_style_filters(shared_data, tmp_path):
    lf = se.scan(shared_data / "stackexchange" / "cardano.stackexchange.com", cache_dir=tmp_path)
    frame = HtmlToMarkdown("answer_html", "response").apply(lf.filter(pl.col("answer_html").str.contains("<pre"))).collect()
    assert frame.height > 50
    assert frame["response"].str.contains("```").all()
    code_only = frame.with_columns(_reasons(frame, FirstPerson()).alias("r")).filter(
        ~pl.col("response").str.replace_all(r"(?s)```.*?```", "").str.contains(r"\bI\b|(?i:\b(my|me|mine|myself)\b)")
    )
    assert code_only["r"].is_null().all()


def test_length_counts_characters_on_the_chosen_column():
    frame = pl.DataFrame({"response": ["a" * 1199, "a" * 1200, "한" * 1500, "a" * 4097], "answer_html": ["x"] * 4})
    assert _reasons(frame, Length("response", 1200, 4096)).to_list() == ["too_short", None, None, "too_long"]
    assert _reasons(frame, Length("answer_html", 1, 2)).to_list() == [None] * 4
    assert _reasons(pl.DataFrame({"prompt": ["q", " "], "response": ["a", "b"]}), NonEmpty()).to_list() == [
        None, "empty_text"]  # fmt: skip


def test_self_contained_title_heuristic(beer):
    titles = pl.DataFrame({"title": [
        "How does the alcohol content of beer affect its shelf life?", "What is this?", "Help with this",
        "Is it safe to drink beer stored in a hot car?", "Beer question", "Why do some beers taste sour",
    ]})  # fmt: skip
    assert _reasons(titles, SelfContainedTitle()).is_null().to_list() == [True, False, False, True, False, True]
    real = beer.unique("question_id").with_columns(_reasons(beer.unique("question_id"), SelfContainedTitle()).alias("r"))
    assert 0 < real["r"].null_count() < real.height


def test_language_detection_is_deterministic_and_runs_on_real_text(beer):
    english = beer.filter(pl.col("answer_rank") == 1).head(30)
    step = Language()
    first = english.select(step.score())
    second = english.select(step.score())
    assert first.equals(second)
    assert (first.to_series() == "en").sum() >= 28
    assert detect_language("La bière est une boisson alcoolisée obtenue par fermentation.") == "fr"
    frame = pl.DataFrame({"response": ["Beer is brewed from malted barley and hops in most countries.",
                                       "La cerveza se elabora con cebada malteada y lúpulo.", ""]})  # fmt: skip
    assert _reasons(frame, step).to_list() == [None, "language_not_en", "language_not_en"]


def test_exact_dedup_keeps_the_best_scored_copy():
    frame = pl.LazyFrame({"id": ["a", "b", "c", "d"], "response": ["Same text!", "same   TEXT", "other", "x"],
                          "answer_score": [5, 9, 1, 2]})  # fmt: skip
    kept = ExactDedup("response").apply(frame, seed=0).collect()
    assert kept["id"].to_list() == ["b", "c", "d"]


def test_one_per_key_is_seeded_and_independent_of_row_order():
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(200)], "site": ["s"] * 200, "question_id": [i // 4 for i in range(200)]})
    one = OnePerKey().apply(frame.lazy(), seed=1).collect().sort("id")
    shuffled = OnePerKey().apply(frame.sample(fraction=1.0, shuffle=True, seed=3).lazy(), seed=1).collect().sort("id")
    assert one.equals(shuffled) and one.height == 50
    other_seed = OnePerKey().apply(frame.lazy(), seed=2).collect().sort("id")
    assert not one.equals(other_seed)


def test_allocation_follows_temperature():
    sizes = {"big": 1000, "mid": 100, "small": 10}
    flat = allocate(sizes, 90, temperature=1e9)
    assert allocate(sizes, 30, temperature=1e9) == {"big": 10, "mid": 10, "small": 10}
    assert flat == {"big": 40, "mid": 40, "small": 10}  # uniform, the small group capped
    proportional = allocate(sizes, 111, temperature=1.0)
    assert proportional == {"big": 100, "mid": 10, "small": 1}
    tau3 = allocate(sizes, 200, temperature=3.0)  # weights 10 : 4.64 : 2.15
    assert sum(tau3.values()) == 200 and tau3["small"] == 10 and tau3["big"] > tau3["mid"] > tau3["small"]
    assert allocate({"a": 3}, 10, 3.0) == {"a": 3}
    assert split_quota(400, {"STEM": 0.5, "Other": 0.5}, {"STEM": 150, "Other": 1000}) == {"STEM": 150, "Other": 250}


def test_stratified_sample_quotas_and_order():
    rows = []
    for site, category, n in [("a", "STEM", 50), ("b", "STEM", 5), ("c", "Other", 40)]:
        rows += [{"id": f"{site}{i:03d}", "group": site, "category": category, "question_score": i} for i in range(n)]
    frame = pl.DataFrame(rows).lazy()
    step = StratifiedSample(size=20, temperature=3.0, order_by="question_score")
    kept = step.apply(frame, seed=0).collect()
    assert kept.group_by("category").len().sort("category").rows() == [("Other", 10), ("STEM", 10)]
    top_c = kept.filter(pl.col("group") == "c")["question_score"].sort(descending=True).to_list()
    assert top_c == list(range(39, 29, -1))  # the highest-scoring questions first
    assert step.apply(frame, seed=0).collect().equals(kept)


def test_choose_prompt_is_seeded_with_ratio():
    frame = pl.LazyFrame({"id": [f"id{i}" for i in range(1000)], "title": ["T"] * 1000,
                          "question_markdown": ["B"] * 999 + [""]})  # fmt: skip
    out = ChoosePrompt(title_ratio=0.5, seed=0).apply(frame).collect()
    share = (out["prompt_from"] == "title").mean()
    assert 0.44 < share < 0.56
    assert out["prompt"][-1] == "T"  # an empty body falls back to the title
    all_titles = ChoosePrompt(title_ratio=1.0).apply(frame).collect()
    assert (all_titles["prompt"] == "T").all()


def test_non_empty_reason_alone_equals_its_scored_reason_on_every_kind_of_space(beer):
    spaces = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000 and (chr(c).isspace() or chr(c) in "\u200b\ufeff\u180e\u2060")]
    texts = ["", None, "x", " x ", *spaces, *[s * 3 for s in spaces], *[s + "x" + s for s in spaces]]
    frame = pl.DataFrame({"title": texts, "answer_html": list(reversed(texts))}, schema={"title": pl.String, "answer_html": pl.String})
    frame = pl.concat([frame, beer.select("title", "answer_html")])
    step = NonEmpty(columns=("title", "answer_html"), label="structure")
    assert frame.select(step.reason_alone()).to_series().equals(_reasons(frame, step), check_names=False)
    assert frame.select(step.reason_alone()).to_series().drop_nulls().len() > 50  # some were blank


@pytest.mark.parametrize("min_words", [0, 1, 2, 4, 6])
def test_title_word_count_test_equals_counting_the_words(beer, min_words):
    odd = ["", None, "a", "a b c", "a  b\tc\nd", " a b c d ", "a\u00a0b\u2003c\u3000d", "a\u200bb c d", "¿Qué es esto? ¿Y esto?"]
    titles = pl.concat([pl.DataFrame({"title": odd}, schema={"title": pl.String}), beer.select("title")])
    step = SelfContainedTitle(min_words=min_words)
    counted = titles.select(
        (pl.col("title").fill_null("").str.strip_chars().str.count_matches(r"\S+") >= min_words).alias("enough")
    )["enough"]
    scored = titles.select(step.score().alias("s"))["s"]
    without_words = titles.select(SelfContainedTitle(min_words=0).score().alias("s"))["s"]
    assert scored.equals(counted & without_words, check_names=False)
