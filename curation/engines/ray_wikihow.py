"""The wikiHow source on Ray: page files are extracted in groups, one task per group (a WARC file
is one task), by the local connector's own extractor; the driver puts the records back in input
order and runs the connector's candidate and de-duplication steps, so the rows are the local ones.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl

from curation.engines.ray_runtime import require_ray, user_errors

#: Page files per task: each page is a few milliseconds of lxml work.
FILES_PER_TASK = 64


def _task(given: str, files: list[str], skip: bool, batch_size: int):
    from tqdm import tqdm

    from curation.sources import wikihow

    with tqdm(disable=True) as bar:
        part = wikihow._extract(Path(given), [Path(f) for f in files], skip, None, batch_size, bar)
    return part.frame().collect().to_arrow(), part.counts()


def scan_wikihow_on_ray(
    paths,
    *,
    skip_malformed: bool = False,
    files_per_task: int = FILES_PER_TASK,
    batch_size: int = 256,
    max_retries: int = 3,
    **_ignored,
):
    """``wikihow.scan_with_stats`` with the page extraction on Ray; returns ``(LazyFrame, ScanStats)``."""
    from curation.sources import wikihow

    ray = require_ray()
    inputs = wikihow._inputs(paths)
    jobs = [
        (given, files[i : i + files_per_task])
        for given, files in inputs
        for i in range(0, max(len(files), 1), files_per_task)
    ]
    task = ray.remote(max_retries=max_retries)(_task)
    with user_errors():
        outputs = ray.get(
            [task.remote(str(given), [str(f) for f in files], skip_malformed, batch_size) for given, files in jobs]
        )
    stats = wikihow.ScanStats(sources=inputs)
    counts: Counter[str] = Counter()
    frames = []
    for table, part in outputs:
        frames.append(pl.from_arrow(table).lazy())
        stats.files += part["files"]
        stats.pages += part["pages"]
        stats.warc_records_ignored += part["warc_records_ignored"]
        stats.errors.extend(part["errors"][: wikihow._MAX_ERRORS_KEPT - len(stats.errors)])
        counts.update(part["skipped"])
    lf = wikihow._candidates(pl.concat(frames, how="vertical") if frames else pl.LazyFrame(schema=wikihow.RECORD_SCHEMA))
    total, unique = lf.select(pl.len(), pl.col("id").n_unique()).collect().row(0)
    if total > unique:
        counts["duplicate"] += total - unique
    stats.articles = unique
    stats.skipped = dict(sorted(counts.items()))
    return wikihow._dedupe(lf), stats
