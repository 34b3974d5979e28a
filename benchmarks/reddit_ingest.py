"""Benchmark: Pushshift ingest vs the usual json.loads loop vs zstd decompression alone.

Generates a per-subreddit dump (``WritingPrompts_submissions.zst`` + ``WritingPrompts_comments.zst``,
zstd with a 2 GiB window like Pushshift's) of at least ``--size`` decompressed bytes by varying real
rows from ``../shared/data/reddit`` (fresh ids, times and scores, words of real comments reshuffled
so the text does not repeat and compresses like text), then, in one run, times in a separate
process each:

- ``ours``: our ingest, ``curation.sources.reddit.scan_with_stats(...)``: stream, parse, narrow,
  type and cache the wanted rows (the pairs are then a lazy join over that cache);
- ``ours_pairs``: that lazy join, every pair streamed to a parquet file (reads ours' cache);
- ``json_loads``: the common script: stream lines, ``json.loads`` each, keep the wanted fields,
  build a Polars frame at the end;
- ``decompress``: zstd decompression alone (the floor for any reader);
- ``decompress/4``, ``ours/4``: the same on a dump a quarter the size, to show that our peak
  memory above decompression's own does not grow with the dump.

It prints wall and CPU MB/s of decompressed input, ratios and each process's peak RSS (VmHWM).
CPU time is printed too because wall time is noisy on a shared machine; with ``--repeat N`` the
runs go in N rounds (a burst of load then hits every method alike) and each run keeps its fastest
wall time and its least CPU time. The load average is printed before and after.
Targets (issue 4): ours >= 5x json_loads and within 2x of decompression alone, flat peak memory.

    .venv/bin/python benchmarks/reddit_ingest.py               # 1 GiB, work dir benchmarks/_work/reddit
    .venv/bin/python benchmarks/reddit_ingest.py --size 0.25   # quicker, while developing
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBREDDIT = "WritingPrompts"
#: ``--monthly``: the share of threads in the wanted subreddit (r/AskReddit, the biggest, is ~5%).
MONTHLY_SHARE = 0.05
OTHER_SUBREDDITS = ("AskReddit", "funny", "pics", "gaming", "worldnews", "todayilearned", "movies", "news")
GIB = 2**30


# --------------------------------------------------------------------------- generation


def _comment_template(real: dict) -> dict:
    """A comment row with the fields of a 2019+ Pushshift comment dump."""
    return {
        "all_awardings": [],
        "associated_award": None,
        "author": real["author"],
        "author_created_utc": 1400000000,
        "author_flair_background_color": None,
        "author_flair_css_class": None,
        "author_flair_richtext": [],
        "author_flair_template_id": None,
        "author_flair_text": None,
        "author_flair_text_color": None,
        "author_flair_type": "text",
        "author_fullname": "t2_0",
        "author_patreon_flair": False,
        "author_premium": False,
        "awarders": [],
        "body": real["body"],
        "collapsed_because_crowd_control": None,
        "comment_type": None,
        "created_utc": 0,
        "distinguished": real.get("distinguished"),
        "edited": False,
        "gildings": {},
        "id": "",
        "is_submitter": False,
        "link_id": "",
        "locked": False,
        "no_follow": True,
        "parent_id": "",
        "permalink": "",
        "retrieved_on": 1600000000,
        "score": 0,
        "send_replies": True,
        "stickied": real.get("stickied", False),
        "subreddit": SUBREDDIT,
        "subreddit_id": "t5_2s3nb",
        "top_awarded_type": None,
        "total_awards_received": 0,
        "treatment_tags": [],
    }


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def _zstd_writer(path: Path):
    import zstandard

    params = zstandard.ZstdCompressionParameters.from_level(
        3, window_log=31, enable_ldm=True, threads=2, write_checksum=True
    )
    return zstandard.ZstdCompressor(compression_params=params).stream_writer(
        open(path, "wb"), closefd=True
    )


def generate(work: Path, size: int, data: Path, seed: int = 4, *, monthly: bool = False) -> tuple[Path, Path]:
    """Write the two-file dump of >= ``size`` decompressed bytes (reused if already there).

    ``monthly``: a month of all subreddits instead (``RS_``/``RC_`` files) where only
    ``MONTHLY_SHARE`` of the threads are r/WritingPrompts, as in a real monthly dump.
    """
    if monthly:
        subs_path, coms_path = work / "RS_2019-10.zst", work / "RC_2019-10.zst"
    else:
        subs_path, coms_path = work / f"{SUBREDDIT}_submissions.zst", work / f"{SUBREDDIT}_comments.zst"
    meta_path = work / "dump.json"
    meta = {"size": size, "seed": seed, "format": 2, "monthly": monthly}
    ready = meta_path.is_file() and json.loads(meta_path.read_text()) == meta
    if ready and subs_path.is_file() and coms_path.is_file():
        return subs_path, coms_path
    work.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    threads = data / "reddit" / "askreddit_2016-05_threads"
    real_comments = [json.loads(line) for line in open(threads / "comments.ndjson", encoding="utf-8")]
    real_subs = _real_submissions(data / "reddit" / "AskMen_submissions.zst")
    words = [w for c in real_comments for w in c["body"].split()]
    title_words = [w for s in real_subs for w in s["title"].split()]
    rng = random.Random(seed)  # a local, seeded generator: the dump is the same on every run
    written = 0
    sub_number = 36**5
    comment_number = 36**6
    when = 1_500_000_000
    with _zstd_writer(subs_path) as subs_out, _zstd_writer(coms_path) as coms_out:
        while written < size:
            sub_number += 1
            when += rng.randrange(1, 120)
            sub_id = _base36(sub_number)
            slug = "_".join(rng.sample(title_words, 5)).lower()[:40]
            subreddit = rng.choice(OTHER_SUBREDDITS) if monthly and rng.random() > MONTHLY_SHARE else SUBREDDIT
            permalink = f"/r/{subreddit}/comments/{sub_id}/{slug}/"
            submission = dict(rng.choice(real_subs))
            n_comments = rng.randrange(0, 40)
            submission.update(
                id=sub_id,
                title="[WP] " + " ".join(rng.sample(title_words, rng.randrange(6, 30))),
                selftext="" if rng.random() < 0.8 else " ".join(rng.sample(words, rng.randrange(5, 80))),
                created_utc=when,
                score=rng.randrange(0, 30000),
                num_comments=n_comments,
                permalink=permalink,
                url=REDDIT_URL + permalink,
                subreddit=subreddit,
                subreddit_name_prefixed="r/" + subreddit,
                domain="self." + subreddit,
            )
            line = (json.dumps(submission) + "\n").encode()
            subs_out.write(line)
            written += len(line)
            ids = []
            for index in range(n_comments):
                comment_number += 1
                real = rng.choice(real_comments)
                top = index < 3 or rng.random() < 0.35
                story = top and rng.random() < 0.5  # half the top-level comments are stories
                length = rng.randrange(150, 900) if story else rng.randrange(5, 80)
                comment_id = _base36(comment_number)
                comment = _comment_template(real)
                comment.update(
                    body=" ".join(rng.choices(words, k=length)),
                    author=rng.choice(real_comments)["author"],
                    id=comment_id,
                    link_id="t3_" + sub_id,
                    parent_id="t3_" + sub_id if top or not ids else "t1_" + rng.choice(ids),
                    permalink=f"{permalink}{comment_id}/",
                    created_utc=when + rng.randrange(60, 86400),
                    score=rng.randrange(-5, 5000),
                    subreddit=subreddit,
                )
                ids.append(comment_id)
                line = (json.dumps(comment) + "\n").encode()
                coms_out.write(line)
                written += len(line)
    meta_path.write_text(json.dumps(meta))
    return subs_path, coms_path


REDDIT_URL = "https://www.reddit.com"


def _real_submissions(path: Path) -> list[dict]:
    import zstandard

    with open(path, "rb") as handle:
        reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(handle)
        return [json.loads(line) for line in io.TextIOWrapper(reader, encoding="utf-8")][:2000]


# --------------------------------------------------------------------------- the three methods


def run_ours(files: list[Path], work: Path) -> dict:
    """Our ingest: stream, parse, narrow and cache the typed rows (what ``scan`` does eagerly)."""
    import shutil

    from curation.sources import reddit

    shutil.rmtree(work / "cache", ignore_errors=True)
    _, stats = reddit.scan_with_stats(files, SUBREDDIT, cache_dir=work / "cache")
    return {"lines": stats.lines, "submissions": sum(f.submissions for f in stats.files),
            "top_level_comments": sum(f.comments for f in stats.files)}  # fmt: skip


def run_ours_pairs(files: list[Path], work: Path) -> dict:
    """After ``ours``: the lazy join from the cache, every pair written to parquet (streaming)."""
    import polars as pl

    from curation.sources import reddit

    frame, stats = reddit.scan_with_stats(files, SUBREDDIT, cache_dir=work / "cache")
    assert all(f.from_cache for f in stats.files), "run ours first"
    frame.sink_parquet(work / "pairs.parquet")
    return {"pairs": pl.scan_parquet(work / "pairs.parquet").select(pl.len()).collect().item()}


def run_json_loads(files: list[Path], work: Path) -> dict:
    """The usual script: a text stream over the zstd reader, one json.loads per line."""
    import polars as pl
    import zstandard

    wanted = SUBREDDIT.lower()
    fields = {
        "submissions": ("id", "subreddit", "title", "selftext", "score", "num_comments", "over_18", "author",
                        "created_utc", "permalink"),
        "comments": ("id", "subreddit", "link_id", "parent_id", "body", "score", "author", "created_utc",
                     "stickied", "distinguished", "permalink"),
    }  # fmt: skip
    frames = {}
    lines = 0
    for path in files:
        kind = "submissions" if "submissions" in path.name else "comments"
        keep = fields[kind]
        rows = []
        with open(path, "rb") as handle:
            reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(handle, read_size=2**20)
            for line in io.TextIOWrapper(reader, encoding="utf-8"):
                lines += 1
                obj = json.loads(line)
                if str(obj.get("subreddit", "")).lower() == wanted:
                    rows.append({name: obj.get(name) for name in keep})
        frames[kind] = pl.DataFrame(rows, infer_schema_length=None)
    return {"rows": sum(f.height for f in frames.values()), "lines": lines}


def run_decompress(files: list[Path], work: Path) -> dict:
    import zstandard

    total = 0
    for path in files:
        with open(path, "rb") as handle:
            reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(handle, read_size=2**20)
            while block := reader.read(16 * 2**20):
                total += len(block)
    return {"bytes": total}


METHODS = {"ours": run_ours, "ours_pairs": run_ours_pairs, "json_loads": run_json_loads, "decompress": run_decompress}


def _child(method: str, files: list[Path], work: Path) -> None:
    """Run one method in this (fresh) process and print its timing and peak RSS as JSON."""
    sys.path.insert(0, str(ROOT))
    start = time.perf_counter()
    result = METHODS[method](files, work)
    result["seconds"] = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["peak_rss_mib"] = _peak_rss_mib()
    print(json.dumps(result))


def _peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited over fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(method: str, files: list[Path], work: Path) -> dict:
    command = [sys.executable, __file__, "--child", method, "--work", str(work), *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{method} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=float, default=1.0, help="decompressed GiB to generate (default 1)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "reddit")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of runs; per run the fastest wall time and the least CPU time are kept")  # fmt: skip
    parser.add_argument("--monthly", action="store_true", help="also a monthly dump where 5%% is wanted")
    parser.add_argument("--skip", action="append", default=[], choices=[*METHODS, "quarter"])
    parser.add_argument("--child", choices=list(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.files, args.work)
        return

    size = int(args.size * GIB)
    start = time.perf_counter()
    dumps = {"full": generate(args.work / "full", size, args.data)}
    if "quarter" not in args.skip:
        dumps["quarter"] = generate(args.work / "quarter", size // 4, args.data)
    if args.monthly:
        dumps["monthly"] = generate(args.work / "monthly", size, args.data, monthly=True)
    print(f"dumps ready in {time.perf_counter() - start:.0f} s")
    for name, files in dumps.items():
        compressed = sum(p.stat().st_size for p in files)
        decompressed = sum(_decompressed(p) for p in files)
        print(f"  {name}: {', '.join(p.name for p in files)}: {decompressed / 2**20:.0f} MiB decompressed, "
              f"{compressed / 2**20:.0f} MiB compressed (ratio {compressed / decompressed:.3f})")  # fmt: skip

    runs = [  # (label, method, dump)
        ("decompress", "decompress", "full"),
        ("ours", "ours", "full"),
        ("ours_pairs", "ours_pairs", "full"),
        ("json_loads", "json_loads", "full"),
        ("decompress/4", "decompress", "quarter"),
        ("ours/4", "ours", "quarter"),
        ("decompress/monthly", "decompress", "monthly"),
        ("ours/monthly", "ours", "monthly"),
        ("json_loads/monthly", "json_loads", "monthly"),
    ]
    runs = [run for run in runs if run[1] not in args.skip and run[2] in dumps]
    print(f"load average before the runs: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    tries: dict[str, list[dict]] = {label: [] for label, _, _ in runs}
    for _ in range(args.repeat):  # rounds over all runs, so that a burst of load hits them alike
        for label, method, dump in runs:
            tries[label].append(_measure(method, list(dumps[dump]), args.work / dump / "runs"))
    results = {}
    for label, _, dump in runs:
        results[label] = min(tries[label], key=lambda r: r["seconds"])
        results[label]["cpu_seconds"] = min(r["cpu_seconds"] for r in tries[label])
        results[label]["peak_rss_mib"] = max(r["peak_rss_mib"] for r in tries[label])
        results[label]["mb"] = sum(_decompressed(p) for p in dumps[dump]) / 1e6

    print(f"\n{'run':<20}{'wall s':>8}{'MB/s':>8}{'CPU s':>8}{'CPU MB/s':>10}{'peak RSS MiB':>14}  notes")
    for label, r in results.items():
        notes = {k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds", "peak_rss_mib", "mb", "bytes")}
        print(f"{label:<20}{r['seconds']:>8.2f}{r['mb'] / r['seconds']:>8.0f}{r['cpu_seconds']:>8.2f}"
              f"{r['mb'] / r['cpu_seconds']:>10.0f}{r['peak_rss_mib']:>14.0f}  {notes}")  # fmt: skip
    print()
    for suffix in ("", "/monthly"):
        keys = [f"ours{suffix}", f"json_loads{suffix}", f"decompress{suffix}"]
        if set(keys) <= results.keys():
            ours, loads, alone = (results[k] for k in keys)
            print(f"ours{suffix} vs json.loads loop: {loads['seconds'] / ours['seconds']:.1f}x faster wall, "
                  f"{loads['cpu_seconds'] / ours['cpu_seconds']:.1f}x less CPU (target >= 5x)")
            print(f"ours{suffix} vs decompression alone: {ours['seconds'] / alone['seconds']:.2f}x the wall time, "
                  f"{ours['cpu_seconds'] / alone['cpu_seconds']:.2f}x the CPU (target <= 2x)")  # fmt: skip
    if {"ours", "ours/4", "decompress", "decompress/4"} <= results.keys():
        extra = [results[k]["peak_rss_mib"] - results[d]["peak_rss_mib"] for k, d in
                 (("ours/4", "decompress/4"), ("ours", "decompress"))]  # fmt: skip
        print(f"peak RSS of ours above decompression alone (whose zstd window grows with the stream, up to "
              f"2 GiB): {extra[0]:.0f} MiB on a quarter of the dump, {extra[1]:.0f} MiB on all of it")  # fmt: skip
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


def _decompressed(path: Path) -> int:
    """Decompressed size, remembered beside the dump (it is measured once, by streaming)."""
    memo = path.with_suffix(".size")
    if not memo.is_file():
        import zstandard

        total = 0
        with open(path, "rb") as handle:
            reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(handle)
            while block := reader.read(16 * 2**20):
                total += len(block)
        memo.write_text(str(total))
    return int(memo.read_text())


if __name__ == "__main__":
    main()
