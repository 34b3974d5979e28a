"""wikiHow recipe ``lima-wikihow``: a category first, then an article in it (LIMA: 200).

Prompt = the title plus "?" ("How to Grill Fish?"); response = the article as Markdown (intro with
"This article…" rewritten as "The following answer…", each method or part as a heading with
numbered steps, then the kept sections). Which sections are kept is an option.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import polars as pl

from curation.filters.base import Transform
from curation.filters.dedup import ExactDedup
from curation.filters.flags import Require
from curation.filters.language import Language
from curation.filters.length import Length, NonEmpty
from curation.filters.sampling import StratifiedSample
from curation.recipes.base import Recipe
from curation.sources import wikihow


@dataclasses.dataclass(frozen=True)
class RenderArticle(Transform):
    """prompt = title + "?", response = the article's Markdown with the kept ``sections``."""

    sections: tuple[str, ...] = wikihow.DEFAULT_SECTIONS

    name = "render_article"

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        return wikihow.render(lf, self.sections)


@dataclasses.dataclass(frozen=True)
class WikiHowRecipe(Recipe):
    """Options of a wikiHow build; ``None``/``False`` turns a step off."""

    name: str = "lima-wikihow"
    size: int = 200
    sections: tuple[str, ...] = wikihow.DEFAULT_SECTIONS
    category_temperature: float | None = None  # None: uniform over the categories present
    length_min: int | None = None
    length_max: int | None = None
    languages: tuple[str, ...] | None = ("en",)
    dedup: bool = True
    notes: tuple[str, ...] = (
        "A category is chosen first, uniformly over the top-level categories present (LIMA's 19), then "
        "articles at random within it (seeded by the article id); quotas are allocated deterministically.",
        "Sections kept besides the intro and the methods: ingredients, tips, warnings; things you'll need, "
        "community Q&A, references, related articles and videos are pruned (LIMA pruned unnamed sections).",
        "Articles without a known top-level category are dropped.",
    )

    source: ClassVar[str] = "wikihow"

    def scan(self, paths, **options):
        from curation.fingerprint import cache_root

        cache = options.get("cache_dir") or cache_root()
        lf, stats = wikihow.scan_with_stats(paths, skip_unreadable=bool(options.get("skip_malformed")),
                                            cache_dir=cache, progress=bool(options.get("progress")))  # fmt: skip
        return lf, {"inputs": stats.inputs(cache), "pages": stats.to_dict()}

    def steps(self) -> list:
        steps: list = [RenderArticle(tuple(self.sections)), NonEmpty(columns=("prompt", "response")),
                       Require("group", "no_top_category", any_value=True)]  # fmt: skip
        if self.length_min is not None or self.length_max is not None:
            steps.append(Length("response", self.length_min, self.length_max))
        if self.languages:
            steps.append(Language(column="response", languages=tuple(self.languages)))
        if self.dedup:
            steps.append(ExactDedup("response", prefer=None))
        steps.append(StratifiedSample(size=self.size, strata=None, shares=(), group="group",
                                      temperature=self.category_temperature, order_by=None))  # fmt: skip
        return steps

    def publish_columns(self) -> list[str]:
        return ["title", "article_id", "revision_id", "categories", "top_category"]


LIMA_WIKIHOW = WikiHowRecipe()
NAMED: dict[str, WikiHowRecipe] = {"lima-wikihow": LIMA_WIKIHOW}


def load(spec) -> WikiHowRecipe:
    """A named recipe (see ``NAMED``) or a TOML/YAML file starting from one."""
    from curation.recipes.base import named_or_file

    return named_or_file(spec, NAMED)  # type: ignore[return-value]

