"""The three kinds of step a recipe is made of, each a small immutable object over Polars.

- `Filter`: a named **score** expression, and a **reason** expression on that score that is null
  where the row is kept and names the rule where it is dropped. Scores are columns
  (``score__<name>``), so the card can plot them and show what another threshold would keep.
- `Transform`: rewrites columns (HTML -> Markdown, ftfy, prompt choice…).
- `Select`: whole-frame decisions (one answer per question, dedup, stratified sampling).

``cheap`` steps are pure Polars expressions; the pipeline runs every cheap filter over all
candidates in one pass and leaves costly steps (Python per row: HTML conversion, language
detection) to the rows that survive.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Filter:
    """Base for filters: subclasses set ``name``/``reasons`` and implement ``score``/``reason``."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    #: Every reason ``reason`` may return (for the funnel's counts).
    @property
    def reasons(self) -> tuple[str, ...]:
        raise NotImplementedError

    cheap = True

    @property
    def score_column(self) -> str:
        return f"score__{self.name}"

    def score(self) -> pl.Expr:
        """The score of each row (numeric or boolean)."""
        raise NotImplementedError

    def reason(self, score: pl.Expr) -> pl.Expr:
        """Null where the row is kept, else the reason it is dropped."""
        raise NotImplementedError

    def prepare(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Columns a costly score needs, computed on the rows still alive (default: nothing)."""
        return lf

    def reason_alone(self) -> pl.Expr:
        """``reason(score())``, which a cheap filter may compute more cheaply: the first pass over
        every candidate needs only the reasons (scores are computed again for the rows it keeps)."""
        return self.reason(self.score())

    def decided_before(self, step: Transform) -> pl.Expr | None:
        """This filter's reason read from the columns *before* ``step`` wrote the one it scores:
        null where undecided, so ``step`` can skip the rows it drops anyway; None if it never can."""
        return None


@dataclass(frozen=True)
class Transform:
    """Base for transforms: ``apply`` returns the frame with rewritten columns."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    cheap = True

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        raise NotImplementedError

    def length_bounds(self, column: str, minimum: int | None, maximum: int | None) -> pl.Expr | None:
        """Bounds on the characters ``apply`` writes into ``column``, from the columns it reads: a
        struct of ``lower`` and ``upper`` (null where unknown; a step may leave null the bounds that
        could not settle ``[minimum, maximum]``); None when the step offers none."""
        return None


@dataclass(frozen=True)
class Select:
    """Base for whole-frame selections: ``apply`` returns the rows kept."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def reason(self) -> str:
        """Why a row not selected was dropped."""
        raise NotImplementedError

    def apply(self, lf: pl.LazyFrame, seed: int) -> pl.LazyFrame:
        raise NotImplementedError

    def decides_on(self) -> list[str] | None:
        """The columns the choice reads (an engine moves only these to one node); None: all."""
        return None


Step = Filter | Transform | Select


def kind_of(step: Step) -> str:
    if isinstance(step, Filter):
        return "filter"
    if isinstance(step, Transform):
        return "transform"
    if isinstance(step, Select):
        return "select"
    raise TypeError(f"not a step: {step!r}")


def describe(step: Step) -> dict:
    """A step as plain data (kind, name, parameters) for manifests and cards."""
    from dataclasses import fields, is_dataclass

    params = {f.name: getattr(step, f.name) for f in fields(step)} if is_dataclass(step) else {}
    return {"kind": kind_of(step), "name": step.name, "params": _plain(params)}


def _plain(value):
    from dataclasses import asdict, is_dataclass

    if isinstance(value, (Filter, Transform, Select)):
        return describe(value)  # a step inside a step (the checks of a FilteredSample)
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def seeded_unit(seed: int, column: str = "id") -> pl.Expr:
    """A number in [0, 1) from hashing ``column`` with ``seed``: every random choice comes from here.

    It depends only on the row's id and the seed, never on order, partitioning or thread count.
    (Polars' hash is stable within a Polars version; the manifest records the version.)
    """
    return (pl.col(column).hash(seed=seed) % (1 << 53)).cast(pl.Float64) / float(1 << 53)
