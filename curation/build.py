"""Building a dataset version: source -> steps -> published rows -> store (+ card).

This is the one place the flow of DESIGN.md is wired together; the CLI's ``build`` calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from curation import pipeline, store
from curation.columns import CANONICAL
from curation.errors import CurationError
from curation.pipeline import PipelineResult, describe_steps
from curation.recipes.base import Recipe


@dataclass
class BuildResult:
    path: Path
    manifest: dict
    result: PipelineResult


def messages_expr(prompt: str = "prompt", response: str | None = "response") -> pl.Expr:
    """``[{role: user, content: prompt}, {role: assistant, content: response}]`` per row."""
    turns = [pl.struct(pl.lit("user").alias("role"), pl.col(prompt).alias("content"))]
    if response is not None:
        turns.append(pl.struct(pl.lit("assistant").alias("role"), pl.col(response).alias("content")))
    return pl.concat_list(turns).alias("messages")


def publish_frame(kept: pl.DataFrame, recipe: Recipe, *, with_response: bool = True) -> pl.DataFrame:
    """Canonical columns, ``messages``, the recipe's attribution columns and the filter scores."""
    extra = [c for c in recipe.publish_columns() if c in kept.columns and c not in CANONICAL]
    scores = sorted(c for c in kept.columns if c.startswith("score__"))
    columns = [pl.col(name).cast(dtype) for name, dtype in CANONICAL.items()]
    return kept.select(
        *columns,
        messages_expr(response="response" if with_response else None),
        *extra,
        *scores,
    ).sort("id")


def build(
    recipe: Recipe,
    dumps: Sequence[str | Path],
    *,
    out: str | Path = "datasets",
    name: str | None = None,
    version: str | None = None,
    keep_rejects: bool = False,
    scan_options: dict | None = None,
    on_step: Callable[[str], None] | None = None,
    description: str | None = None,
    engine: str = "local",
    ray_address: str | None = None,
) -> BuildResult:
    """Build ``recipe`` over ``dumps`` into ``out/<name>/<version>`` and return where it went.

    ``engine="ray"`` runs the source and the steps on Ray Data (``ray_address``: a running
    cluster, else a local Ray is started); the dataset is the same as the local engine's.
    """
    if not dumps:
        raise CurationError("no input: give at least one dump path")
    name = name or f"{recipe.source}-{recipe.name}"
    if version is not None:
        store.check_version_name(version)
        if (Path(out) / name / version).exists():
            raise CurationError(f"version {version} of {name} exists already; versions are never overwritten",
                                path=Path(out) / name / version)  # fmt: skip
    steps = recipe.steps()
    if engine == "ray":
        from curation.engines import ray_engine

        with ray_engine.session(ray_address):
            candidates, seen = ray_engine.scan(recipe, list(dumps), **(scan_options or {}))
            result = ray_engine.run(candidates, steps, seed=recipe.seed, keep_rejects=keep_rejects, on_step=on_step)
    elif engine == "local":
        candidates, seen = recipe.scan(list(dumps), **(scan_options or {}))
        result = pipeline.run(candidates, steps, seed=recipe.seed, keep_rejects=keep_rejects, on_step=on_step)
    else:
        raise CurationError(f"unknown engine {engine!r}: choose local or ray")
    published = publish_frame(result.kept, recipe, with_response=recipe.split != "test")
    manifest = {
        "source": recipe.source,
        "recipe": recipe.to_dict(),
        "recipe_hash": recipe.hash(),
        "seed": recipe.seed,
        "steps": describe_steps(steps),
        "inputs": sorted(seen.get("inputs", []), key=lambda i: (i["name"], i["fingerprint"])),
        "source_stats": {k: v for k, v in seen.items() if k != "inputs"},
        "funnel": result.funnel,
        "language": recipe.card_languages(),
    }
    if recipe.format_info() is not None:
        manifest["format"] = recipe.format_info()
    extra = {}
    if keep_rejects and result.rejected is not None:
        extra["rejects/rejected-00000-of-00001.parquet"] = _rejects_frame(result.rejected)

    def card(folder: Path, full_manifest: dict) -> None:
        from curation.cards import write_card

        write_card(folder, full_manifest, published, _examples_frame(result.examples), description=description)

    path, manifest = store.write_version(
        Path(out), name, version, {recipe.split: published}, manifest, extra_files=extra, write_card=card
    )
    return BuildResult(path=path, manifest=manifest, result=result)


def _rejects_frame(rejected: pl.DataFrame) -> pl.DataFrame:
    keep = [c for c in rejected.columns if not c.startswith("_")]
    return rejected.select(keep).sort("step", "reason", "id")


def _examples_frame(examples: pl.DataFrame) -> pl.DataFrame:
    """Rejected examples with a ``response`` to show: the Markdown if computed, else the raw answer."""
    frame = examples
    if "response" in frame.columns and "answer_html" in frame.columns:
        frame = frame.with_columns(pl.coalesce("response", "answer_html").alias("response"))
    if "prompt" in frame.columns and "title" in frame.columns:
        frame = frame.with_columns(pl.coalesce("prompt", "title").alias("prompt"))
    return frame
