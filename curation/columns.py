"""The canonical columns every candidate and every published row carries (DESIGN.md)."""

from __future__ import annotations

import polars as pl

#: Timestamps are UTC, microsecond precision, everywhere.
TIMESTAMP = pl.Datetime("us", time_zone="UTC")

#: name -> dtype of the canonical columns, in publishing order.
CANONICAL: dict[str, pl.DataType] = {
    "id": pl.String(),
    "source": pl.String(),
    "group": pl.String(),
    "prompt": pl.String(),
    "response": pl.String(),
    "license": pl.String(),
    "url": pl.String(),
    "created_at": TIMESTAMP,
}


def missing_canonical(schema: pl.Schema | dict) -> list[str]:
    """Canonical columns absent from ``schema`` (sources may leave prompt/response to steps)."""
    return [name for name in CANONICAL if name not in schema]
