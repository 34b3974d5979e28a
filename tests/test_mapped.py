"""Memory-mapped cache files read back exactly as Polars wrote them."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from curation.sources.mapped import read_ipc_mapped


def test_mapped_files_read_back_what_polars_wrote(tmp_path):
    frame = pl.DataFrame(
        {
            "id": ["a/1", "a/2", None, "é/∞"],
            "html": ["<p>x</p>", "", "  \n", "<p>" + "long " * 5000 + "</p>"],  # inline and buffered string views
            "n": [1, None, 3, 4],
            "tags": [["x", "y"], [], None, ["z"]],
            "at": [datetime(2020, 1, 1, tzinfo=timezone.utc), None, datetime(1999, 12, 31, tzinfo=timezone.utc),
                   datetime(2030, 6, 1, 12, tzinfo=timezone.utc)],
            "ok": [True, False, None, True],
        }
    ).with_columns(pl.col("n").cast(pl.Int32))  # fmt: skip
    paths = []
    for i, part in enumerate([frame.head(3), frame.head(0), frame.tail(1)]):
        paths.append(str(tmp_path / f"part-{i}.arrow"))
        part.write_ipc(paths[-1], compression="uncompressed")
    mapped = read_ipc_mapped(paths)
    assert mapped.schema == frame.schema
    assert mapped.equals(pl.concat([frame.head(3), frame.tail(1)]))
    assert mapped.lazy().filter(pl.col("html").str.contains(r"\S")).select("id").collect()["id"].to_list() == [
        "a/1", "é/∞"
    ]


def test_no_file_stays_open(tmp_path):
    import os

    paths = []
    for i in range(20):
        paths.append(str(tmp_path / f"part-{i}.arrow"))
        pl.DataFrame({"x": [str(i) * 100] * 10}).write_ipc(paths[-1], compression="uncompressed")
    before = len(os.listdir("/proc/self/fd"))
    mapped = read_ipc_mapped(paths)
    assert len(os.listdir("/proc/self/fd")) == before
    assert mapped["x"].str.len_bytes().sum() == sum(len(str(i)) * 100 * 10 for i in range(20))
