"""Sampling selects: one row per key, and stratified sampling with temperature across groups.

LIMA draws 200 questions from STEM exchanges and 200 from the others, choosing exchanges with
temperature τ = 3: p(exchange i) ∝ n_i^(1/τ), n_i = the exchange's eligible rows. We allocate
each stratum's quota to its groups by those probabilities deterministically (largest remainder,
capped by what each group has, the surplus handed on), rather than by drawing exchanges one at a
time: the expected counts are the same, the variance is lower, and the result depends only on
the recipe. Within a group the highest ``order_by`` rows come first (LIMA: the highest-scoring
questions), ties and random orders broken by hashing the id with the seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from curation.filters.base import Select, Transform, seeded_unit
from curation.sources.stackexchange.sites import category_expr


@dataclass(frozen=True)
class OnePerKey(Select):
    """Keep one row per ``keys``: the highest ``order_by``, or a seeded-random one when it is None.

    The unfiltered recipe keeps a random answer per question; Reddit recipes keep the top
    eligible comment per submission (after the flagged comments are gone).
    """

    keys: tuple[str, ...] = ("site", "question_id")
    order_by: str | None = None
    label: str = "one_per_question"
    why: str = "other_answer_of_question"

    @property
    def name(self) -> str:
        return self.label

    @property
    def reason(self) -> str:
        return self.why

    def decides_on(self) -> list[str]:
        return ["id", *self.keys, *([self.order_by] if self.order_by else [])]

    def apply(self, lf: pl.LazyFrame, seed: int) -> pl.LazyFrame:
        order = ([self.order_by] if self.order_by else []) + ["_u", "id"]
        descending = ([True] if self.order_by else []) + [False, False]
        chosen = (
            lf.select(*dict.fromkeys(self.decides_on()))
            .with_columns(seeded_unit(seed).alias("_u"))
            .sort(order, descending=descending, nulls_last=True)
            .unique(list(self.keys), keep="first", maintain_order=True)
            .select("id")
        )
        return lf.join(chosen, on="id", how="semi", maintain_order="left")


@dataclass(frozen=True)
class StackExchangeCategory(Transform):
    """``category`` = STEM or Other from the site (shipped table, with the recipe's overrides)."""

    overrides: tuple[tuple[str, str], ...] = ()

    name = "site_category"

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.with_columns(category_expr(pl.col("site"), dict(self.overrides)).alias("category"))


#: ``cap(group, k)`` -> min(the group's cap, k): a cap that may be found lazily (see `FilteredSample`).
CapFn = Callable[[str, int], int]


def _capped(caps: "dict[str, int] | CapFn") -> CapFn:
    if callable(caps):
        return caps
    return lambda g, k: min(caps.get(g, 0), k)


def allocate(
    sizes: dict[str, int], total: int, temperature: float | None, caps: "dict[str, int] | CapFn | None" = None
) -> dict[str, int]:
    """Split ``total`` over groups with p ∝ size^(1/temperature), capped by each group's cap.

    ``temperature`` None means uniform over groups (the limit of a very high temperature).
    ``caps`` defaults to ``sizes``; it may be a function ``cap(group, k)`` returning
    min(cap, k), so that a cap nobody knows yet (how many of a group's rows pass costly checks)
    is only looked into as far as the allocation needs: the result is the same as with the
    caps known in advance (every use of a cap is a comparison or a ``min`` with a bound).
    """
    cap = _capped(sizes if caps is None else caps)
    alloc = {g: 0 for g in sizes}
    left = total  # a total above the sum of the caps ends with every group at its cap either way
    power = 0.0 if temperature is None else (1.0 / temperature if temperature > 0 else 1.0)
    while left > 0:
        active = [g for g in sorted(sizes) if cap(g, alloc[g] + 1) > alloc[g]]
        if not active:
            break
        weight = {g: float(sizes[g]) ** power for g in active}
        total_weight = sum(weight.values())
        exact = {g: left * weight[g] / total_weight for g in active}
        floors = {g: math.floor(exact[g] + 1e-6) for g in active}  # 1e-6: float noise
        give = {g: cap(g, alloc[g] + floors[g]) - alloc[g] for g in active}
        if sum(give.values()) > left:
            give = {g: cap(g, alloc[g] + math.floor(exact[g])) - alloc[g] for g in active}
        if sum(give.values()) == 0:
            by_remainder = sorted(active, key=lambda g: (-(exact[g] - math.floor(exact[g])), g))
            for g in by_remainder[:left]:
                give[g] += 1
        for g, k in give.items():
            alloc[g] += k
        left -= sum(give.values())
    return alloc


def split_quota(total: int, shares: dict[str, float], available: "dict[str, int] | CapFn") -> dict[str, int]:
    """Quotas per stratum from shares (largest remainder), a short stratum's surplus handed on.

    ``available`` may be a function ``available(stratum, k)`` -> min(what the stratum has, k).
    """
    avail = _capped(available)
    weights = {s: w for s, w in shares.items() if w > 0}
    quotas = {s: 0 for s in weights}
    left = total
    while left > 0:
        active = [s for s in sorted(weights) if avail(s, quotas[s] + 1) > quotas[s]]
        if not active:
            break
        total_weight = sum(weights[s] for s in active)
        exact = {s: left * weights[s] / total_weight for s in active}
        give = {s: avail(s, quotas[s] + math.floor(exact[s] + 1e-6)) - quotas[s] for s in active}
        if sum(give.values()) > left:
            give = {s: avail(s, quotas[s] + math.floor(exact[s])) - quotas[s] for s in active}
        if sum(give.values()) == 0:
            for s in sorted(active, key=lambda s: (-(exact[s] - math.floor(exact[s])), s))[:left]:
                give[s] += 1
        for s, k in give.items():
            quotas[s] += k
        left -= sum(give.values())
    return quotas


@dataclass(frozen=True)
class StratifiedSample(Select):
    """Draw ``size`` rows: quotas per stratum by ``shares``, groups within a stratum by temperature.

    ``strata`` None means one stratum; empty ``shares`` means equal shares over the strata present.
    ``order_by`` None means a seeded random order within each group.
    """

    size: int = 400
    strata: str | None = "category"
    shares: tuple[tuple[str, float], ...] = (("STEM", 0.5), ("Other", 0.5))
    group: str = "group"
    temperature: float | None = 3.0
    order_by: str | None = "question_score"

    name = "stratified_sample"
    reason = "not_sampled"

    def quotas(
        self, sizes: dict[str, dict[str, int]], caps: CapFn | None = None
    ) -> dict[tuple[str, str], int]:
        """Rows to take per (stratum, group) from eligible counts ``sizes[stratum][group]``.

        ``caps`` (``cap((stratum, group), k)`` -> min(cap, k)) bounds what a group can give when
        it is less than its size (rows that pass checks run while sampling, see `FilteredSample`);
        a stratum's availability is then what its groups can give together.
        """
        if not self.strata:
            shares = {"all": 1.0}
        elif self.shares:
            shares = dict(self.shares)
        else:
            shares = {s: 1.0 for s in sizes}
        if caps is None:
            available: dict[str, int] | CapFn = {s: sum(groups.values()) for s, groups in sizes.items()}
            group_caps = {s: None for s in sizes}
        else:
            group_caps = {s: (lambda g, k, s=s: caps((s, g), k)) for s in sizes}

            def available(s: str, k: int) -> int:  # min(what the stratum's groups can give, k)
                if s not in sizes:
                    return 0
                return sum(allocate(sizes[s], k, self.temperature, group_caps[s]).values())

        quotas = split_quota(self.size, shares, available)
        take: dict[tuple[str, str], int] = {}
        for stratum in sorted(quotas):
            groups = sizes.get(stratum, {})
            for group, n in allocate(groups, quotas[stratum], self.temperature, group_caps.get(stratum)).items():
                take[(stratum, group)] = n
        return take

    def plan(self, counts: pl.DataFrame) -> pl.DataFrame:
        """Rows to take per (stratum, group), from eligible counts (columns ``_stratum``, group, ``n``)."""
        sizes: dict[str, dict[str, int]] = {}
        for row in counts.iter_rows(named=True):
            sizes.setdefault(row["_stratum"], {})[row[self.group]] = row["n"]
        rows = [{"_stratum": s, self.group: g, "_take": n} for (s, g), n in self.quotas(sizes).items() if n]
        return pl.DataFrame(rows, schema={"_stratum": pl.String, self.group: pl.String, "_take": pl.Int64})

    def stratum_expr(self) -> pl.Expr:
        return pl.col(self.strata) if self.strata else pl.lit("all")

    def priority(self) -> tuple[list[str], list[bool]]:
        """Sort columns and directions of the order within a group (``_u`` = the seeded hash of the id)."""
        order = ([self.order_by] if self.order_by else []) + ["_u", "id"]
        return order, ([True] if self.order_by else []) + [False, False]

    def decides_on(self) -> list[str]:
        return ["id", self.group, *([self.strata] if self.strata else []), *([self.order_by] if self.order_by else [])]

    def apply(self, lf: pl.LazyFrame, seed: int) -> pl.LazyFrame:
        stratum = self.stratum_expr()
        order, descending = self.priority()
        narrow = lf.select(
            "id", self.group, stratum.alias("_stratum"), seeded_unit(seed).alias("_u"),
            *([self.order_by] if self.order_by else []),
        ).collect(engine="streaming")  # fmt: skip
        plan = self.plan(narrow.group_by("_stratum", self.group).agg(pl.len().alias("n")))
        chosen = (
            narrow.sort(order, descending=descending, nulls_last=True)
            .with_columns(pl.int_range(1, pl.len() + 1).over("_stratum", self.group).alias("_rank"))
            .join(plan, on=["_stratum", self.group], how="inner")
            .filter(pl.col("_rank") <= pl.col("_take"))
            .select("id")
        )
        return lf.join(chosen.lazy(), on="id", how="semi", maintain_order="left")


@dataclass(frozen=True)
class FilteredSample(Select):
    """Sample while filtering: ``sample``'s draw, with the costly ``checks`` run only on rows it reaches.

    The rows this step receives are the *eligible* ones (they passed every cheap filter). The
    group weights of ``sample`` (temperature) are their counts; ``checks`` (transforms and
    filters, e.g. HTML -> Markdown, answer length and style, language) are an acceptance test.
    The result is, by definition, the *eager* one: run every check on every eligible row, then
    take per (stratum, group) the first ``take`` passing rows in priority order (``order_by``
    descending, the seeded hash, the id), with ``take`` from `StratifiedSample.quotas` (weights =
    eligible counts, caps = passing counts). It is computed lazily by `curation.pipeline.walk`:
    a group's rows are checked in priority order, in batches, only as far as the allocation asks
    (LIMA, too, chose exchanges first, then the best questions of an exchange, then filtered
    their answers). Rows the walk never reached are dropped as ``not_sampled``.

    ``min_batch``: the fewest rows checked at a time. The result never depends on it.
    """

    checks: tuple = ()
    sample: StratifiedSample = StratifiedSample()
    min_batch: int = 64

    @property
    def name(self) -> str:
        return self.sample.name

    @property
    def reason(self) -> str:
        return self.sample.reason

    def apply(self, lf: pl.LazyFrame, seed: int) -> pl.LazyFrame:
        raise TypeError("FilteredSample runs through curation.pipeline.walk (both engines call it)")
