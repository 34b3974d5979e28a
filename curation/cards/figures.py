"""Histograms beside the card: response length and every score column, as byte-stable PNGs.

Scores are columns (DESIGN.md), so the card can show their distribution without re-running the
pipeline. Figures are drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot,
no process-wide backend switch, no display), under matplotlib's default style (a user's
matplotlibrc cannot change the bytes), and saved without the ``Software`` text chunk, so the same
rows give the same bytes.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.style
import matplotlib.ticker
import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Native per-row score columns of the sources, first present wins (`figures/score.png`).
NATIVE_SCORES = ("answer_score", "comment_score", "score")

#: Prefix of the pipeline's filter score columns (`score__<filter>`).
SCORE_PREFIX = "score__"

FIGURES_DIR = "figures"
_MAX_BINS = 50
_SIZE_INCHES = (6.4, 3.6)
_DPI = 100


@dataclass(frozen=True)
class Histogram:
    """One written figure: where it is (relative to the card), what it shows, summary numbers."""

    path: str
    column: str
    title: str
    xlabel: str
    count: int
    minimum: float
    median: float
    mean: float
    maximum: float
    rejected_count: int = 0


def _numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean


def _stem(name: str) -> str:
    """A file-name-safe stem for a column name (score columns come from filter names)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "score"


def histogram_specs(schema: pl.Schema) -> list[tuple[str, str, pl.Expr, str, str]]:
    """(file stem, column, value expression, title, x label) for every figure the rows allow.

    Length of ``response`` in characters, the source's native score (``answer_score`` for Stack
    Exchange, ``comment_score`` for Reddit), and every numeric ``score__<filter>`` column.
    """
    specs: list[tuple[str, str, pl.Expr, str, str]] = []
    if "response" in schema and schema["response"] == pl.String:
        specs.append(
            (
                "length",
                "response",
                pl.col("response").str.len_chars(),
                "Response length",
                "characters",
            )
        )
    native = next((c for c in NATIVE_SCORES if c in schema and _numeric(schema[c])), None)
    if native is not None:
        specs.append(("score", native, pl.col(native), f"Score ({native})", native))
    for name, dtype in schema.items():
        if name.startswith(SCORE_PREFIX) and _numeric(dtype):
            filt = name[len(SCORE_PREFIX) :]
            specs.append((_stem(name), name, pl.col(name), f"Filter score: {filt}", name))
    return specs


def _values(frame: pl.DataFrame | pl.LazyFrame, expr: pl.Expr) -> np.ndarray:
    """Finite float values of ``expr`` over ``frame`` (nulls, NaN and inf dropped)."""
    out = frame.lazy().select(expr.cast(pl.Float64).alias("v")).drop_nulls().collect()
    values = out.get_column("v").to_numpy()
    return values[np.isfinite(values)]


def _edges(values: np.ndarray) -> np.ndarray:
    """Bin edges: one per integer when integers span few values, else 2x Sturges' count, capped.

    (numpy's "auto"/"fd" rules can ask for millions of bins on heavy-tailed scores.)
    """
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return np.array([lo - 0.5, hi + 0.5])
    if np.all(values == np.round(values)) and hi - lo <= _MAX_BINS:
        return np.arange(lo, hi + 2.0) - 0.5
    bins = min(_MAX_BINS, max(20, 2 * (int(np.ceil(np.log2(values.size))) + 1)))
    return np.linspace(lo, hi, bins + 1)


def _render(kept: np.ndarray, rejected: np.ndarray | None, title: str, xlabel: str) -> bytes:
    """PNG bytes of one histogram (kept rows, rejected rows outlined on top when given)."""
    pool = kept if rejected is None or rejected.size == 0 else np.concatenate([kept, rejected])
    edges = _edges(pool)
    with matplotlib.style.context("default"), matplotlib.rc_context({"svg.hashsalt": "curation"}):
        fig = Figure(figsize=_SIZE_INCHES, dpi=_DPI)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        if kept.size:
            ax.hist(
                kept,
                bins=edges,
                color="#3b75af",
                edgecolor="white",
                linewidth=0.5,
                label=f"kept ({kept.size:,})",
            )
        if rejected is not None and rejected.size:
            ax.hist(
                rejected,
                bins=edges,
                histtype="step",
                color="#c0392b",
                linewidth=1.2,
                label=f"rejected ({rejected.size:,})",
            )
            ax.legend(loc="upper right", fontsize="small")
            counts = np.concatenate([np.histogram(v, bins=edges)[0] for v in (kept, rejected)])
            counts = counts[counts > 0]
            if counts.max() > 50 * counts.min():  # rejected rows often outnumber kept ones
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(
                    matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}")
                )
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("rows")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` in one rename, so a reader never sees half a PNG."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_histograms(
    folder: Path,
    kept: pl.DataFrame,
    rejected: pl.DataFrame | pl.LazyFrame | None = None,
) -> list[Histogram]:
    """Write ``folder/figures/<stem>.png`` for every histogram the rows allow; return what was written.

    Score columns also present in ``rejected`` are drawn for the rejected rows too, which shows
    where each threshold cut. Columns with no finite value give no figure.
    """
    figures_dir = Path(folder) / FIGURES_DIR
    rejected_schema = rejected.collect_schema() if rejected is not None else None
    written: list[Histogram] = []
    for stem, column, expr, title, xlabel in histogram_specs(kept.schema):
        values = _values(kept, expr)
        other = None
        if (
            rejected is not None
            and column.startswith(SCORE_PREFIX)
            and column in rejected_schema
            and _numeric(rejected_schema[column])
        ):
            other = _values(rejected, expr)
        if values.size == 0 and (other is None or other.size == 0):
            continue
        png = _render(values, other, title, xlabel)
        figures_dir.mkdir(parents=True, exist_ok=True)
        _write_bytes(figures_dir / f"{stem}.png", png)
        stats = values if values.size else np.array([np.nan])
        written.append(
            Histogram(
                path=f"{FIGURES_DIR}/{stem}.png",
                column=column,
                title=title,
                xlabel=xlabel,
                count=int(values.size),
                minimum=float(np.min(stats)),
                median=float(np.median(stats)),
                mean=float(np.mean(stats)),
                maximum=float(np.max(stats)),
                rejected_count=0 if other is None else int(other.size),
            )
        )
    return written
