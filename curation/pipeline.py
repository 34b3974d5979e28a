"""Runs a recipe's steps over a LazyFrame of candidates: kept rows, the funnel, rejected rows.

Consecutive filters run together: their scores and reasons are computed as columns in one pass,
and one streaming aggregation counts, for every filter, the rows it drops in sequence (the funnel)
and the rows it would drop on its own. Costly steps (Python per row) run only on the rows still
alive, and their output is materialised once so nothing costly runs twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from curation.filters.base import Filter, Select, Step, Transform, kind_of

#: Below this many rows, an intermediate result is kept in memory instead of being recomputed.
MATERIALISE_ROWS = 2_000_000


@dataclass
class PipelineResult:
    """The kept rows (sorted by id), the funnel, rejected examples per reason, and all rejects on request."""

    kept: pl.DataFrame
    funnel: dict
    examples: pl.DataFrame  # a few rejected rows per reason, columns ``reason`` and ``step`` added
    rejected: pl.DataFrame | None = None  # every rejected row, when asked for
    notes: list[str] = field(default_factory=list)


def _count(lf: pl.LazyFrame) -> int:
    return int(lf.select(pl.len()).collect(engine="streaming").item())


def run(
    candidates: pl.LazyFrame,
    steps: Sequence[Step],
    *,
    seed: int = 0,
    keep_rejects: bool = False,
    examples_per_reason: int = 3,
    on_step: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Run ``steps`` in order over ``candidates``."""
    runner = _Runner(candidates, seed, keep_rejects, examples_per_reason, on_step)
    pending: list[Filter] = []
    for step in steps:
        if isinstance(step, Filter):
            if not step.cheap and pending:  # a costly score runs on what the cheap ones kept
                runner.filters(pending)
                pending = []
            pending.append(step)
            if not step.cheap:
                runner.filters(pending)
                pending = []
            continue
        runner.filters(pending)
        pending = []
        if isinstance(step, Transform):
            runner.transform(step)
        elif isinstance(step, Select):
            runner.select(step)
        else:
            raise TypeError(f"not a step: {step!r}")
    runner.filters(pending)
    return runner.result()


class _Runner:
    def __init__(self, candidates, seed, keep_rejects, examples_per_reason, on_step):
        self.lf = candidates
        self.seed = seed
        self.keep_rejects = keep_rejects
        self.k = examples_per_reason
        self.on_step = on_step or (lambda name: None)
        self.n = _count(candidates)
        self.funnel: dict = {"candidates": self.n, "steps": [], "alone": {}}
        self.first_filters = True
        self.examples: list[pl.DataFrame] = []
        self.rejected: list[pl.DataFrame] = []

    def filters(self, group: list[Filter]) -> None:
        if not group:
            return
        for f in group:
            self.on_step(f.name)
        scored = self.lf
        for f in group:
            scored = f.prepare(scored)
        scored = scored.with_columns(f.score().alias(f.score_column) for f in group)
        if any(not f.cheap for f in group):
            scored = scored.collect(engine="streaming").lazy()
        reason_cols = [f"_reason_{i}" for i in range(len(group))]
        scored = scored.with_columns(
            f.reason(pl.col(f.score_column)).cast(pl.String).alias(col) for f, col in zip(group, reason_cols)
        )
        aggregations = []
        alive = pl.lit(True)
        for i, f in enumerate(group):
            reason = pl.col(reason_cols[i])
            for name in f.reasons:
                aggregations.append((alive & (reason == name)).sum().alias(f"seq|{i}|{name}"))
                aggregations.append((reason == name).sum().alias(f"alone|{i}|{name}"))
            alive = alive & reason.is_null()
        aggregations.append(alive.sum().alias("kept"))
        counts = scored.select(aggregations).collect(engine="streaming").row(0, named=True)
        rows_in = self.n
        for i, f in enumerate(group):
            dropped = {name: int(counts[f"seq|{i}|{name}"]) for name in f.reasons if counts[f"seq|{i}|{name}"]}
            alone = {name: int(counts[f"alone|{i}|{name}"]) for name in f.reasons}
            out = rows_in - sum(dropped.values())
            self.funnel["steps"].append(
                {"name": f.name, "kind": "filter", "rows_in": rows_in, "rows_out": out, "dropped": dropped,
                 "alone": alone, "alone_of": self.n}  # fmt: skip
            )
            if self.first_filters:
                self.funnel["alone"].update(alone)
            rows_in = out
        self.first_filters = False
        first_reason = pl.coalesce([pl.col(c) for c in reason_cols])
        step_name = pl.coalesce(
            [pl.when(pl.col(c).is_not_null()).then(pl.lit(f.name)) for f, c in zip(group, reason_cols)]
        )
        rejects = scored.with_columns(first_reason.alias("reason"), step_name.alias("step")).filter(
            pl.col("reason").is_not_null()
        )
        self._keep_rejects(rejects.drop(reason_cols))
        self.lf = scored.filter(alive).drop(reason_cols)
        self.n = int(counts["kept"])
        self._maybe_materialise()

    def transform(self, step: Transform) -> None:
        self.on_step(step.name)
        self.lf = step.apply(self.lf)
        if not step.cheap:
            self.lf = self.lf.collect(engine="streaming").lazy()
        self.funnel["steps"].append(
            {"name": step.name, "kind": "transform", "rows_in": self.n, "rows_out": self.n, "dropped": {}}
        )

    def select(self, step: Select) -> None:
        self.on_step(step.name)
        before = self.lf
        after = step.apply(before, self.seed)
        n_after = _count(after)
        if n_after <= MATERIALISE_ROWS:
            after = after.collect(engine="streaming").lazy()
        dropped = self.n - n_after
        self.funnel["steps"].append(
            {"name": step.name, "kind": "select", "rows_in": self.n, "rows_out": n_after,
             "dropped": {step.reason: dropped} if dropped else {}}  # fmt: skip
        )
        if dropped:
            rejects = before.join(after.select("id"), on="id", how="anti").with_columns(
                pl.lit(step.reason).alias("reason"), pl.lit(step.name).alias("step")
            )
            self._keep_rejects(rejects)
        self.lf = after
        self.n = n_after

    def _keep_rejects(self, rejects: pl.LazyFrame) -> None:
        picks = rejects.group_by("reason").agg(pl.col("id").bottom_k(self.k)).explode("id").select("id")
        examples = rejects.join(picks, on="id", how="semi").sort("reason", "id").collect(engine="streaming")
        self.examples.append(examples)
        if self.keep_rejects:
            self.rejected.append(rejects.collect(engine="streaming"))

    def _maybe_materialise(self) -> None:
        if self.n <= MATERIALISE_ROWS:
            self.lf = self.lf.collect(engine="streaming").lazy()

    def result(self) -> PipelineResult:
        kept = self.lf.collect(engine="streaming").sort("id")
        self.funnel["kept"] = kept.height
        examples = _concat(self.examples)
        rejected = _concat(self.rejected) if self.keep_rejects else None
        return PipelineResult(kept=kept, funnel=self.funnel, examples=examples, rejected=rejected)


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema={"id": pl.String, "reason": pl.String, "step": pl.String})
    return pl.concat(frames, how="diagonal_relaxed").sort("step", "reason", "id")


def describe_steps(steps: Sequence[Step]) -> list[dict]:
    """Plain-data description of the steps, in order (for manifests and cards)."""
    from curation.filters.base import describe

    return [describe(s) for s in steps]


__all__ = ["run", "PipelineResult", "describe_steps", "kind_of"]
