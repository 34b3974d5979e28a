"""Which Stack Exchange sites are STEM and which are Other (LIMA samples 200 from each).

LIMA never published its split of 179 exchanges (75 STEM, 99 other, 5 discarded). We ship our own
table, ``site_categories.json``: stackexchange.com's Technology and Science groups count as STEM,
everything else (Culture & recreation, Life & arts, Business, Professional) as Other. A meta site
takes its parent's category. Users override any entry through the recipe.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import polars as pl

STEM = "STEM"
OTHER = "Other"


@lru_cache(maxsize=1)
def site_categories() -> dict[str, str]:
    """The shipped site -> category table."""
    text = resources.files("curation.sources.stackexchange").joinpath("site_categories.json").read_text()
    return json.loads(text)


def parent_site(site: str) -> str:
    """``coffee.meta.stackexchange.com`` -> ``coffee.stackexchange.com``; ``meta.x.com`` -> ``x.com``."""
    if site.startswith("meta."):
        return site[len("meta."):]
    return site.replace(".meta.", ".", 1)


def category_of(site: str, overrides: dict[str, str] | None = None, default: str = OTHER) -> str:
    """The category of one site: an override, else the table (via the parent of a meta site), else ``default``."""
    table = {**site_categories(), **(overrides or {})}
    return table.get(site) or table.get(parent_site(site)) or default


def category_expr(site: pl.Expr, overrides: dict[str, str] | None = None, default: str = OTHER) -> pl.Expr:
    """Polars expression mapping a site column to its category."""
    table = {**site_categories(), **(overrides or {})}
    parent = site.str.replace(r"^meta\.", "").str.replace(r"\.meta\.", ".", literal=False)
    return site.replace_strict(table, default=None, return_dtype=pl.String).fill_null(
        parent.replace_strict(table, default=default, return_dtype=pl.String)
    )
