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

from curation import rowmap
from curation.filters.base import Filter, Select, Step, Transform, kind_of, seeded_unit
from curation.filters.sampling import FilteredSample

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
    timings: dict = field(default_factory=dict)  # engine-side measurements (never in the manifest)


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
    costly = [step for step in _all_steps(steps) if not getattr(step, "cheap", True)]
    if costly:  # helper processes and costly steps' resources get ready while the cheap steps run
        rowmap.warm_up()
        for step in costly:
            if hasattr(step, "warm_up"):
                step.warm_up()
    return drive(_Runner(candidates, seed, keep_rejects, examples_per_reason, on_step), steps)


def _all_steps(steps: Sequence[Step]) -> list[Step]:
    """The steps, and the checks inside a `FilteredSample`."""
    out: list[Step] = []
    for step in steps:
        out += [step, *_all_steps(step.checks)] if isinstance(step, FilteredSample) else [step]
    return out


def drive(runner, steps: Sequence[Step]) -> PipelineResult:
    """Feed ``steps`` to an engine's runner in `plan_steps` order (both engines share this)."""
    for kind, item in plan_steps(steps):
        if kind == "filters":
            runner.filters(item)
        elif kind == "transform":
            runner.transform(item)
        elif kind == "walk":
            runner.walk(item)
        else:
            runner.select(item)
    return runner.result()


# --------------------------------------------------------------------------- shared by both engines
# The Ray engine (`curation.engines.ray_engine`) runs these same functions on each Arrow batch and
# on the driver, so the two engines compute every score, reason and count with the same Polars code.


def reason_columns(group: Sequence[Filter]) -> list[str]:
    """Names of the per-filter reason columns of a filter group (dropped again before the next step)."""
    return [f"_reason_{i}" for i in range(len(group))]


def score_filters(lf: pl.LazyFrame, group: Sequence[Filter]) -> pl.LazyFrame:
    """The group's ``prepare`` columns and one ``score__<name>`` column per filter."""
    for f in group:
        lf = f.prepare(lf)
    return lf.with_columns(f.score().alias(f.score_column) for f in group)


def with_reasons(scored: pl.LazyFrame, group: Sequence[Filter]) -> pl.LazyFrame:
    """Each filter's reason (null = kept) as a column, from its score column."""
    return scored.with_columns(
        f.reason(pl.col(f.score_column)).cast(pl.String).alias(col) for f, col in zip(group, reason_columns(group))
    )


def alive_expr(group: Sequence[Filter]) -> pl.Expr:
    """True where no filter of the group drops the row."""
    alive = pl.lit(True)
    for col in reason_columns(group):
        alive = alive & pl.col(col).is_null()
    return alive


def funnel_aggregations(group: Sequence[Filter]) -> list[pl.Expr]:
    """Sums (so they add up over batches): drops in sequence, drops on its own, and rows kept."""
    aggregations = []
    alive = pl.lit(True)
    for i, (f, col) in enumerate(zip(group, reason_columns(group))):
        reason = pl.col(col)
        for name in f.reasons:
            aggregations.append((alive & (reason == name)).sum().alias(f"seq|{i}|{name}"))
            aggregations.append((reason == name).sum().alias(f"alone|{i}|{name}"))
        alive = alive & reason.is_null()
    aggregations.append(alive.sum().alias("kept"))
    return aggregations


def record_filters(funnel: dict, group: Sequence[Filter], counts: dict, rows_in: int, first: bool) -> int:
    """Append the group's funnel entries from ``counts`` (see `funnel_aggregations`); return rows out."""
    alone_of = rows_in
    for i, f in enumerate(group):
        dropped = {name: int(counts[f"seq|{i}|{name}"]) for name in f.reasons if counts[f"seq|{i}|{name}"]}
        alone = {name: int(counts[f"alone|{i}|{name}"]) for name in f.reasons}
        out = rows_in - sum(dropped.values())
        funnel["steps"].append(
            {"name": f.name, "kind": "filter", "rows_in": rows_in, "rows_out": out, "dropped": dropped,
             "alone": alone, "alone_of": alone_of}  # fmt: skip
        )
        if first:
            funnel["alone"].update(alone)
        rows_in = out
    return rows_in


def kept_rows(scored: pl.LazyFrame, group: Sequence[Filter]) -> pl.LazyFrame:
    """Rows no filter of the group drops, reason columns removed (score columns stay)."""
    return scored.filter(alive_expr(group)).drop(reason_columns(group))


def rejected_rows(scored: pl.LazyFrame, group: Sequence[Filter]) -> pl.LazyFrame:
    """Rows some filter drops, with ``reason`` (the first filter's) and ``step``; reason columns removed."""
    cols = reason_columns(group)
    first_reason = pl.coalesce([pl.col(c) for c in cols])
    step_name = pl.coalesce([pl.when(pl.col(c).is_not_null()).then(pl.lit(f.name)) for f, c in zip(group, cols)])
    return (
        scored.with_columns(first_reason.alias("reason"), step_name.alias("step"))
        .filter(pl.col("reason").is_not_null())
        .drop(cols)
    )


def example_ids(rejects: pl.LazyFrame, k: int) -> pl.LazyFrame:
    """``reason``, ``id``: the ``k`` smallest ids per reason (the bottom k of a union is the bottom k of bottoms)."""
    return rejects.group_by("reason").agg(pl.col("id").bottom_k(k)).explode("id").drop_nulls("id")


def examples_of(rejects: pl.LazyFrame, k: int) -> pl.DataFrame:
    """The rejected rows shown as examples: per reason, the ``k`` smallest ids."""
    picks = example_ids(rejects, k).select("id")
    return rejects.join(picks, on="id", how="semi").sort("reason", "id").collect(engine="streaming")


def transform_entry(step: Transform, rows: int) -> dict:
    return {"name": step.name, "kind": "transform", "rows_in": rows, "rows_out": rows, "dropped": {}}


def select_entry(step: Select, rows_in: int, rows_out: int) -> dict:
    dropped = rows_in - rows_out
    return {"name": step.name, "kind": "select", "rows_in": rows_in, "rows_out": rows_out,
            "dropped": {step.reason: dropped} if dropped else {}}  # fmt: skip


def plan_steps(steps: Sequence[Step]) -> list[tuple[str, object]]:
    """The order both engines run steps in: ``("filters", [group])``, ``("transform", t)``, ``("select", s)``,
    ``("walk", s)`` (a `FilteredSample`: sampling with costly checks, see `walk`).

    Consecutive cheap filters form one group (one pass); a costly filter runs alone, on what the
    cheap ones before it kept. So does a filter that a transform right before it can decide for
    some rows (`Filter.decided_before`: a Markdown length from a bound on the HTML): the walk then
    skips the transform on those rows, and a group of its own keeps every filter's funnel the same
    whether a row was skipped or not.
    """
    plan: list[tuple[str, object]] = []
    pending: list[Filter] = []

    def flush() -> None:
        if pending:
            plan.append(("filters", list(pending)))
            pending.clear()

    for step in steps:
        if isinstance(step, Filter):
            alone = not step.cheap or _decided_before(plan, len(plan), [step]) is not None
            if alone:
                flush()
            pending.append(step)
            if alone:
                flush()
        elif isinstance(step, Transform):
            flush()
            plan.append(("transform", step))
        elif isinstance(step, FilteredSample):
            flush()
            plan.append(("walk", step))
        elif isinstance(step, Select):
            flush()
            plan.append(("select", step))
        else:
            raise TypeError(f"not a step: {step!r}")
    flush()
    return plan


def _decided_before(plan: list[tuple[str, object]], at: int, group: Sequence[Filter] | None = None):
    """``(transform, filter, reason)`` when ``plan[at]`` (or ``group``, about to be planned there) is a
    lone filter that the transform at ``at - 1`` can decide for some rows before it runs; else None."""
    if group is None:
        if at >= len(plan) or plan[at][0] != "filters":
            return None
        group = plan[at][1]
    if at == 0 or plan[at - 1][0] != "transform" or len(group) != 1:
        return None
    transform, (f,) = plan[at - 1][1], group
    reason = f.decided_before(transform)
    return None if reason is None else (transform, f, reason)


# --------------------------------------------------------------------------- the local engine


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
        self.timings: dict = {}

    def filters(self, group: list[Filter]) -> None:
        if not group:
            return
        for f in group:
            self.on_step(f.name)
        costly = any(not f.cheap for f in group)
        scored = score_filters(self.lf, group)
        if costly:  # a Python score runs once
            scored = scored.collect(engine="streaming").lazy()
        scored = with_reasons(scored, group)
        if self.n > MATERIALISE_ROWS:  # too many rows to hold even their ids: one pass per use
            counts = scored.select(funnel_aggregations(group)).collect(engine="streaming").row(0, named=True)
            self._keep_rejects(rejected_rows(scored, group))
            self.lf = kept_rows(scored, group)
        else:  # the scores run once, into a narrow table of ids and reasons that every use reads
            if costly:
                narrow = scored.select("id", *reason_columns(group)).collect(engine="streaming")
            else:
                alone = [f.reason_alone().cast(pl.String).alias(c) for f, c in zip(group, reason_columns(group))]
                narrow = self.lf.select("id", *alone).collect(engine="streaming")
            counts = narrow.select(funnel_aggregations(group)).row(0, named=True)
            rejects = rejected_rows(narrow.lazy(), group)
            alive = narrow.lazy().filter(alive_expr(group)).select("id")
            if costly or self.keep_rejects:
                picks = rejects if self.keep_rejects else example_ids(rejects, self.k).select("id")
                self._keep_rejects(rejected_rows(scored, group).join(picks.select("id"), on="id", how="semi"))
                if costly:  # ``scored`` is in memory already
                    self.lf = kept_rows(scored, group)
                else:  # score only the rows that stay
                    self.lf = score_filters(self.lf.join(alive, on="id", how="semi", maintain_order="left"), group)
            else:  # one more read of the input, for the rows that stay and the few rejects shown as examples
                picks = example_ids(rejects, self.k).collect()["id"]
                alive_ids = alive.collect()["id"]
                wanted = pl.concat([alive_ids, picks]).implode()
                fetched = with_reasons(score_filters(self.lf.filter(pl.col("id").is_in(wanted)), group), group)
                fetched = fetched.collect(engine="streaming").lazy()
                self._keep_rejects(rejected_rows(fetched, group).filter(pl.col("id").is_in(picks.implode())))
                self.lf = kept_rows(fetched, group)
        record_filters(self.funnel, group, counts, self.n, self.first_filters)
        self.first_filters = False
        self.n = int(counts["kept"])
        self._maybe_materialise()

    def transform(self, step: Transform) -> None:
        self.on_step(step.name)
        self.lf = step.apply(self.lf)
        if not step.cheap:
            self.lf = self.lf.collect(engine="streaming").lazy()
        self.funnel["steps"].append(transform_entry(step, self.n))

    def select(self, step: Select) -> None:
        self.on_step(step.name)
        before = self.lf
        after = step.apply(before, self.seed)
        if self.n <= MATERIALISE_ROWS:  # the choice runs once (counting a lazy result would run it again)
            after = after.collect(engine="streaming")
            n_after = after.height
            after = after.lazy()
        else:
            n_after = _count(after)
            if n_after <= MATERIALISE_ROWS:
                after = after.collect(engine="streaming").lazy()
        self.funnel["steps"].append(select_entry(step, self.n, n_after))
        if n_after != self.n:
            rejects = before.join(after.select("id"), on="id", how="anti").with_columns(
                pl.lit(step.reason).alias("reason"), pl.lit(step.name).alias("step")
            )
            self._keep_rejects(rejects)
        self.lf = after
        self.n = n_after

    def walk(self, step: FilteredSample) -> None:
        self.on_step(step.name)
        done = walk(self.lf.collect(engine="streaming"), step, self.seed)
        self.funnel["steps"] += done.entries
        self.funnel.setdefault("sampled_while_filtering", []).append(done.info)
        self.examples.append(done.complete(examples_of(done.rejects.lazy(), self.k)))
        if self.keep_rejects:
            self.rejected.append(done.complete(done.rejects))
        self.timings.setdefault("walk", []).append(done.timings)
        self.lf = done.kept.lazy()
        self.n = done.kept.height

    def _keep_rejects(self, rejects: pl.LazyFrame) -> None:
        self.examples.append(examples_of(rejects, self.k))
        if self.keep_rejects:
            self.rejected.append(rejects.collect(engine="streaming"))

    def _maybe_materialise(self) -> None:
        if self.n <= MATERIALISE_ROWS:
            self.lf = self.lf.collect(engine="streaming").lazy()

    def result(self) -> PipelineResult:
        kept = self.lf.collect(engine="streaming").sort("id")
        self.funnel["kept"] = kept.height
        examples = concat_rejects(self.examples)
        rejected = concat_rejects(self.rejected) if self.keep_rejects else None
        return PipelineResult(kept=kept, funnel=self.funnel, examples=examples, rejected=rejected,
                              timings=self.timings)  # fmt: skip


def concat_rejects(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Rejected rows of all steps in one frame (columns unioned), sorted by step, reason and id."""
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema={"id": pl.String, "reason": pl.String, "step": pl.String})
    return pl.concat(frames, how="diagonal_relaxed").sort("step", "reason", "id")


def describe_steps(steps: Sequence[Step]) -> list[dict]:
    """Plain-data description of the steps, in order (for manifests and cards)."""
    from curation.filters.base import describe

    return [describe(s) for s in steps]


__all__ = ["run", "PipelineResult", "describe_steps", "kind_of"]


# --------------------------------------------------------------------------- sample while filtering
# `FilteredSample` runs here, on one node, for both engines: the rows it receives (those that passed
# every cheap filter) are few, and only the rows the sampler reaches go through the costly checks.


@dataclass
class WalkResult:
    """What `walk` returns: kept rows, funnel entries, every rejected row, and how far it looked."""

    kept: pl.DataFrame
    entries: list[dict]
    rejects: pl.DataFrame
    info: dict  # deterministic (goes into the funnel)
    timings: dict  # wall/CPU seconds per check (not deterministic: never in the manifest)
    skips: dict = field(default_factory=dict)  # plan position -> (transform, filter) it may skip for

    def complete(self, rejects: pl.DataFrame) -> pl.DataFrame:
        """``rejects`` (all of them, or the few shown as examples) with the transform's output and
        the filter's score filled in where the walk skipped the transform (see `check_rows`)."""
        if _SKIPPED not in rejects.columns:
            return rejects
        order = "_order"
        rows = rejects.with_row_index(order)
        parts = [rows.filter(pl.col(_SKIPPED).is_null())]
        for at, (transform, f) in self.skips.items():
            skipped = rows.filter(pl.col(_SKIPPED) == at)
            parts.append(score_filters(transform.apply(skipped.lazy()), [f]).collect())
        return pl.concat(parts, how="diagonal_relaxed").sort(order).drop(order, _SKIPPED)


_INTERNAL = ("_stratum", "_u", "_rank", "_pass")
_SKIPPED = "_skipped"  # on rows a filter dropped before the transform before it ran: that transform's plan position


def _check_columns(gi: int, group: Sequence[Filter]) -> list[str]:
    return [f"_check_{gi}_{i}" for i in range(len(group))]


def check_rows(batch: pl.DataFrame, plan: list[tuple[str, object]], timings: dict | None = None) -> pl.DataFrame:
    """Run the checks (transforms and filter groups, in `plan_steps` order) on ``batch``.

    Every row comes back once, in ``_rank`` order, with ``_pass`` and the reason columns of every
    filter group it reached (``_check_<group>_<i>``; null = kept); a filter group sees only the
    rows the ones before it kept, so a costly filter (language) runs on the survivors alone. A
    transform skips the rows the lone filter after it already drops (`Filter.decided_before`):
    they come back with ``_skipped`` (the transform's place in ``plan``), that filter's reason and
    without the transform's output (`WalkResult.complete` fills it in for the rejected rows anyone
    looks at).
    """
    import time

    alive = batch
    dropped: list[pl.DataFrame] = []
    for gi, (kind, item) in enumerate(plan):
        tick = (time.perf_counter(), time.process_time())
        rows = alive.height
        if kind == "transform":
            decided = _decided_before(plan, gi + 1)
            if decided is not None:
                (col,) = _check_columns(gi + 1, [decided[1]])
                marked = alive.with_columns(decided[2].alias(col))
                skipped = marked.filter(pl.col(col).is_not_null()).with_columns(pl.lit(gi, pl.Int32).alias(_SKIPPED))
                dropped.append(skipped)
                alive = marked.filter(pl.col(col).is_null()).drop(col)
                rows = alive.height
            alive = item.apply(alive.lazy()).collect()
            name = item.name
        elif kind == "filters":
            scored = with_reasons(score_filters(alive.lazy(), item), item).collect()
            scored = scored.rename(dict(zip(reason_columns(item), _check_columns(gi, item))))
            ok = pl.lit(True)
            for col in _check_columns(gi, item):
                ok = ok & pl.col(col).is_null()
            dropped.append(scored.filter(~ok))
            alive = scored.filter(ok)
            name = "+".join(f.name for f in item)
        else:
            raise TypeError(f"{item!r}: a select cannot run as a check while sampling")
        if timings is not None:
            t = timings.setdefault(name, {"rows": 0, "seconds": 0.0, "cpu": 0.0})
            t["rows"] += rows
            t["seconds"] += time.perf_counter() - tick[0]
            t["cpu"] += time.process_time() - tick[1]
    frames = [alive.with_columns(pl.lit(True).alias("_pass"))]
    frames += [d.with_columns(pl.lit(False).alias("_pass")) for d in dropped]
    return pl.concat(frames, how="diagonal_relaxed").sort("_rank")


class _Group:
    """One (stratum, group)'s rows in priority order and what the walk learnt about them."""

    def __init__(self, rows: pl.DataFrame):
        self.rows = rows
        self.pos = 0  # rows checked so far (a prefix of the priority order)
        self.passes: list[int] = []  # their positions that passed every check
        self.checked: list[pl.DataFrame] = []


def walk(frame: pl.DataFrame, step, seed: int) -> WalkResult:
    """`curation.filters.sampling.FilteredSample` over the eligible rows ``frame`` (both engines).

    Quotas come from ``step.sample.quotas`` with weights = eligible rows per group and caps =
    rows that pass the checks, each cap looked into lazily: ``cap(group, k)`` checks the group's
    rows in priority order, in batches (twice the rows still needed at first, then as many as the
    pass rate seen so far says, at least ``min_batch``), until ``k`` passed or the group ended.
    Checks are row-wise, so the rows kept, the funnel and the rejects are those of the eager
    definition whatever the batch sizes: a group's funnel covers its rows up to the last one kept
    (the rows the sampler *reached*); the rest are ``not_sampled``.
    """
    import math

    sample = step.sample
    plan = plan_steps(step.checks)
    order, descending = sample.priority()
    ranked = frame.with_columns(sample.stratum_expr().alias("_stratum"), seeded_unit(seed).alias("_u")).sort(
        ["_stratum", sample.group, *order], descending=[False, False, *descending], nulls_last=True
    )
    groups: dict[tuple[str, str], _Group] = {}
    sizes: dict[str, dict[str, int]] = {}
    for (stratum, group), rows in ranked.partition_by(["_stratum", sample.group], as_dict=True,
                                                      maintain_order=True).items():  # fmt: skip
        groups[(stratum, group)] = _Group(rows.with_row_index("_rank"))
        sizes.setdefault(stratum, {})[group] = rows.height
    timings: dict = {}

    def cap(key: tuple[str, str], k: int) -> int:
        g = groups[key]
        while len(g.passes) < k and g.pos < g.rows.height:
            rate = (len(g.passes) + 1) / (g.pos + 2)
            size = max(step.min_batch, math.ceil((k - len(g.passes)) / rate))
            checked = check_rows(g.rows.slice(g.pos, size), plan, timings)
            g.passes += [g.pos + i for i in checked["_pass"].arg_true().to_list()]
            g.checked.append(checked)
            g.pos += checked.height
        return min(len(g.passes), k)

    take = sample.quotas(sizes, caps=cap)
    empty = check_rows(ranked.head(0).with_row_index("_rank"), plan)  # the schema when nothing is checked
    reached, unreached = [empty], []
    for key in sorted(groups):
        g, k = groups[key], take.get(key, 0)
        until = g.passes[k - 1] + 1 if k else 0
        if until:
            reached.append(pl.concat(g.checked, how="diagonal_relaxed").head(until))
        unreached.append(g.rows.slice(until))
    reached_rows = pl.concat(reached, how="diagonal_relaxed")
    n_in, n_reached = frame.height, reached_rows.height
    not_sampled = (
        pl.concat(unreached, how="diagonal_relaxed") if unreached else ranked.head(0).with_row_index("_rank")
    ).with_columns(pl.lit(sample.reason).alias("reason"), pl.lit(step.name).alias("step"))

    entries = [select_entry(step, n_in, n_reached)]
    funnel: dict = {"steps": entries, "alone": {}}
    rejects = [not_sampled]
    alive, n = reached_rows, n_reached
    for gi, (kind, item) in enumerate(plan):
        if kind == "transform":
            entries.append(transform_entry(item, n))
            continue
        local = alive.rename(dict(zip(_check_columns(gi, item), reason_columns(item))))
        counts = local.select(funnel_aggregations(item)).row(0, named=True)
        n = record_filters(funnel, item, counts, n, first=False)
        rejects.append(rejected_rows(local.lazy(), item).collect())
        alive = kept_rows(local.lazy(), item).collect()
    internal = [c for c in alive.columns if c in (*_INTERNAL, _SKIPPED) or c.startswith("_check_")]
    kept = alive.drop(internal)
    rejected = pl.concat(rejects, how="diagonal_relaxed")
    rejected = rejected.drop([c for c in rejected.columns if c in _INTERNAL or c.startswith("_check_")])
    checked, skipped = _rows_checked(groups, plan)
    info = {"step": step.name, "eligible": n_in, "reached": n_reached, "checked": checked}
    if skipped:
        info["skipped"] = skipped
    skips = {gi - 1: d[:2] for gi in range(len(plan)) if (d := _decided_before(plan, gi)) is not None}
    return WalkResult(kept=kept, entries=entries, rejects=rejected, info=info, timings=timings, skips=skips)


def _rows_checked(groups: dict, plan: list[tuple[str, object]]) -> tuple[dict[str, int], dict[str, int]]:
    """Rows each check ran on (the reached rows plus what the last batches looked at beyond them),
    and per transform the rows it skipped because the filter after it already dropped them."""
    frames = [f for g in groups.values() for f in g.checked]
    if not frames:
        return {}, {}
    seen = pl.concat(frames, how="diagonal_relaxed")
    out: dict[str, int] = {}
    skipped: dict[str, int] = {}
    alive = pl.lit(True)
    for gi, (kind, item) in enumerate(plan):
        n = seen.filter(alive).height
        if kind == "transform":
            skips = seen.filter(alive & (pl.col(_SKIPPED) == gi).fill_null(False)).height if _SKIPPED in seen.columns else 0
            out[item.name] = n - skips
            if skips:
                skipped[item.name] = skips
            continue
        for f in item:
            out[f.name] = n
        for col in _check_columns(gi, item):
            alive = alive & pl.col(col).is_null()
    return out, skipped
