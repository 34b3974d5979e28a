"""Stack Exchange recipes: ``lima`` (the paper's rules) and ``unfiltered`` (the quality ablation).

Where LIMA is silent, the defaults below are ours; each is an option, and ``notes`` (quoted in
the dataset card) says which choices were made.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal


from curation.filters.dedup import ExactDedup
from curation.filters.language import Language
from curation.filters.length import Length, NonEmpty
from curation.filters.sampling import FilteredSample, OnePerKey, StackExchangeCategory, StratifiedSample
from curation.filters.score import MinScore, TopRanked
from curation.filters.style import OTHER_ANSWER_PHRASES, FirstPerson, LeftoverLinks, OtherAnswerReferences
from curation.filters.text import ChoosePrompt, HtmlToMarkdown
from curation.filters.title import SelfContainedTitle
from curation.recipes.base import Recipe

LIMA_NOTES = (
    "STEM/Other split of sites: our table (stackexchange.com's Technology and Science groups = STEM), "
    "overridable with `site_categories`.",
    "Exchanges are chosen with temperature 3 by deterministic allocation (largest remainder) instead of "
    "sequential draws; within an exchange the highest-scoring questions come first.",
    "Self-contained title: a heuristic (question form, >= 4 words, no 'this/these/above/below'); LIMA judged by hand.",
    "Length 1,200-4,096 characters is counted on the Markdown text (option `length_on`); the paper does not say.",
    "First person and references to other answers use our word and phrase lists (the paper's were never published).",
    "Prompt is the title or the question body at random, 50/50 seeded by the row id (the ratio is unstated).",
    "Language: langdetect (seeded) on the answer, English only.",
    "Sampling while filtering (option `sample_while_filtering`, on by default): exchanges get their quotas "
    "(temperature 3) from the question/answer pairs that pass the cheap checks (structure, top answer, "
    "score >= 10, self-contained title); then, within each exchange, the highest-scoring questions are taken "
    "in order and only their answers are converted to Markdown and checked for length, style, links and "
    "language, until the exchange's quota is filled (an exchange that runs out hands its surplus on). The "
    "rows kept are exactly those of checking every answer first (quotas capped by the answers that pass), "
    "but the costly checks run only on the rows the sampler reached: the funnel counts them over those rows, "
    "and the rest are `not_sampled`.",
    "Exact dedup compares the normalised text of the answer (HTML tags stripped, common entities decoded, "
    "case, punctuation and white space folded), before sampling; identical answers are never both kept.",
)


@dataclasses.dataclass(frozen=True)
class StackExchangeRecipe(Recipe):
    """Every option of a Stack Exchange build. ``None`` or ``False`` turns a filter off."""

    name: str = "lima"
    size: int = 400
    include_meta: bool = False
    answer: Literal["top", "random"] = "top"
    min_answer_score: int | None = 10
    min_question_score: int | None = None
    self_contained_title: bool = True
    length_min: int | None = 1200
    length_max: int | None = 4096
    length_on: Literal["markdown", "html"] = "markdown"
    first_person: bool = True
    other_answer_phrases: tuple[str, ...] | None = OTHER_ANSWER_PHRASES
    leftover_links: bool = True
    languages: tuple[str, ...] | None = ("en",)
    dedup: bool = True
    shares: dict[str, float] = dataclasses.field(default_factory=lambda: {"STEM": 0.5, "Other": 0.5})
    temperature: float = 3.0
    within_exchange: Literal["question_score", "random"] = "question_score"
    title_prompt_ratio: float = 0.5
    site_categories: dict[str, str] = dataclasses.field(default_factory=dict)
    sample_while_filtering: bool = True
    notes: tuple[str, ...] = LIMA_NOTES

    source: ClassVar[str] = "stackexchange"

    def scan(self, paths, **options):
        from curation.sources import stackexchange

        lf, stats = stackexchange.scan_with_stats(paths, include_meta=self.include_meta, **options)
        return lf, {"inputs": stats.inputs, "malformed_rows_skipped": stats.malformed, "sites": stats.sites,
                    "skipped_meta_sites": stats.skipped_meta}  # fmt: skip

    def steps(self) -> list:
        steps: list = [NonEmpty(columns=("title", "answer_html", "question_html"), label="structure")]
        if self.answer == "top":
            steps.append(TopRanked())
        if self.min_answer_score is not None:
            steps.append(MinScore("answer_score", self.min_answer_score))
        if self.min_question_score is not None:
            steps.append(MinScore("question_score", self.min_question_score))
        if self.self_contained_title:
            steps.append(SelfContainedTitle())
        length = self.length_min is not None or self.length_max is not None
        if length and self.length_on == "html":
            steps.append(Length("answer_html", self.length_min, self.length_max))
        if self.answer == "random":
            steps.append(OnePerKey())
        on_markdown = (
            (length and self.length_on == "markdown") or self.first_person or bool(self.other_answer_phrases)
            or self.leftover_links or bool(self.languages) or self.dedup
        )  # fmt: skip
        checks: list = []  # on the Markdown answer
        if on_markdown:  # else the answers are converted after sampling, only those kept
            checks.append(HtmlToMarkdown("answer_html", "response"))
        if length and self.length_on == "markdown":
            checks.append(Length("response", self.length_min, self.length_max))
        if self.first_person:
            checks.append(FirstPerson())
        if self.other_answer_phrases:
            checks.append(OtherAnswerReferences(phrases=tuple(self.other_answer_phrases)))
        if self.leftover_links:
            checks.append(LeftoverLinks())
        if self.languages:
            checks.append(Language(languages=tuple(self.languages)))
        sample = StratifiedSample(
            size=self.size,
            strata="category",
            shares=tuple(sorted(self.shares.items())),
            group="group",
            temperature=self.temperature,
            order_by="question_score" if self.within_exchange == "question_score" else None,
        )
        category = StackExchangeCategory(tuple(sorted(self.site_categories.items())))
        if self.sample_while_filtering and on_markdown:
            # Dedup on the answer's HTML text (cheap), then the checks run only on the rows the sampler reaches.
            if self.dedup:
                steps.append(ExactDedup("answer_html", prefer="answer_score", html=True))
            steps += [category, FilteredSample(checks=tuple(checks), sample=sample)]
        else:
            steps += checks
            if self.dedup:
                steps.append(ExactDedup("response", prefer="answer_score"))
            steps += [category, sample]
            if not on_markdown:
                steps.append(HtmlToMarkdown("answer_html", "response"))
        steps.append(HtmlToMarkdown("question_html", "question_markdown"))
        steps.append(ChoosePrompt(title_ratio=self.title_prompt_ratio, seed=self.seed))
        steps.append(NonEmpty(columns=("prompt", "response"), label="non_empty_pair"))
        return steps

    def publish_columns(self) -> list[str]:
        return [
            "site", "category", "question_id", "answer_id", "title", "tags", "question_score",
            "answer_score", "answer_rank", "is_accepted", "question_owner_id", "question_owner_name",
            "answer_owner_id", "answer_owner_name", "prompt_from",
        ]  # fmt: skip


LIMA = StackExchangeRecipe()

UNFILTERED = StackExchangeRecipe(
    name="unfiltered",
    answer="random",
    min_answer_score=None,
    self_contained_title=False,
    length_min=None,
    length_max=None,
    first_person=False,
    other_answer_phrases=None,
    leftover_links=False,
    languages=None,
    dedup=False,
    within_exchange="random",
    notes=(
        "The quality ablation's counterpart of `lima`: same sources, same size, same STEM/Other shares and "
        "exchange temperature, but random questions with a random answer and structural validity only "
        "(non-empty title, question and answer).",
        "Prompt is the title or the question body at random, 50/50 seeded by the row id.",
    ),
)

NAMED: dict[str, StackExchangeRecipe] = {"lima": LIMA, "unfiltered": UNFILTERED}


def load(spec) -> StackExchangeRecipe:
    """A named recipe (see ``NAMED``) or a TOML/YAML file starting from one."""
    from curation.recipes.base import named_or_file

    return named_or_file(spec, NAMED)  # type: ignore[return-value]



__all__ = ["StackExchangeRecipe", "LIMA", "UNFILTERED", "NAMED", "load"]
