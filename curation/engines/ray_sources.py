"""The Stack Exchange source on Ray: the local parser's rows and pairs, many tasks per dump.

1. Parse (Ray tasks). Inputs are sharded by file, and an uncompressed ``Posts.xml`` or
   ``Users.xml`` also by byte ranges cut at row boundaries (`curation.engines.byte_ranges`), so
   one 20 GB file is ~160 tasks. A ``.7z`` member is one task (an LZMA stream cannot be entered
   in the middle); when Users.xml sits in the same archive it is decoded in the same pass, as the
   local engine does. Each task runs the local parser (`iter_row_frames`, `_typed_posts`) and
   returns its counts and one Arrow table of typed posts, every row tagged with its site, its
   pairing bucket (``question_id % B``, B chosen as the local engine chooses it) and its position
   in the file.
2. Pair (Ray Data). ``groupby(site, bucket).map_groups`` brings a bucket's questions and answers
   to one task, which restores file order and runs the local engine's `pair_frames` and candidate
   columns: memory per task is about one bucket, whatever the dump's size. Users (id -> display
   name) are a small per-site side table, handed to the pair tasks through the object store.

The candidates come back as a materialised Ray Dataset with the local `scan`'s columns, and the
counts as its `ScanStats`, so the manifest of a Ray build equals the local one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from curation.engines.byte_ranges import RANGE_BYTES, ByteRange, line_number_at, read_range, row_ranges
from curation.engines.ray_runtime import MAX_RETRIES, require_ray, user_errors
from curation.errors import CurationError
from curation.fingerprint import cache_root, fingerprint
from curation.sources.stackexchange import OLD_DUMP_LICENSE, SCHEMA, ScanStats, SiteInput, discover, input_name
from curation.sources.stackexchange.pairs import (
    BUCKET_BYTES,
    PARSER_VERSION,
    POST_FIELDS,
    POST_TYPES,
    USER_FIELDS,
    USER_TYPES,
    USERS_SCHEMA,
    _typed_posts,
    candidate_columns,
    display_names,
    pair_frames,
    split_posts,
    table_chunks,
    typed_users,
)
from curation.sources.stackexchange.streams import Member, read_chunks
from curation.sources.stackexchange.xmlrows import ParseStats, iter_row_frames

__all__ = ["scan_stackexchange_on_ray", "RANGE_BYTES"]

#: The pairing shuffle's algorithms (Ray Data's names). ``sort`` (pull-based sort) has the lowest
#: fixed cost and spills to disk; ``push`` scales to thousands of blocks; ``hash`` is Ray Data's
#: default, whose aggregator actors hold CPUs for a few seconds per shuffle (costly on small clusters).
SHUFFLES = {"sort": "sort_shuffle_pull_based", "push": "sort_shuffle_push_based", "hash": "shuffle_v2"}
#: Rows of one byte range are numbered from ``range index << _SEQ_SHIFT``: file order, across tasks.
_SEQ_SHIFT = 40


@dataclass(frozen=True)
class _Piece:
    """What one task reads of a table: a whole member (file or archive member), or a byte range of a file."""

    member: Member
    range: ByteRange | None = None

    def chunks(self) -> Iterator[bytes]:
        if self.range is None:
            return read_chunks(self.member)
        return read_range(self.range.path, self.range.start, self.range.end)

    @property
    def head(self) -> bool:
        return self.range is None or self.range.head

    @property
    def tail(self) -> bool:
        return self.range is None or self.range.tail

    @property
    def offset(self) -> int:
        return 0 if self.range is None else self.range.start

    @property
    def bytes(self) -> int:
        return self.range.size if self.range is not None else (self.member.size or 0)


@dataclass(frozen=True)
class _Job:
    """One parse task: a piece of Posts, a piece of Users, or both tables of one archive in one pass."""

    site: str
    buckets: int
    skip_malformed: bool
    posts: _Piece | None = None
    users: _Piece | None = None
    archive: SiteInput | None = None  # Posts and Users decoded in one pass of this archive
    seq_base: int = 0
    measure: bool = False  # report the task's wall time and peak memory (benchmarks)

    @property
    def bytes(self) -> int:
        if self.archive is not None:
            return (self.archive.posts.size or 0) + (self.archive.users.size or 0)
        return (self.posts.bytes if self.posts else 0) + (self.users.bytes if self.users else 0)


# --------------------------------------------------------------------------- the driver


def scan_stackexchange_on_ray(
    paths: str | Path | Sequence[str | Path],
    *,
    site: str | None = None,
    include_meta: bool = False,
    include_unanswered: bool = False,
    skip_malformed: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = False,
    range_bytes: int = RANGE_BYTES,
    bucket_bytes: int = BUCKET_BYTES,
    max_retries: int = MAX_RETRIES,
    shuffle: str | None = "sort",
    timings: list | None = None,
):
    """Scan Stack Exchange dumps on Ray: ``(candidates as a materialised ray.data.Dataset, ScanStats)``.

    The options of `curation.sources.stackexchange.scan_with_stats` mean the same here
    (``cache_dir`` only memoises input fingerprints: parsing on Ray reads no parse cache). Ray's:
    ``range_bytes`` per task of an uncompressed table, ``bucket_bytes`` of Posts.xml per pairing
    bucket (the local engine's), ``max_retries`` per parse task after a worker dies (Ray Data
    stages retry by Ray Data's policy), ``shuffle``: how the pairing shuffle runs (``SHUFFLES``;
    None keeps the Ray Data context's). ``timings``: a list that receives one dict per parse task
    (bytes, rows, seconds, resident MiB at its start and at its peak) and one per stage (parse,
    pair: seconds). Needs a running Ray (`curation.engines.ray_runtime.session`).
    """
    ray = require_ray()
    if isinstance(paths, (str, Path)):
        paths = [paths]
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    stats = ScanStats()
    plans: list[tuple[SiteInput, int, list[_Job]]] = []
    for item in discover(list(paths), site=site):
        if item.is_meta and not include_meta:
            stats.skipped_meta.append(item.site)
            continue
        stats.inputs.extend(
            {"name": input_name(p), "bytes": p.stat().st_size, "fingerprint": fingerprint(p, root)} for p in item.files
        )
        plans.append(_plan_site(item, range_bytes, bucket_bytes, skip_malformed, timings is not None))
    if not plans:
        return ray.data.from_arrow(pl.DataFrame(schema=SCHEMA).to_arrow()), stats
    jobs = [job for _, _, site_jobs in plans for job in site_jobs]
    with user_errors():
        clock = time.perf_counter()
        outputs = _run_jobs(ray, jobs, max_retries, progress)
        parsed = time.perf_counter()
        counts, posts_refs, users_refs = _gather_outputs(jobs, outputs, timings)
        buckets = sum(b for _, b, _ in plans)
        posts = ray.data.from_arrow_refs(posts_refs)
        _set_shuffle(posts, shuffle)
        candidates = (
            posts.groupby(["site", "_bucket"], num_partitions=buckets)
            .map_groups(_pair_group, batch_format="pyarrow",
                        fn_kwargs={"users": users_refs, "include_unanswered": include_unanswered})
            .materialize()
        )  # fmt: skip
        answers = _answers_per_site(ray, candidates)
    if timings is not None:
        timings.append({"kind": "stage", "stage": "parse", "tasks": len(jobs), "seconds": parsed - clock})
        timings.append({"kind": "stage", "stage": "pair", "tasks": buckets, "seconds": time.perf_counter() - parsed})
    for item, site_buckets, _ in plans:
        totals, known = counts[item.site], answers.get(item.site, 0)
        stats.sites[item.site] = {  # what the local engine's meta.json says
            "parser_version": PARSER_VERSION,
            "site": item.site,
            "buckets": site_buckets,
            "posts": _plain(totals["posts"]),
            "users": _plain(totals["users"]) if item.users else None,
            "questions": totals["questions"],
            "answers": known,
            "orphan_answers": totals["answer_rows"] - known,
        }
    return candidates, stats


def _gather_outputs(jobs: list[_Job], outputs: list, timings: list | None):
    """Per-site parse counts, the typed posts' refs (all sites), the users' refs per site in file order."""
    counts: dict[str, dict] = {}
    posts_refs: list = []
    users_refs: dict[str, list] = {}
    for job, (job_stats, posts_ref, users_ref) in zip(jobs, outputs):
        totals = counts.setdefault(job.site, {"posts": ParseStats(), "users": ParseStats(), "questions": 0,
                                              "answer_rows": 0})  # fmt: skip
        for table in ("posts", "users"):
            for key, value in job_stats.get(table, {}).items():
                setattr(totals[table], key, getattr(totals[table], key) + value)
        totals["questions"] += job_stats.get("questions", 0)
        totals["answer_rows"] += job_stats.get("answer_rows", 0)
        if job.posts is not None or job.archive is not None:
            posts_refs.append(posts_ref)
        if job.users is not None or (job.archive is not None and job.archive.users is not None):
            users_refs.setdefault(job.site, []).append(users_ref)
        if timings is not None:
            kind = "archive" if job.archive is not None else "posts" if job.posts is not None else "users"
            rows = sum(job_stats[t]["rows"] for t in ("posts", "users") if t in job_stats)
            timings.append({"site": job.site, "kind": kind, "bytes": job.bytes, "rows": rows, **job_stats["task"]})
    return counts, posts_refs, users_refs


def _set_shuffle(ds, shuffle: str | None) -> None:
    """Pick the pairing shuffle's algorithm on this dataset's own context (the global one is left alone)."""
    if shuffle is None:
        return
    if shuffle not in SHUFFLES:
        raise ValueError(f"shuffle must be one of {sorted(SHUFFLES)} or None, got {shuffle!r}")
    if hasattr(ds.context, "shuffle_strategy"):
        ds.context.shuffle_strategy = SHUFFLES[shuffle]


def _plan_site(item: SiteInput, range_bytes: int, bucket_bytes: int, skip_malformed: bool, measure: bool):
    size = item.posts.size or item.posts.path.stat().st_size
    buckets = max(1, math.ceil(size / bucket_bytes))  # as the local engine, so pairs and counts match
    common = {"site": item.site, "buckets": buckets, "skip_malformed": skip_malformed, "measure": measure}
    if item.posts.member is not None and item.users is not None and item.users.path == item.posts.path:
        return item, buckets, [_Job(**common, archive=item)]
    pieces = _pieces(item.posts, range_bytes)
    jobs = [_Job(**common, posts=piece, seq_base=i << _SEQ_SHIFT) for i, piece in enumerate(pieces)]
    if item.users is not None:
        jobs += [_Job(**common, users=piece) for piece in _pieces(item.users, range_bytes)]
    return item, buckets, jobs


def _pieces(member: Member, range_bytes: int) -> list[_Piece]:
    if member.member is not None:
        return [_Piece(member)]
    return [_Piece(member, r) for r in row_ranges(member.path, range_bytes)]


_REMOTE: dict = {}


def _run_jobs(ray, jobs: list[_Job], max_retries: int, progress: bool) -> list[tuple[dict, object, object]]:
    """Run the parse tasks; return ``(counts, posts ref, users ref)`` per job, in order.

    On bad input the error of the earliest failing job (in site and file order) is raised, as the
    local engine, reading the files in that order, would raise it; later tasks are cancelled.
    """
    if max_retries not in _REMOTE:
        _REMOTE[max_retries] = ray.remote(num_returns=3, max_retries=max_retries)(_run_job)
    remote = _REMOTE[max_retries]
    refs = [remote.remote(job) for job in jobs]
    order = {ref[0]: i for i, ref in enumerate(refs)}
    pending = [ref[0] for ref in refs]
    results: dict[int, dict] = {}
    failed: dict[int, BaseException] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(j.bytes for j in jobs), unit="B", unit_scale=True, desc="parse on ray", leave=False)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = order[ref]
                try:
                    results[i] = ray.get(ref)
                    if bar is not None:
                        bar.update(jobs[i].bytes)
                except Exception as exc:  # noqa: BLE001 - re-raised below, earliest first
                    failed[i] = exc
            if failed:
                first = min(failed)
                for ref in [r for r in pending if order[r] > first]:
                    ray.cancel(ref)
                pending = [r for r in pending if order[r] < first]
    finally:
        if bar is not None:
            bar.close()
    if failed:
        raise failed[min(failed)]
    return [(results[i], refs[i][1], refs[i][2]) for i in range(len(jobs))]


def _answers_per_site(ray, candidates) -> dict[str, int]:
    """Pairs that hold an answer, per site (the local engine's ``answers`` count)."""
    tables = ray.get(candidates.map_batches(_count_answers, batch_format="pyarrow", batch_size=None).to_arrow_refs())
    frames = [pl.from_arrow(t) for t in tables if t.num_rows]
    if not frames:
        return {}
    summed = pl.concat(frames).group_by("site").agg(pl.col("n").sum())
    return dict(zip(summed["site"].to_list(), summed["n"].to_list()))


def _plain(stats: ParseStats) -> dict:
    """A table's parse counts as the local engine's meta.json holds them (summed over its pieces).

    ``slow_chunks`` counts pieces that needed the line-by-line path: 0 on a clean dump on both
    engines; with malformed rows it depends on where pieces end (8 MiB chunks locally, byte
    ranges here), the one number that may differ between the engines.
    """
    return asdict(stats)


# --------------------------------------------------------------------------- inside tasks


def _run_job(job: _Job):
    """Parse what ``job`` names: ``(counts, typed posts as Arrow, users as Arrow)`` (None where absent)."""
    if not job.measure:
        return _parse_job(job)
    _reset_peak_memory()
    before = _memory_mib("VmRSS")
    start = time.perf_counter()
    counts, posts, users = _parse_job(job)
    seconds = time.perf_counter() - start
    counts["task"] = {"seconds": seconds, "start_rss_mib": before, "peak_rss_mib": _peak_memory_mib()}
    return counts, posts, users


def _reset_peak_memory() -> None:
    """Linux: restart this process's peak resident set (VmHWM) from its current size (workers are reused)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _peak_memory_mib() -> float | None:
    return _memory_mib("VmHWM")


def _memory_mib(field: str) -> float | None:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in MiB (Linux; None elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _parse_job(job: _Job):
    counts: dict = {}
    posts = users = None
    if job.archive is not None:
        posts_chunks, users_chunks = table_chunks(job.archive)
        posts, counts["posts"], q, a = _parse_posts(job, job.archive.posts, posts_chunks, head=True, tail=True,
                                                    offset=0, line=1)  # fmt: skip
        counts.update(questions=q, answer_rows=a)
        if users_chunks is not None:
            users, counts["users"] = _parse_users(job.archive.users, users_chunks(), head=True, tail=True, offset=0,
                                                  line=1, skip_malformed=job.skip_malformed)  # fmt: skip
    if job.posts is not None:
        posts, counts["posts"], q, a = _with_exact_lines(
            job.posts, lambda line: _parse_posts(job, job.posts.member, job.posts.chunks(), head=job.posts.head,
                                                 tail=job.posts.tail, offset=job.posts.offset, line=line)
        )  # fmt: skip
        counts.update(questions=q, answer_rows=a)
    if job.users is not None:
        users, counts["users"] = _with_exact_lines(
            job.users, lambda line: _parse_users(job.users.member, job.users.chunks(), head=job.users.head,
                                                 tail=job.users.tail, offset=job.users.offset, line=line,
                                                 skip_malformed=job.skip_malformed)
        )  # fmt: skip
    return counts, posts, users


def _with_exact_lines(piece: _Piece, parse):
    """Parse numbering lines from 1; on an error in a later range, count the lines before it and parse again.

    Errors then name the same line as the local engine's; the count runs only on the error path.
    """
    try:
        return parse(1)
    except CurationError:
        if piece.head:
            raise
    try:
        parse(line_number_at(piece.range.path, piece.range.start))
    except CurationError as exact:
        raise exact from None
    raise CurationError("a byte range failed to parse once but not twice", path=piece.member.label)


def _parse_posts(job: _Job, member: Member, chunks, *, head: bool, tail: bool, offset: int, line: int):
    """Typed posts of one piece, tagged for pairing; its counts; its questions and answers with a parent."""
    stats = ParseStats()
    frames, seq = [], job.seq_base
    for typed in iter_row_frames(
        chunks, fields=POST_FIELDS, root="posts", label=member.label, stats=stats, skip_malformed=job.skip_malformed,
        head=head, tail=tail, offset=offset, line=line, types=POST_TYPES,
        convert=lambda raw: _typed_posts(raw, member.label, stats, job.skip_malformed),
    ):  # fmt: skip
        frames.append(_tag(typed, job.site, job.buckets, seq))
        seq += typed.height
    if not frames:  # no rows: the same columns, for Ray Data's schema
        frames.append(_tag(_typed_posts(_no_rows(POST_FIELDS), member.label, ParseStats(), False), job.site, 1, 0))
    table = pl.concat(frames)
    questions = int((table["post_type"] == 1).sum())
    return table.to_arrow(), _plain(stats), questions, table.height - questions


def _tag(typed: pl.DataFrame, site: str, buckets: int, first_seq: int) -> pl.DataFrame:
    """Keep questions and answers with a parent; add site, pairing bucket and file position."""
    question = pl.when(pl.col("post_type") == 1).then(pl.col("id")).otherwise(pl.col("parent_id"))
    return typed.with_columns(
        pl.lit(site, pl.String).alias("site"),
        (question % buckets).alias("_bucket"),
        pl.int_range(first_seq, first_seq + pl.len(), dtype=pl.Int64).alias("_seq"),
    ).filter((pl.col("post_type") == 1) | ((pl.col("post_type") == 2) & pl.col("parent_id").is_not_null()))


def _parse_users(member: Member, chunks, *, head: bool, tail: bool, offset: int, line: int, skip_malformed: bool):
    stats = ParseStats()
    frames = [
        typed_users(raw)
        for raw in iter_row_frames(
            chunks, fields=USER_FIELDS, root="users", label=member.label, stats=stats, skip_malformed=skip_malformed,
            head=head, tail=tail, offset=offset, line=line, types=USER_TYPES,
        )
    ]  # fmt: skip
    table = pl.concat(frames) if frames else pl.DataFrame(schema=USERS_SCHEMA)
    return table.to_arrow(), _plain(stats)


def _no_rows(fields: list[str]) -> pl.DataFrame:
    return pl.DataFrame(schema={f: pl.String for f in fields})


#: Per worker process: the display names of the last site paired (groups arrive sorted by site).
_NAMES: dict = {}


def _site_names(site: str, refs: list | None) -> pl.DataFrame | None:
    if refs is None:
        return None
    key = (site, tuple(ref.hex() for ref in refs))
    if _NAMES.get("key") != key:
        import ray

        frames = [pl.from_arrow(table) for table in ray.get(list(refs))]
        _NAMES.clear()
        _NAMES["names"] = display_names(pl.concat(frames) if frames else pl.DataFrame(schema=USERS_SCHEMA))
        _NAMES["key"] = key
    return _NAMES["names"]


def _pair_group(table, *, users: dict, include_unanswered: bool):
    """One (site, bucket): the local engine's pairing and candidate columns over rows in file order."""
    frame = pl.from_arrow(table)
    if frame.is_empty():
        return pl.DataFrame(schema=SCHEMA).to_arrow()
    site = frame["site"][0]
    questions, answers = split_posts(frame.sort("_seq").drop("site", "_bucket", "_seq"))
    pairs, _ = pair_frames(questions, answers, _site_names(site, users.get(site)))
    out = pairs.select(candidate_columns(site, OLD_DUMP_LICENSE))
    if not include_unanswered:
        out = out.filter(pl.col("answer_id").is_not_null())
    return out.to_arrow()


def _count_answers(table):
    frame = pl.from_arrow(table)
    return frame.group_by("site").agg(pl.col("answer_id").is_not_null().sum().cast(pl.Int64).alias("n")).to_arrow()
