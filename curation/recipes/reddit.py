"""Reddit recipes: LIMA's r/WritingPrompts stories (train) and r/AskReddit prompts (test).

LIMA picked both by hand from the most upvoted posts and published no thresholds; every number
below is ours, an option, and quoted in the card's notes.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import polars as pl

from curation.filters.base import Transform
from curation.filters.dedup import ExactDedup
from curation.filters.flags import AtMost, DropFlagged, Matches, Require
from curation.filters.language import Language
from curation.filters.length import Length, NonEmpty
from curation.filters.sampling import OnePerKey, StratifiedSample
from curation.filters.score import MinScore
from curation.filters.text import PromptResponse
from curation.filters.title import SelfContainedTitle
from curation.recipes.base import Recipe

#: Comments a story or an answer is never taken from.
COMMENT_FLAGS = (
    ("body_deleted", "deleted_or_removed"),
    ("is_automoderator", "automoderator"),
    ("is_stickied", "stickied"),
    ("is_distinguished", "distinguished"),
    ("over_18", "nsfw"),
)
WP_TAG = r"^\s*\[\s*WP\s*\]\s*"


@dataclasses.dataclass(frozen=True)
class SubmissionRows(Transform):
    """One row stands for its submission: id ``reddit/t3_<id>``, the thread's url and date."""

    name = "submission_rows"

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.with_columns(
            pl.concat_str(pl.lit("reddit/t3_"), pl.col("submission_id")).alias("id"),
            pl.concat_str(pl.lit("https://www.reddit.com/r/"), pl.col("subreddit"), pl.lit("/comments/"),
                          pl.col("submission_id"), pl.lit("/")).alias("url"),  # fmt: skip
            pl.col("submission_created_at").alias("created_at"),
        )


@dataclasses.dataclass(frozen=True)
class RedditRecipe(Recipe):
    """Options of a Reddit build; ``None``/``False`` turns a step off."""

    name: str = "lima-writingprompts"
    size: int = 150
    subreddits: tuple[str, ...] = ("WritingPrompts",)
    prompts_only: bool = False  # True: titles only, published as a test split
    title_pattern: str | None = WP_TAG
    strip_title_pattern: bool = True
    min_submission_score: int | None = 100
    min_comment_score: int | None = 20
    allow_nsfw: bool = False
    require_no_body: bool = False
    self_contained_title: bool = False
    length_min: int | None = 800
    length_max: int | None = 4096
    languages: tuple[str, ...] | None = ("en",)
    dedup: bool = True
    notes: tuple[str, ...] = (
        "LIMA hand-picked stories from the most upvoted [WP] posts; we take submissions tagged [WP] with score "
        ">= 100 and, per prompt, the top-scoring top-level comment with score >= 20 that is not deleted, removed, "
        "by AutoModerator, stickied or distinguished; NSFW posts are excluded.",
        "Stories of 800-4,096 characters, English (langdetect), exact duplicates removed; the [WP] tag is stripped "
        "from the prompt; the 150 highest-scoring prompts are kept.",
    )

    source: ClassVar[str] = "reddit"

    @property
    def split(self) -> str:  # type: ignore[override]
        return "test" if self.prompts_only else "train"

    def scan(self, paths, **options):
        from curation.sources import reddit

        allowed = {k: v for k, v in options.items() if k in ("skip_malformed", "cache_dir")}
        lf, stats = reddit.scan_with_stats(paths, list(self.subreddits) or None,
                                           include_submissions_without_comments=self.prompts_only, **allowed)  # fmt: skip
        return lf, {"inputs": stats.inputs(), "malformed_lines_skipped": stats.malformed, "ingest": stats.to_dict()}

    def steps(self) -> list:
        flags = [(c, r) for c, r in COMMENT_FLAGS if not (c == "over_18" and self.allow_nsfw)]
        steps: list = [Require("has_submission", "no_submission")]
        if self.prompts_only:
            steps.append(OnePerKey(keys=("submission_id",), order_by="submission_score", label="one_per_submission",
                                   why="other_comment_of_submission"))  # fmt: skip
            steps.append(SubmissionRows())
            flags = [f for f in flags if f[0] == "over_18"]
        if flags:
            steps.append(DropFlagged(flags=tuple(flags), label="comment_flags"))
        if self.title_pattern:
            steps.append(Matches("title", self.title_pattern, label="title_tag", why="title_not_tagged"))
        if self.require_no_body:
            steps.append(AtMost("selftext", 0, label="no_body", why="has_body"))
        if self.min_submission_score is not None:
            steps.append(MinScore("submission_score", self.min_submission_score))
        if not self.prompts_only and self.min_comment_score is not None:
            steps.append(MinScore("comment_score", self.min_comment_score))
        strip = self.title_pattern if (self.title_pattern and self.strip_title_pattern) else None
        steps.append(PromptResponse("title", None if self.prompts_only else "body", strip=strip))
        if self.self_contained_title:
            steps.append(SelfContainedTitle("prompt"))
        if not self.prompts_only and (self.length_min is not None or self.length_max is not None):
            steps.append(Length("response", self.length_min, self.length_max))
        text = "prompt" if self.prompts_only else "response"
        steps.append(NonEmpty(columns=(text,), label="non_empty"))
        if self.languages:
            steps.append(Language(column=text, languages=tuple(self.languages)))
        if not self.prompts_only:  # the top story among the eligible ones
            steps.append(OnePerKey(keys=("submission_id",), order_by="comment_score", label="top_comment",
                                   why="not_top_comment"))  # fmt: skip
        if self.dedup:
            steps.append(ExactDedup(text, prefer="submission_score"))
        steps.append(StratifiedSample(size=self.size, strata=None, shares=(), group="group", temperature=1.0,
                                      order_by="submission_score"))  # fmt: skip
        return steps

    def publish_columns(self) -> list[str]:
        columns = ["subreddit", "submission_id", "title", "submission_score", "num_comments", "submission_author"]
        if not self.prompts_only:
            columns += ["comment_id", "comment_score", "comment_author", "comment_rank"]
        return columns


LIMA_WRITINGPROMPTS = RedditRecipe()
LIMA_ASKREDDIT_TEST = RedditRecipe(
    name="lima-askreddit-test",
    size=70,
    subreddits=("AskReddit",),
    prompts_only=True,
    title_pattern=None,
    min_submission_score=100,
    min_comment_score=None,
    require_no_body=True,
    self_contained_title=True,
    length_min=None,
    length_max=None,
    notes=(
        "LIMA's 70 r/AskReddit test prompts: titles only (no body), self-contained by our title heuristic, "
        "submission score >= 100, NSFW excluded, English, the 70 highest-scoring; published as a test split "
        "(the answers were judged unreliable, so none are kept).",
    ),
)
NAMED: dict[str, RedditRecipe] = {"lima-writingprompts": LIMA_WRITINGPROMPTS, "lima-askreddit-test": LIMA_ASKREDDIT_TEST}


def load(spec) -> RedditRecipe:
    """A named recipe (see ``NAMED``) or a TOML/YAML file starting from one."""
    from curation.recipes.base import named_or_file

    return named_or_file(spec, NAMED)  # type: ignore[return-value]

