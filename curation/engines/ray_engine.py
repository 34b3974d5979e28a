"""Running a recipe's steps on Ray Data: the same steps, the same Polars code, the same rows as locally.

- Row-wise steps (filters, transforms) run as ``map_batches`` over Arrow batches, each batch handed
  to the functions the local pipeline uses (`curation.pipeline`: scores, reasons, kept and rejected
  rows). A filter group's funnel counts are sums, so each batch returns its counts and its
  smallest rejected ids per reason (a few rows), and the driver adds them up: the funnel equals the
  local one by construction. Costly steps (HTML -> Markdown, language) run on small blocks, one
  task each, so they spread over every CPU of the cluster, and are materialised once.
- Whole-frame steps (`OnePerKey`, `ExactDedup`, `StratifiedSample`) read a small side table (the
  id and the columns the step decides on; for dedup a 64-bit hash of the normalised text instead
  of the text), resolved on the driver by the step's own ``apply``, and come back to the cluster as
  an id filter. Dedup fetches the texts of rows whose hashes collide, so hash collisions never
  change the result. A select the engine does not know reads every column on the driver.
- `FilteredSample` (sampling while filtering) runs on the driver with the local engine's
  `curation.pipeline.walk`, over the rows that passed the cheap filters (few), so the costly checks
  touch only the rows the sampler reaches, exactly as locally.
- Candidates are any ``ray.data.Dataset`` (see `curation.engines.ray_sources`) or a Polars frame.
  The kept rows, examples and rejects come back to the driver as in `curation.pipeline.run`.

Every step sees rows in no particular order and no step depends on it (choices hash the row id),
so the result does not depend on blocks, batches, workers or retries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from curation.engines.ray_runtime import require_ray, session, user_errors
from curation.filters.base import Filter, Select, Step, Transform
from curation.filters.dedup import ExactDedup
from curation.filters.sampling import FilteredSample
from curation.pipeline import (
    PipelineResult,
    drive,
    concat_rejects,
    example_ids,
    examples_of,
    funnel_aggregations,
    kept_rows,
    record_filters,
    rejected_rows,
    score_filters,
    select_entry,
    transform_entry,
    walk,
    with_reasons,
)

__all__ = ["run", "scan", "session", "dataset_from_frame", "BATCH_ROWS"]

#: Rows per batch handed to the Polars code, and per block before a costly step.
BATCH_ROWS = 4096
#: Seed of the 64-bit hash dedup's side table carries instead of the text.
_DEDUP_HASH_SEED = 0x5EED


def scan(recipe, paths: Sequence[str | Path], **options):
    """``recipe.scan`` for the Ray engine: ``(candidates as a ray.data.Dataset, what the source saw)``.

    Stack Exchange dumps (`scan_stackexchange_on_ray`, which also takes its Ray options here:
    ``range_bytes``, ``bucket_bytes``, ``max_retries``, ``shuffle``, ``timings``) and Pushshift
    dumps (`scan_reddit_on_ray`: a task per ``.zst``, byte ranges of NDJSON) are parsed on the
    cluster, and so are wikiHow pages (`scan_wikihow_on_ray`: groups of page files, a task per
    WARC); KoCoT (one small file) is scanned by its local connector and handed to Ray in Arrow
    batches.
    """
    require_ray()
    if getattr(recipe, "source", None) == "stackexchange":
        from curation.engines.ray_sources import scan_stackexchange_on_ray

        ds, stats = scan_stackexchange_on_ray(paths, include_meta=recipe.include_meta, **options)
        return ds, {"inputs": stats.inputs, "malformed_rows_skipped": stats.malformed, "sites": stats.sites,
                    "skipped_meta_sites": stats.skipped_meta}  # fmt: skip
    if getattr(recipe, "source", None) == "reddit":
        from curation.engines.ray_reddit import scan_reddit_on_ray

        lf, stats = scan_reddit_on_ray(paths, list(recipe.subreddits) or None,
                                       include_submissions_without_comments=recipe.prompts_only, **options)  # fmt: skip
        return dataset_from_frame(lf), {"inputs": stats.inputs(), "malformed_lines_skipped": stats.malformed,
                                        "ingest": stats.to_dict()}  # fmt: skip
    if getattr(recipe, "source", None) == "wikihow":
        from curation.engines.ray_wikihow import scan_wikihow_on_ray
        from curation.fingerprint import cache_root

        lf, stats = scan_wikihow_on_ray(paths, **options)
        return dataset_from_frame(lf), {"inputs": stats.inputs(options.get("cache_dir") or cache_root()),
                                        "pages": stats.to_dict()}  # fmt: skip
    lf, seen = recipe.scan(list(paths), **options)
    return dataset_from_frame(lf), seen


def dataset_from_frame(frame: pl.LazyFrame | pl.DataFrame, batch_rows: int = 64 * BATCH_ROWS):
    """A Polars frame as a materialised Ray Dataset, streamed into the object store batch by batch."""
    ray = require_ray()
    lf = frame.lazy()
    refs = [ray.put(batch.to_arrow()) for batch in lf.collect_batches(chunk_size=batch_rows) if batch.height]
    if not refs:
        refs = [ray.put(pl.DataFrame(schema=lf.collect_schema()).to_arrow())]
    return ray.data.from_arrow_refs(refs)


def run(
    candidates,
    steps: Sequence[Step],
    *,
    seed: int = 0,
    keep_rejects: bool = False,
    examples_per_reason: int = 3,
    on_step: Callable[[str], None] | None = None,
    batch_rows: int = BATCH_ROWS,
    address: str | None = None,
    dedup_hash_bits: int = 64,
) -> PipelineResult:
    """`curation.pipeline.run` on Ray Data: same arguments, same `PipelineResult`.

    ``candidates``: a ``ray.data.Dataset`` or a Polars frame. Without a running Ray, a local
    instance (or the cluster at ``address``) is started for the call. ``batch_rows``: rows per
    batch. ``dedup_hash_bits``: width of dedup's text hash (fewer bits force collisions, which
    must not change the result: tests use that). Tasks whose worker dies are retried (Ray Data).
    """
    ray = require_ray()
    if not ray.is_initialized():
        if not isinstance(candidates, (pl.LazyFrame, pl.DataFrame)):
            raise RuntimeError("a ray.data.Dataset needs the Ray it was made in; run inside ray_engine.session()")
        with session(address):
            return run(candidates, steps, seed=seed, keep_rejects=keep_rejects, examples_per_reason=examples_per_reason,
                       on_step=on_step, batch_rows=batch_rows, dedup_hash_bits=dedup_hash_bits)  # fmt: skip
    if isinstance(candidates, (pl.LazyFrame, pl.DataFrame)):
        candidates = dataset_from_frame(candidates)
    with user_errors():
        runner = _RayRunner(ray, candidates, seed, keep_rejects, examples_per_reason, on_step, batch_rows,
                            dedup_hash_bits)  # fmt: skip
        return drive(runner, steps)


class _RayRunner:
    """`curation.pipeline._Runner` over a Ray Dataset.

    The driver follows the schema through the steps on an empty lazy frame (plans only: no user
    code runs on the driver), for results that have no rows.
    """

    def __init__(self, ray, ds, seed, keep_rejects, k, on_step, batch_rows, hash_bits):
        self.ray = ray
        self.ds = ds.materialize()
        self.seed = seed
        self.keep_rejects = keep_rejects
        self.k = k
        self.on_step = on_step or (lambda name: None)
        self.batch_rows = batch_rows
        self.hash_bits = hash_bits
        self.schema = _schema_of(self.ds)
        self.n = self.ds.count()
        self.funnel: dict = {"candidates": self.n, "steps": [], "alone": {}}
        self.first_filters = True
        self.examples: list[pl.DataFrame] = []
        self.rejected: list[pl.DataFrame] = []
        self.timings: dict = {}

    # -- plumbing ---------------------------------------------------------------------------
    def _map(self, ds, fn, *, whole_blocks: bool = False, **kwargs):
        batch_size = None if whole_blocks else self.batch_rows
        return ds.map_batches(fn, batch_format="pyarrow", batch_size=batch_size, zero_copy_batch=True, fn_kwargs=kwargs)

    def _collect(self, ds, schema) -> pl.DataFrame:
        """Every row of ``ds`` on the driver; ``schema`` gives the columns when there are no rows."""
        frames = [pl.from_arrow(t) for t in self.ray.get(ds.to_arrow_refs()) if t.num_rows]
        return pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)

    def _spread(self, ds):
        """Small blocks before a costly step (one task each), so it runs on every CPU, not one per block."""
        cpus = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        rows = max(64, min(self.batch_rows, -(-self.n // (4 * cpus))))
        return ds.repartition(target_num_rows_per_block=rows)

    # -- steps -----------------------------------------------------------------------------
    def filters(self, group: list[Filter]) -> None:
        for f in group:
            self.on_step(f.name)
        costly = any(not f.cheap for f in group)
        source = self._spread(self.ds) if costly else self.ds
        scored = self._map(source, _score_batch, whole_blocks=costly, group=group)
        if costly:
            scored = scored.materialize()  # nothing costly runs twice
        empty = with_reasons(score_filters(pl.LazyFrame(schema=self.schema), group), group)  # schemas only
        side = self._collect(self._map(scored, _filter_side, group=group, k=self.k), _SIDE_SCHEMA)
        names = [e.meta.output_name() for e in funnel_aggregations(group)]
        totals = side.filter(pl.col("key").is_not_null()).group_by("key").agg(pl.col("n").sum())
        counts = dict.fromkeys(names, 0) | dict(zip(totals["key"].to_list(), totals["n"].to_list()))
        record_filters(self.funnel, group, counts, self.n, self.first_filters)
        self.first_filters = False
        rejects_schema = rejected_rows(empty, group).collect_schema()
        if self.keep_rejects:
            rejects = self._collect(self._map(scored, _filter_rejects, group=group, ids=None), rejects_schema)
            self._keep(rejects)
        elif int(counts["kept"]) != self.n:
            picks = example_ids(side.filter(pl.col("reason").is_not_null()).lazy(), self.k).collect()["id"]
            shown = self._collect(self._map(scored, _filter_rejects, group=group, ids=picks.to_arrow()), rejects_schema)
            self.examples.append(examples_of(shown.lazy(), self.k))
        kept = self._map(scored, _filter_kept, group=group).materialize()
        self.schema = kept_rows(empty, group).collect_schema()
        self.n = int(counts["kept"])
        if kept.count() != self.n:
            raise RuntimeError(f"ray engine: {kept.count()} rows kept but the funnel counted {self.n}")
        self.ds = kept

    def transform(self, step: Transform) -> None:
        self.on_step(step.name)
        source = self.ds if step.cheap else self._spread(self.ds)
        self.ds = self._map(source, _transform_batch, whole_blocks=not step.cheap, step=step)
        if not step.cheap:
            self.ds = self.ds.materialize()
        self.schema = step.apply(pl.LazyFrame(schema=self.schema)).collect_schema()
        self.funnel["steps"].append(transform_entry(step, self.n))

    def select(self, step: Select) -> None:
        self.on_step(step.name)
        before = self.ds.materialize()
        side_schema = _side_columns(pl.LazyFrame(schema=self.schema), step, self.hash_bits).collect_schema()
        side = self._collect(self._map(before, _select_side, step=step, hash_bits=self.hash_bits), side_schema)
        if isinstance(step, ExactDedup):
            chosen = self._resolve_dedup(before, step, side)
        else:
            chosen = step.apply(side.lazy(), self.seed).select("id").collect()["id"]
        n_after = chosen.len()
        self.funnel["steps"].append(select_entry(step, self.n, n_after))
        if n_after != self.n:
            dropped = side.select("id").filter(~pl.col("id").is_in(chosen.implode()))["id"]
            wanted = dropped if self.keep_rejects else dropped.sort().head(self.k)
            rows = self._collect(self._map(before, _filter_ids, ids=wanted.to_arrow(), keep=True), self.schema)
            rejects = rows.with_columns(pl.lit(step.reason).alias("reason"), pl.lit(step.name).alias("step"))
            if self.keep_rejects:
                self._keep(rejects)
            else:
                self.examples.append(examples_of(rejects.lazy(), self.k))
            keep = chosen.len() <= dropped.len()
            ids = chosen if keep else dropped
            self.ds = self._map(before, _filter_ids, ids=ids.to_arrow(), keep=keep).materialize()
        else:
            self.ds = before
        self.n = n_after

    def walk(self, step: FilteredSample) -> None:
        """Sampling with costly checks: on the driver, over the eligible rows, with the local engine's `walk`."""
        self.on_step(step.name)
        done = walk(self._collect(self.ds, self.schema), step, self.seed)
        self.funnel["steps"] += done.entries
        self.funnel.setdefault("sampled_while_filtering", []).append(done.info)
        if self.keep_rejects:
            self._keep(done.complete(done.rejects))
        else:
            self.examples.append(done.complete(examples_of(done.rejects.lazy(), self.k)))
        self.timings.setdefault("walk", []).append(done.timings)
        self.schema = done.kept.schema
        self.n = done.kept.height
        self.ds = dataset_from_frame(done.kept)

    def _resolve_dedup(self, before, step: ExactDedup, side: pl.DataFrame) -> pl.Series:
        """Rows alone with their hash are kept; among colliding ones the step's own ``apply`` decides, on the texts."""
        shared = pl.len().over("_key_hash") > 1
        alone = side.filter(~shared)["id"]
        contested = side.filter(shared)["id"]
        if contested.is_empty():
            return alone
        columns = list(dict.fromkeys(["id", *([step.prefer] if step.prefer else []), step.column]))
        texts = self._collect(
            self._map(before, _filter_ids, ids=contested.to_arrow(), keep=True, columns=columns),
            {c: self.schema[c] for c in columns},
        )
        winners = step.apply(texts.lazy(), self.seed).select("id").collect()["id"]
        return pl.concat([alone, winners])

    def _keep(self, rejects: pl.DataFrame) -> None:
        self.examples.append(examples_of(rejects.lazy(), self.k))
        self.rejected.append(rejects)

    def result(self) -> PipelineResult:
        kept = self._collect(self.ds, self.schema).sort("id")
        self.funnel["kept"] = kept.height
        examples = concat_rejects(self.examples)
        rejected = concat_rejects(self.rejected) if self.keep_rejects else None
        return PipelineResult(kept=kept, funnel=self.funnel, examples=examples, rejected=rejected,
                              timings=self.timings)  # fmt: skip


def _schema_of(ds) -> pl.Schema:
    schema = ds.schema()
    if schema is None:
        return pl.Schema()
    arrow = schema.base_schema if hasattr(schema, "base_schema") else schema
    return pl.from_arrow(arrow.empty_table()).schema


# --------------------------------------------------------------------------- inside tasks (per batch)

_SIDE_SCHEMA = {"key": pl.String, "n": pl.Int64, "reason": pl.String, "id": pl.String}


def _score_batch(table, *, group: list[Filter]):
    """Scores and reasons of every filter of the group (the local pipeline's code)."""
    return with_reasons(score_filters(pl.from_arrow(table).lazy(), group), group).collect().to_arrow()


def _filter_side(table, *, group, k):
    """This batch's funnel counts (``key``, ``n``) and its ``k`` smallest rejected ids per reason."""
    scored = pl.from_arrow(table).lazy()
    counts, picks = pl.collect_all(
        [scored.select(funnel_aggregations(group)), example_ids(rejected_rows(scored, group), k)]
    )
    row = counts.row(0, named=True)
    count_rows = pl.DataFrame({"key": list(row), "n": [int(v or 0) for v in row.values()]},
                              schema={"key": pl.String, "n": pl.Int64})  # fmt: skip
    return pl.concat([count_rows, picks.select("reason", "id")], how="diagonal").select(
        [pl.col(c).cast(t) for c, t in _SIDE_SCHEMA.items()]
    ).to_arrow()


def _filter_rejects(table, *, group, ids):
    """Rejected rows with ``reason`` and ``step`` (only those with one of ``ids``, when given)."""
    rejects = rejected_rows(pl.from_arrow(table).lazy(), group)
    if ids is not None:
        rejects = rejects.filter(pl.col("id").is_in(pl.Series(ids).implode()))
    return rejects.collect().to_arrow()


def _filter_kept(table, *, group):
    return kept_rows(pl.from_arrow(table).lazy(), group).collect().to_arrow()


def _transform_batch(table, *, step):
    return step.apply(pl.from_arrow(table).lazy()).collect().to_arrow()


def _side_columns(lf: pl.LazyFrame, step: Select, hash_bits: int = 64) -> pl.LazyFrame:
    """What a select decides on (``step.decides_on()``); dedup carries a hash of its text instead."""
    named = step.decides_on()
    if named is None:
        return lf  # a select that does not say: every column
    if isinstance(step, ExactDedup):
        key = step.key().hash(_DEDUP_HASH_SEED)
        if hash_bits < 64:
            key = key % (1 << hash_bits)
        return lf.select(*dict.fromkeys(c for c in named if c != step.column), key.alias("_key_hash"))
    return lf.select(*dict.fromkeys(named))


def _select_side(table, *, step, hash_bits):
    return _side_columns(pl.from_arrow(table).lazy(), step, hash_bits).collect().to_arrow()


def _filter_ids(table, *, ids, keep: bool, columns: list[str] | None = None):
    frame = pl.from_arrow(table).lazy()
    member = pl.col("id").is_in(pl.Series(ids).implode())
    frame = frame.filter(member if keep else ~member)
    if columns is not None:
        frame = frame.select(columns)
    return frame.collect().to_arrow()
