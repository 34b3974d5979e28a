"""Pages/s of the wikiHow extractor beside a plain BeautifulSoup ``get_text`` baseline.

The 7 real pages in ../shared/data/wikihow are copied to a few hundred files in a temp folder
(each copy with its own article id, so each is a row); each side reads every file once, in its
own fresh process (so each peak RSS is its own):

- ours: ``curation.sources.wikihow.scan_with_stats(folder)``, ``render`` and ``collect()`` — full
  extraction (methods, steps, sections, categories, dates) and the Markdown prompt/response;
- baseline: ``BeautifulSoup(bytes, "lxml").get_text()`` per file — all the text, no structure.

One run, no warm-up: ``python benchmarks/wikihow_extract.py [--pages 350] [--data DIR]``. Wall
pages/s depend on the machine's load (printed); pages per CPU-second much less.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "wikihow"
_ARTICLE_ID = re.compile(rb'"wgArticleId":\d+')


def _peak_rss_mib() -> float:
    """This process's own peak RSS: ``VmHWM`` (``ru_maxrss`` of a spawned child would start from
    the parent's peak at fork), falling back to ``ru_maxrss`` where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_ours(folder: str) -> tuple[float, float, int, int, float]:
    """(wall s, CPU s, pages read, rows, peak RSS MiB) of a full scan and render of ``folder``."""
    sys.path.insert(0, str(ROOT))
    from curation.sources.wikihow import render, scan_with_stats

    start, cpu = time.perf_counter(), time.process_time()
    lf, stats = scan_with_stats(folder)
    rows = render(lf).collect().height
    return time.perf_counter() - start, time.process_time() - cpu, stats.pages, rows, _peak_rss_mib()


def run_baseline(folder: str) -> tuple[float, float, int, int, float]:
    """(wall s, CPU s, pages read, characters of text, peak RSS MiB) of BeautifulSoup get_text."""
    from bs4 import BeautifulSoup

    files = sorted(Path(folder).glob("*.html"))
    start, cpu = time.perf_counter(), time.process_time()
    chars = 0
    for path in files:
        chars += len(BeautifulSoup(path.read_bytes(), "lxml").get_text())
    return time.perf_counter() - start, time.process_time() - cpu, len(files), chars, _peak_rss_mib()


def _in_fresh_process(function, folder: str):
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, folder).result()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=350, help="number of page files to extract (default 350)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of real wikiHow pages")
    args = parser.parse_args(argv)
    sources = sorted(args.data.glob("*.html"))
    if not sources:
        parser.error(f"no .html pages in {args.data}")
    with tempfile.TemporaryDirectory(prefix="wikihow-bench-") as tmp:
        pages = [source.read_bytes() for source in sources]
        for i in range(args.pages):
            # a distinct article id per copy, so every copy is its own row (no duplicate folding)
            page = _ARTICLE_ID.sub(b'"wgArticleId":%d' % (i + 1), pages[i % len(pages)], count=1)
            (Path(tmp) / f"{i:05d}-{sources[i % len(sources)].name}").write_bytes(page)
        megabytes = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        ours_s, ours_cpu, ours_pages, rows, ours_rss = _in_fresh_process(run_ours, tmp)
        base_s, base_cpu, base_pages, chars, base_rss = _in_fresh_process(run_baseline, tmp)
    ours_rate, base_rate = ours_pages / ours_s, base_pages / base_s
    mib_per_page = megabytes / args.pages
    print(f"pages: {args.pages} copies of {len(sources)} real pages, {megabytes:.1f} MiB of HTML; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"ours (scan + render, structured):  {ours_rate:7.1f} pages/s {ours_rate * mib_per_page:5.1f} MiB/s "
          f"{ours_s:6.2f} s ({ours_pages / ours_cpu:6.1f} pages per CPU-s)  peak RSS {ours_rss:6.1f} MiB  "
          f"({rows} rows)")
    print(f"baseline (BeautifulSoup get_text): {base_rate:7.1f} pages/s {base_rate * mib_per_page:5.1f} MiB/s "
          f"{base_s:6.2f} s ({base_pages / base_cpu:6.1f} pages per CPU-s)  peak RSS {base_rss:6.1f} MiB  "
          f"({chars / 2**20:.1f} MiB of text)")
    print(f"ratio ours / baseline: {ours_rate / base_rate:.2f}x pages/s, "
          f"{(ours_pages / ours_cpu) / (base_pages / base_cpu):.2f}x pages per CPU-second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
