"""Text transforms: HTML -> Markdown, ftfy repair, and choosing the prompt."""

from __future__ import annotations

from dataclasses import dataclass

import ftfy
import polars as pl

from curation.filters.base import Transform, seeded_unit
from curation.text.html_markdown import html_to_markdown_expr
from curation.text.markdown_bound import markdown_length_bounds


@dataclass(frozen=True)
class HtmlToMarkdown(Transform):
    """Render the HTML in ``column`` as Markdown into ``into`` (see `curation.text.html_markdown`)."""

    column: str = "answer_html"
    into: str = "response"

    cheap = False

    @property
    def name(self) -> str:
        return f"html_to_markdown_{self.column}"

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.with_columns(html_to_markdown_expr(self.column).alias(self.into))

    def length_bounds(self, column: str, minimum: int | None, maximum: int | None) -> pl.Expr | None:
        if column != self.into:
            return None
        return markdown_length_bounds(pl.col(self.column), minimum, maximum)


@dataclass(frozen=True)
class FixText(Transform):
    """Repair mojibake and odd Unicode with ftfy (NFC) in each of ``columns``."""

    columns: tuple[str, ...] = ("prompt", "response")

    name = "fix_text"
    cheap = False

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        def fix(s: pl.Series) -> pl.Series:
            return pl.Series(s.name, [None if v is None else ftfy.fix_text(v) for v in s.to_list()], dtype=pl.String)

        return lf.with_columns(pl.col(c).map_batches(fix, return_dtype=pl.String) for c in self.columns)


@dataclass(frozen=True)
class ChoosePrompt(Transform):
    """prompt = ``title`` for a seeded ``title_ratio`` share of rows, else the question ``body``.

    The choice hashes each row's id with ``seed`` (LIMA: title or body at random, ratio unstated;
    default 50/50). A row whose body is empty falls back to its title.
    """

    title: str = "title"
    body: str = "question_markdown"
    title_ratio: float = 0.5
    seed: int = 0

    name = "choose_prompt"

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        body_empty = pl.col(self.body).fill_null("").str.strip_chars() == ""
        use_title = (seeded_unit(self.seed + 7919) < self.title_ratio) | body_empty
        return lf.with_columns(
            pl.when(use_title).then(pl.col(self.title)).otherwise(pl.col(self.body)).alias("prompt"),
            pl.when(use_title).then(pl.lit("title")).otherwise(pl.lit("body")).alias("prompt_from"),
        )


_HTML_ENTITIES = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;", "&nbsp;"]
_HTML_DECODED = ["&", "<", ">", '"', "'", "'", "\u00a0"]


@dataclass(frozen=True)
class PromptResponse(Transform):
    """prompt/response from source columns: entities decoded (Reddit JSON escapes ``& < >``),
    ``strip`` (a regular expression, e.g. a ``[WP]`` tag) removed from the prompt, text trimmed.
    ``response`` None leaves the response null (a prompts-only test split)."""

    prompt: str = "title"
    response: str | None = "body"
    strip: str | None = None

    name = "prompt_response"

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        prompt = pl.col(self.prompt).str.replace_many(_HTML_ENTITIES, _HTML_DECODED)
        if self.strip:
            prompt = prompt.str.replace(self.strip, "")
        response = (
            pl.col(self.response).str.replace_many(_HTML_ENTITIES, _HTML_DECODED).str.strip_chars()
            if self.response
            else pl.lit(None, pl.String)
        )
        return lf.with_columns(prompt.str.strip_chars().alias("prompt"), response.alias("response"))
