"""Sampling while filtering (`FilteredSample`, `pipeline.walk`) equals the eager definition.

Eager: run every check on every eligible row, then take per (stratum, group) the first ``take``
passing rows in priority order, ``take`` from the allocation with weights = eligible rows and
caps = passing rows. The walk must give exactly that, whatever its batch sizes, while checking
fewer rows.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import polars as pl
import pytest

from curation import pipeline
from curation.filters.base import Transform, seeded_unit
from curation.filters.length import Length
from curation.filters.sampling import FilteredSample, StratifiedSample, allocate, split_quota
from curation.filters.score import MinScore
from curation.recipes.stackexchange import LIMA
from curation.sources import stackexchange as se

# --------------------------------------------------------------------------- allocation with lazy caps


def _allocate_before(sizes: dict[str, int], total: int, temperature: float | None) -> dict[str, int]:
    """`allocate` as it was before caps could differ from sizes (the reference for the refactor)."""
    alloc = {g: 0 for g in sizes}
    left = min(total, sum(sizes.values()))
    power = 0.0 if temperature is None else (1.0 / temperature if temperature > 0 else 1.0)
    while left > 0:
        active = [g for g in sorted(sizes) if alloc[g] < sizes[g]]
        if not active:
            break
        weight = {g: float(sizes[g]) ** power for g in active}
        total_weight = sum(weight.values())
        exact = {g: left * weight[g] / total_weight for g in active}
        give = {g: min(math.floor(exact[g] + 1e-6), sizes[g] - alloc[g]) for g in active}
        if sum(give.values()) > left:
            give = {g: min(math.floor(exact[g]), sizes[g] - alloc[g]) for g in active}
        if sum(give.values()) == 0:
            for g in sorted(active, key=lambda g: (-(exact[g] - math.floor(exact[g])), g))[:left]:
                give[g] += 1
        for g, k in give.items():
            alloc[g] += k
        left -= sum(give.values())
    return alloc


def _lazy(caps: dict, asked: list | None = None):
    def cap(g, k):
        if asked is not None:
            asked.append((g, k))
        return min(caps.get(g, 0), k)

    return cap


def test_allocate_is_unchanged_without_caps_and_lazy_caps_equal_known_caps():
    rng = random.Random(3)
    for _ in range(3000):
        groups = [f"g{i}" for i in range(rng.randint(1, 7))]
        sizes = {g: rng.choice([0, 1, 2, 5, 17, 100, 1000, rng.randint(0, 3000)]) for g in groups}
        total = rng.randint(0, 1500)
        temperature = rng.choice([None, 1.0, 3.0, 0.5, 1e9])
        assert allocate(sizes, total, temperature) == _allocate_before(sizes, total, temperature)
        caps = {g: rng.randint(0, n) for g, n in sizes.items()}
        known = allocate(sizes, total, temperature, caps)
        assert allocate(sizes, total, temperature, _lazy(caps)) == known
        assert sum(known.values()) == min(total, sum(caps.values()))
        assert all(known[g] <= caps[g] for g in groups)


def test_split_quota_with_lazy_availability():
    rng = random.Random(5)
    for _ in range(2000):
        strata = {f"s{i}": rng.random() for i in range(rng.randint(1, 4))}
        available = {s: rng.choice([0, 3, 50, rng.randint(0, 500)]) for s in strata}
        total = rng.randint(0, 800)
        known = split_quota(total, strata, available)
        assert split_quota(total, strata, _lazy(available)) == known
    assert split_quota(400, {"STEM": 0.5, "Other": 0.5}, _lazy({"STEM": 150, "Other": 1000})) == {
        "STEM": 150, "Other": 250}  # fmt: skip


# --------------------------------------------------------------------------- the walk on synthetic rows

SEEN: list[int] = []


@dataclass(frozen=True)
class CountRows(Transform):
    """A costly transform that records how many rows it is given (and writes ``text``)."""

    name = "count_rows"
    cheap = False

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        def count(s: pl.Series) -> pl.Series:
            SEEN.append(s.len())
            return pl.Series(s.name, ["x" * (v % 7) for v in s.to_list()], dtype=pl.String)

        return lf.with_columns(pl.col("quality").map_batches(count, return_dtype=pl.String).alias("text"))


CHECKS = (CountRows(), MinScore("quality", 6), Length("text", 2, 5))


def _frame(seed: int) -> pl.DataFrame:
    """Groups of various sizes and pass rates: some pass nothing, some run dry, some are huge."""
    rng = random.Random(seed)
    rows = []
    spec = [("STEM", "a", 400, 0.5), ("STEM", "b", 30, 0.9), ("STEM", "c", 12, 0.0), ("STEM", "d", 200, 0.05),
            ("Other", "e", 900, 0.3), ("Other", "f", 3, 1.0), ("Other", "g", 50, 0.2)]  # fmt: skip
    for category, group, n, p in spec:
        for i in range(n):
            good = rng.random() < p
            quality = rng.choice([6, 7, 8, 9, 12, 13]) if good else rng.choice([0, 1, 2, 3, 4, 5, 7, 14])
            rows.append({"id": f"{group}{i:04d}", "group": group, "category": category,
                         "question_score": rng.randint(0, 30), "quality": quality})  # fmt: skip
    return pl.DataFrame(rows).sample(fraction=1.0, shuffle=True, seed=seed)


def eager(frame: pl.DataFrame, step: FilteredSample, seed: int) -> pl.Series:
    """Every check on every row (the pipeline's own path), then the top ``take`` passing rows per group."""
    s = step.sample
    passing = pipeline.run(frame.lazy(), list(step.checks), seed=seed).kept.select("id")
    ranked = frame.with_columns(s.stratum_expr().alias("_stratum"), seeded_unit(seed).alias("_u"))
    sizes: dict = {}
    for stratum, group, n in ranked.group_by("_stratum", s.group).len().iter_rows():
        sizes.setdefault(stratum, {})[group] = n
    good = ranked.join(passing, on="id", how="semi")
    caps = {(st, g): n for st, g, n in good.group_by("_stratum", s.group).len().iter_rows()}
    take = s.quotas(sizes, caps=lambda key, k: min(caps.get(key, 0), k))
    order, descending = s.priority()
    chosen = [
        rows.sort(order, descending=descending, nulls_last=True).head(take.get(key, 0))
        for key, rows in good.partition_by("_stratum", s.group, as_dict=True).items()
    ]
    return pl.concat(chosen)["id"].sort() if chosen else pl.Series("id", [], pl.String)


SAMPLES = [
    StratifiedSample(size=40),
    StratifiedSample(size=300),  # STEM runs short: its surplus goes to Other
    StratifiedSample(size=5000),  # everything that passes
    StratifiedSample(size=25, strata=None, shares=(), temperature=1.0, order_by=None),
    StratifiedSample(size=60, shares=(), temperature=None),
    StratifiedSample(size=9, shares=(("Other", 0.8), ("STEM", 0.2)), order_by=None),
]


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"size{s.size}-{s.strata}-{s.order_by}" for s in SAMPLES])
@pytest.mark.parametrize("seed", [0, 7])
def test_the_walk_keeps_the_eager_rows_whatever_the_batch_size(sample, seed):
    frame = _frame(seed)
    expected = eager(frame, FilteredSample(checks=CHECKS, sample=sample), seed)
    results = []
    for min_batch in (1, 5, 64, 10_000):
        step = FilteredSample(checks=CHECKS, sample=sample, min_batch=min_batch)
        SEEN.clear()
        done = pipeline.walk(frame, step, seed)
        assert done.kept["id"].sort().equals(expected), min_batch
        assert sum(SEEN) == done.info["checked"]["count_rows"]  # every row checked once at most
        results.append(done)
    first = results[0]
    for other in results[1:]:  # the funnel and the rejects depend on the eager definition only
        assert other.entries == first.entries
        assert other.rejects.sort("id").equals(first.rejects.sort("id"))
        assert other.kept.sort("id").equals(first.kept.sort("id"))
    previous = frame.height
    for entry in first.entries:
        assert entry["rows_in"] == previous
        assert entry["rows_in"] - entry["rows_out"] == sum(entry["dropped"].values())
        previous = entry["rows_out"]
    assert previous == first.kept.height == expected.len()
    assert first.rejects.height + first.kept.height == frame.height
    assert first.entries[0]["dropped"].get("not_sampled", 0) == frame.height - first.info["reached"]


def test_small_samples_check_a_fraction_of_the_rows():
    frame = _frame(1)
    step = FilteredSample(checks=CHECKS, sample=StratifiedSample(size=40))
    SEEN.clear()
    done = pipeline.walk(frame, step, 1)
    assert done.kept.height == 40
    assert done.info["reached"] <= sum(SEEN) < frame.height / 2, (sum(SEEN), frame.height)


def test_the_walk_on_no_rows_keeps_the_schema():
    frame = _frame(0).head(0)
    done = pipeline.walk(frame, FilteredSample(checks=CHECKS, sample=StratifiedSample(size=4)), 0)
    assert done.kept.height == 0 and "text" in done.kept.columns and "score__min_quality" in done.kept.columns


# --------------------------------------------------------------------------- the lima recipe on real rows


@pytest.fixture(scope="module")
def eligible(shared_data, tmp_path_factory) -> tuple[pl.DataFrame, list, pl.LazyFrame]:
    """The real dumps' rows that reach the lima recipe's sampler (cheap filters, dedup, category)."""
    se_dir = shared_data / "stackexchange"
    dumps = [se_dir / "beer.stackexchange.com.7z", se_dir / "cardano.stackexchange.com",
             se_dir / "coffee.stackexchange.com", se_dir / "datascience.meta.stackexchange.com",
             se_dir / "variants" / "ai.stackexchange.com-reserialized"]  # fmt: skip
    lf = se.scan(dumps, cache_dir=tmp_path_factory.mktemp("cache"), include_meta=True)
    steps = LIMA.replace(min_answer_score=1, self_contained_title=False, size=60).steps()
    at = next(i for i, s in enumerate(steps) if isinstance(s, FilteredSample))
    return pipeline.run(lf, steps[:at], seed=LIMA.seed).kept, steps, lf


@pytest.mark.parametrize("size", [8, 40, 400])
def test_lima_walk_on_real_rows_equals_the_eager_definition(eligible, size):
    frame, steps, _ = eligible
    step = next(s for s in steps if isinstance(s, FilteredSample))
    step = FilteredSample(checks=step.checks, sample=StratifiedSample(**{**step.sample.__dict__, "size": size}))
    done = pipeline.walk(frame, step, LIMA.seed)
    expected = eager(frame, step, LIMA.seed)
    assert done.kept["id"].sort().equals(expected)
    assert done.kept.height == min(size, expected.len()) > 0
    checked = done.info["checked"]
    assert checked["length_response"] >= done.info["reached"]
    skipped = done.info["skipped"]["html_to_markdown_answer_html"]  # too short by the HTML's bound alone
    assert skipped > 0 and checked["html_to_markdown_answer_html"] + skipped == checked["length_response"]
    if size <= 40:  # the costly steps see fewer rows than the eager run gives them
        assert checked["html_to_markdown_answer_html"] < frame.height / 2
        assert checked["language"] < pipeline.run(frame.lazy(), list(step.checks[:-1])).kept.height


def test_the_whole_lima_recipe_keeps_the_eager_rows_and_its_funnel_adds_up(eligible):
    frame, steps, lf = eligible
    result = pipeline.run(lf, steps, seed=LIMA.seed, keep_rejects=True)
    step = next(s for s in steps if isinstance(s, FilteredSample))
    expected = eager(frame, step, LIMA.seed)
    kept = result.kept["id"].sort()
    assert kept.len() > 0 and kept.equals(expected.filter(expected.is_in(kept.implode())))  # after the last steps
    assert kept.len() == expected.len()
    funnel = result.funnel
    previous = funnel["candidates"]
    for entry in funnel["steps"]:
        assert entry["rows_in"] == previous
        assert entry["rows_in"] - entry["rows_out"] == sum(entry["dropped"].values())
        previous = entry["rows_out"]
    assert previous == funnel["kept"] == result.kept.height
    assert result.rejected.height == funnel["candidates"] - funnel["kept"]
    names = [e["name"] for e in funnel["steps"]]
    assert names.index("stratified_sample") < names.index("html_to_markdown_answer_html") < names.index("language")
    (info,) = funnel["sampled_while_filtering"]
    assert info["eligible"] == frame.height and info["reached"] < frame.height
    not_sampled = result.rejected.filter(pl.col("reason") == "not_sampled")
    assert not_sampled.height == frame.height - info["reached"]
    assert not_sampled["response"].null_count() == not_sampled.height  # never converted
    assert set(result.examples["reason"]) >= {"not_sampled", "too_short"}


def test_skipping_conversions_changes_nothing_but_their_count(eligible, monkeypatch):
    """Rows the Markdown bound drops before converting them: same rows, funnel, rejects and examples."""
    from curation.text import markdown_bound

    _, steps, lf = eligible
    fast = pipeline.run(lf, steps, seed=LIMA.seed, keep_rejects=True)
    monkeypatch.setattr(markdown_bound, "VERIFIED_MARKDOWNIFY", ())  # no bound: every reached row converted
    slow = pipeline.run(lf, steps, seed=LIMA.seed, keep_rejects=True)
    (fast_info,), (slow_info,) = fast.funnel.pop("sampled_while_filtering"), slow.funnel.pop("sampled_while_filtering")
    name = "html_to_markdown_answer_html"
    assert "skipped" not in slow_info and fast_info["skipped"][name] > 0
    assert fast_info["checked"][name] + fast_info["skipped"][name] == slow_info["checked"][name]
    assert fast.funnel == slow.funnel
    assert fast.kept.equals(slow.kept)
    assert fast.rejected.equals(slow.rejected)  # the skipped rows' Markdown and length filled in
    assert fast.examples.equals(slow.examples)
    short = fast.rejected.filter(pl.col("reason") == "too_short")
    assert short["response"].null_count() == 0
    assert short["score__length_response"].to_list() == short["response"].str.len_chars().to_list()


def test_each_skipped_row_is_completed_by_the_transform_that_skipped_it(eligible, monkeypatch):
    """Two transform + length pairs: a row one of them skipped gets that transform's output only."""
    from curation.filters.text import HtmlToMarkdown
    from curation.text import markdown_bound

    frame, _, _ = eligible
    checks = (HtmlToMarkdown("question_html", "question_markdown"), Length("question_markdown", 300, 3000),
              HtmlToMarkdown("answer_html", "response"), Length("response", 1200, 4096))  # fmt: skip
    step = FilteredSample(checks=checks, sample=StratifiedSample(size=40, group="site", order_by="question_score"))

    def run() -> tuple[pipeline.WalkResult, pl.DataFrame]:
        done = pipeline.walk(frame, step, 7)
        return done, done.complete(done.rejects)

    fast, fast_rejects = run()
    monkeypatch.setattr(markdown_bound, "VERIFIED_MARKDOWNIFY", ())
    slow, slow_rejects = run()
    assert set(fast.info["skipped"]) == {"html_to_markdown_question_html", "html_to_markdown_answer_html"}
    assert fast.kept.equals(slow.kept) and fast.entries == slow.entries
    assert fast_rejects.equals(slow_rejects)
    short_questions = fast_rejects.filter(pl.col("step") == "length_question_markdown")
    assert short_questions.height and short_questions["response"].null_count() == short_questions.height
