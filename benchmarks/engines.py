"""Benchmark (issue 9): the Ray engine against the local one on the same input, on this machine.

Generates, under ``benchmarks/_work/engines/``, a four-site dump (``physics`` and ``electronics``:
STEM; ``cooking`` and ``travel``: Other) with ``--mb`` MB of Posts.xml in total, replicated from the
real rows of ``../shared/data/stackexchange`` (every answer of every replica gets a paragraph of
real words, so exact dedup does not fold the replicas). Then, each in its own child process (wall
time, CPU time, peak RSS of that process):

1. ``local``: ``scan`` into a cold cache + ``pipeline.run(LIMA.steps())``;
2. ``ray``: a local Ray (``num_cpus=2``) started, then ``scan_stackexchange_on_ray`` (byte ranges
   of ``--range-mb``) + ``ray_engine.run(LIMA.steps())``, with every parse task's bytes, rows,
   seconds and peak resident memory (its own, reset at the task's start);
3. ``pair``: one pairing bucket as a pair task sees it (the site's rows of bucket 0, parsed by the
   same task code), paired by the pair task's function: seconds and peak memory of that call.

Both engines' published rows must hash the same (or the script fails). Prints both wall times and
the ratio (with and without Ray's start-up), then the per-task figures docs/scaling.md quotes.
On one 2-core machine Ray cannot be faster: this measures its overhead, not its scale-out.

    .venv/bin/python benchmarks/engines.py               # 200 MB
    .venv/bin/python benchmarks/engines.py --mb 40       # a quick run

The machine's 2 cores are shared with other work: numbers are noisy (the load is printed).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl
from _common import DATA, MB, WORK, machine_note, measure, real_posts, table, write_posts

from curation.build import publish_frame
from curation.recipes.stackexchange import LIMA

SCRIPT = Path(__file__).resolve()
SITES = ("physics.stackexchange.com", "electronics.stackexchange.com", "cooking.stackexchange.com",
         "travel.stackexchange.com")  # fmt: skip


def _published_hash(kept: pl.DataFrame) -> str:
    """sha256 of the published rows as the store writes them (same settings, so same bytes)."""
    from curation.store import write_parquet

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.parquet"
        write_parquet(publish_frame(kept, LIMA), path)
        return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- measured functions (child side)


def run_local(dump: str) -> dict:
    """The local engine: cold-cache scan, then the LIMA steps."""
    from curation import pipeline
    from curation.sources import stackexchange

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        candidates, _ = stackexchange.scan_with_stats(dump, cache_dir=cache)
        scanned = time.perf_counter()
        result = pipeline.run(candidates, LIMA.steps(), seed=LIMA.seed)
        done = time.perf_counter()
    return {"scan_seconds": scanned - start, "steps_seconds": done - scanned, "candidates": result.funnel["candidates"],
            "kept": result.kept.height, "hash": _published_hash(result.kept)}  # fmt: skip


def run_ray(dump: str, range_mb: float) -> dict:
    """The Ray engine on a local Ray instance: start-up, scan on Ray, the LIMA steps on Ray Data."""
    from curation.engines import ray_engine
    from curation.engines.ray_sources import scan_stackexchange_on_ray

    start = time.perf_counter()
    with ray_engine.session(num_cpus=2):
        ready = time.perf_counter()
        timings: list[dict] = []
        with tempfile.TemporaryDirectory() as cache:
            candidates, _ = scan_stackexchange_on_ray(dump, cache_dir=cache, range_bytes=int(range_mb * MB),
                                                      timings=timings)  # fmt: skip
        scanned = time.perf_counter()
        steps: list[tuple[str, float]] = []
        result = ray_engine.run(candidates, LIMA.steps(), seed=LIMA.seed,
                                on_step=lambda name: steps.append((name, time.perf_counter())))  # fmt: skip
        done = time.perf_counter()
    return {"startup_seconds": ready - start, "scan_seconds": scanned - ready, "steps_seconds": done - scanned,
            "candidates": result.funnel["candidates"], "kept": result.kept.height, "hash": _published_hash(result.kept),
            "tasks": timings, "steps": [(n, t - scanned) for n, t in steps],
            "rows_in": {s["name"]: s["rows_in"] for s in result.funnel["steps"]}}  # fmt: skip


def pair_one_bucket(dump: str, site: str, range_mb: float) -> dict:
    """One pair task's work: bucket 0 of ``site`` (rows parsed by the parse tasks' code), then its pairing."""
    import pyarrow as pa

    from curation.engines import ray_sources
    from curation.sources.stackexchange import discover

    item = next(i for i in discover([dump]) if i.site == site)
    _, buckets, jobs = ray_sources._plan_site(item, int(range_mb * MB), ray_sources.BUCKET_BYTES, False, False)
    parts = []
    for job in jobs:
        _, posts, _ = ray_sources._parse_job(job)
        if posts is not None:
            parts.append(pl.from_arrow(posts).filter(pl.col("_bucket") == 0).to_arrow())
    bucket = pa.concat_tables(parts)
    ray_sources._reset_peak_memory()
    before = ray_sources._memory_mib("VmRSS")
    start = time.perf_counter()
    out = ray_sources._pair_group(bucket, users={}, include_unanswered=False)
    seconds = time.perf_counter() - start
    sink = io.BytesIO()
    pl.from_arrow(bucket).write_ipc(sink)
    return {"buckets": buckets, "rows_in": bucket.num_rows, "arrow_mb": sink.tell() / MB, "pairs": out.num_rows,
            "seconds": seconds, "start_rss_mib": before, "peak_rss_mib": ray_sources._peak_memory_mib()}  # fmt: skip


# --------------------------------------------------------------------------- driver


def _dump(work: Path, mb: float) -> tuple[Path, int]:
    dump = work / f"dump-{mb:g}mb"
    sources = None
    total = 0
    for site in SITES:
        path = dump / site / "Posts.xml"
        if not (path.is_file() and path.with_name("Posts.xml.json").is_file()) and sources is None:
            sources = real_posts(DATA)
        total += write_posts(path, int(mb * MB / len(SITES)), sources=sources, vary_seed=site)["bytes"]
    return dump, total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=200, help="MB of Posts.xml over the four sites (default 200)")
    parser.add_argument("--range-mb", type=float, default=16, help="MB per byte range = per parse task (default 16)")
    args = parser.parse_args(argv)
    print(machine_note(), flush=True)
    dump, size = _dump(WORK / "engines", args.mb)
    print(f"{dump}: {len(SITES)} sites, {size / MB:,.0f} MB of Posts.xml", flush=True)

    local = measure("local", SCRIPT, "run_local", dump=str(dump))
    print(f"local done ({machine_note()})", flush=True)
    on_ray = measure("ray", SCRIPT, "run_ray", dump=str(dump), range_mb=args.range_mb)
    print(f"ray done ({machine_note()})", flush=True)
    lv, rv = local.value, on_ray.value
    if (lv["hash"], lv["kept"], lv["candidates"]) != (rv["hash"], rv["kept"], rv["candidates"]):
        raise SystemExit(f"the engines disagree: local kept {lv['kept']:,} ({lv['hash'][:16]}), "
                         f"ray kept {rv['kept']:,} ({rv['hash'][:16]})")  # fmt: skip
    print(f"\nsame published rows on both engines: {lv['kept']:,} of {lv['candidates']:,} candidates, "
          f"sha256 {lv['hash'][:16]}…\n")  # fmt: skip
    ray_work = rv["scan_seconds"] + rv["steps_seconds"]
    table(
        ["engine", "start s", "scan s", "steps s", "total s", "MB/s", "CPU s", "driver peak MiB"],
        [
            ["local (Polars)", 0.0, lv["scan_seconds"], lv["steps_seconds"], local.seconds, size / MB / local.seconds,
             local.cpu_seconds, local.peak_rss_mib],
            ["ray (local, 2 CPUs)", rv["startup_seconds"], rv["scan_seconds"], rv["steps_seconds"], on_ray.seconds,
             size / MB / on_ray.seconds, on_ray.cpu_seconds, on_ray.peak_rss_mib],
        ],
    )  # fmt: skip
    print(f"\nray / local: {on_ray.seconds / local.seconds:.2f}x the wall time "
          f"({ray_work / local.seconds:.2f}x without Ray's start-up)")  # fmt: skip

    tasks = [t for t in rv["tasks"] if t["kind"] != "stage"]
    stages = {t["stage"]: t for t in rv["tasks"] if t["kind"] == "stage"}
    print(f"\nparse tasks ({len(tasks)}, byte ranges of {args.range_mb:g} MB; each figure is one task alone):")
    rows = []
    for name, pick in [("median", statistics.median), ("min", min), ("max", max)]:
        rows.append([name, pick(t["bytes"] / MB for t in tasks), pick(t["rows"] for t in tasks),
                     pick(t["seconds"] for t in tasks), pick(t["bytes"] / MB / t["seconds"] for t in tasks),
                     pick(t["rows"] / t["seconds"] for t in tasks), pick(t["start_rss_mib"] or 0 for t in tasks),
                     pick((t["peak_rss_mib"] or 0) - (t["start_rss_mib"] or 0) for t in tasks)])  # fmt: skip
    table(["", "MB", "rows", "seconds", "MB/s", "rows/s", "worker MiB at start", "task peak +MiB"], rows)
    print(f"stages: parse {stages['parse']['seconds']:.1f} s ({stages['parse']['tasks']} tasks), "
          f"pair {stages['pair']['seconds']:.1f} s ({stages['pair']['tasks']} buckets, shuffle included)")  # fmt: skip

    pair = measure("pair", SCRIPT, "pair_one_bucket", dump=str(dump), site=SITES[0], range_mb=args.range_mb).value
    print(f"\none pair task ({SITES[0]}, bucket 0 of {pair['buckets']}): {pair['rows_in']:,} posts "
          f"({pair['arrow_mb']:,.0f} MB as Arrow) -> {pair['pairs']:,} pairs in {pair['seconds']:.2f} s "
          f"({pair['rows_in'] / pair['seconds']:,.0f} rows/s), peak {pair['peak_rss_mib']:,.0f} MiB "
          f"(+{pair['peak_rss_mib'] - pair['start_rss_mib']:,.0f} MiB over the bucket already in memory)")  # fmt: skip

    print("\nsteps on Ray (driver clock, Ray Data passes included; cheap filters run as one group, timed on its last):")
    marks = rv["steps"] + [("(end)", rv["steps_seconds"])]
    rows, group_rows = [], None
    for i, (name, at) in enumerate(marks[:-1]):
        seconds, rows_in = marks[i + 1][1] - at, rv["rows_in"][name]
        group_rows = rows_in if group_rows is None else group_rows  # a group's time shows on its last filter
        rows.append([name, group_rows, seconds, group_rows / seconds if seconds > 0.01 else ""])
        group_rows = None if seconds > 0.01 else group_rows
    table(["step", "rows in", "seconds", "rows/s"], rows)


if __name__ == "__main__":
    main()
