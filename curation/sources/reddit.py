"""Pushshift Reddit source: submissions and their top-level comments as candidate pairs.

Reads Pushshift monthly dumps (``RS_YYYY-MM.zst``, ``RC_YYYY-MM.zst``), per-subreddit dumps
(``<sub>_submissions.zst``, ``<sub>_comments.zst``) and plain ``.ndjson``/``.jsonl`` files (or a
folder of them). Each file is streamed in big chunks (:mod:`curation.sources.zstd_lines`), parsed
by Polars' NDJSON reader with only the needed fields, every field read as text so that schema drift
(``created_utc`` as int, float or string; missing ``score``) never fails a chunk, and narrowed to
the wanted subreddits at once. The narrowed, typed rows (submissions, and top-level comments only)
stream into a cache of Arrow IPC files, a folder per input, so memory does not grow with the dump; the
submission <-> comment join runs lazily in Polars over that cache, and a rebuild with the same
inputs and options reuses it instead of re-reading the dump.

One output row per (submission, top-level comment) pair, keyed ``reddit/t1_<comment id>``; with
``include_submissions_without_comments`` also one row per submission that has no top-level comment
in the inputs (``reddit/t3_<id>``, comment columns null). Comments whose submission is not among
the inputs still give a row (``has_submission`` false, submission columns null): the source judges
nothing, steps decide. Row order is unspecified; the store sorts by ``id``.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import hashlib
import json
import os
import queue
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from curation.columns import CANONICAL, TIMESTAMP
from curation.errors import CurationError
from curation.fingerprint import cache_root, fingerprint
from curation.sources.zstd_lines import DEFAULT_CHUNK_BYTES, LineChunk, read_line_chunks

SOURCE = "reddit"
#: The per-row licence note: Reddit content is under Reddit's user agreement; Pushshift dumps
#: are distributed for research.
LICENSE = "Reddit User Agreement (Pushshift research dump)"
REDDIT = "https://www.reddit.com"
#: Comment bodies / selftexts that mean the text is gone.
DELETED_MARKERS = ("[deleted]", "[removed]")
#: File suffixes read from a folder.
SUFFIXES = (".zst", ".zstd", ".ndjson", ".jsonl")

#: The source's own typed columns, after the canonical ones, in output order. ``comment_rank``:
#: 1 = the top-scoring top-level comment of its submission (ties: older, then smaller id).
#: Flags, never null, for steps to drop on: ``body_deleted`` (body missing, ``[deleted]`` or
#: ``[removed]``), ``selftext_deleted``, ``is_automoderator``, ``is_stickied``,
#: ``is_distinguished`` (moderator/admin/special); ``has_submission``: the submission was among
#: the inputs (else its columns are null).
SOURCE_COLUMNS: dict[str, pl.DataType] = {
    "subreddit": pl.String(),
    "submission_id": pl.String(),
    "title": pl.String(),
    "selftext": pl.String(),
    "submission_score": pl.Int64(),
    "num_comments": pl.Int64(),
    "over_18": pl.Boolean(),
    "submission_author": pl.String(),
    "submission_created_at": TIMESTAMP,
    "comment_id": pl.String(),
    "body": pl.String(),
    "comment_score": pl.Int64(),
    "comment_author": pl.String(),
    "stickied": pl.Boolean(),
    "distinguished": pl.String(),
    "comment_rank": pl.UInt32(),
    "has_submission": pl.Boolean(),
    "body_deleted": pl.Boolean(),
    "selftext_deleted": pl.Boolean(),
    "is_automoderator": pl.Boolean(),
    "is_stickied": pl.Boolean(),
    "is_distinguished": pl.Boolean(),
}
SCHEMA: dict[str, pl.DataType] = {**CANONICAL, **SOURCE_COLUMNS}

# Every field we read, as text: numbers, booleans and strings all parse into a String column,
# so a drifting type never fails a chunk; typing happens in Polars expressions afterwards.
_RAW_FIELDS = (
    "id", "name", "subreddit", "title", "selftext", "score", "num_comments", "over_18", "author",
    "created_utc", "permalink", "link_id", "parent_id", "body", "stickied", "distinguished",
)  # fmt: skip
_RAW_SCHEMA = {name: pl.String() for name in _RAW_FIELDS}

# What the cache holds per input file (plus ``_seq``, the row's position in the inputs).
_SUBMISSION_CACHE = {
    "submission_id": pl.String(),
    "subreddit": pl.String(),
    "title": pl.String(),
    "selftext": pl.String(),
    "submission_score": pl.Int64(),
    "num_comments": pl.Int64(),
    "over_18": pl.Boolean(),
    "submission_author": pl.String(),
    "submission_created_at": TIMESTAMP,
    "submission_permalink": pl.String(),
    "_seq": pl.Int64(),
}
_COMMENT_CACHE = {
    "comment_id": pl.String(),
    "submission_id": pl.String(),
    "comment_subreddit": pl.String(),
    "body": pl.String(),
    "comment_score": pl.Int64(),
    "comment_author": pl.String(),
    "comment_created_at": TIMESTAMP,
    "stickied": pl.Boolean(),
    "distinguished": pl.String(),
    "comment_permalink": pl.String(),
    "_seq": pl.Int64(),
}
_CACHE_VERSION = 2  # 2: Arrow IPC parts instead of parquet
_SEQ_FILE_SHIFT = 40  # _seq = file index << 40 | row number within the file (cache: index 0)
_MONTHLY = re.compile(r"^R(?P<kind>[SC])_\d{4}-\d{2}", re.IGNORECASE)
_PER_SUBREDDIT = re.compile(r"^(?P<sub>[A-Za-z0-9_]+?)_(?P<kind>submissions|comments)(?:\.|$)", re.IGNORECASE)
_BARE = re.compile(r"^(?P<kind>submissions|comments)(?:\.|$)", re.IGNORECASE)
_SUBREDDIT_NAME = re.compile(r"^[A-Za-z0-9_.]{1,50}$")  # old ones like "reddit.com" had dots
_MAX_LISTED_MALFORMED = 10


@dataclass
class FileStats:
    """What ingesting one input file found (``from_cache``: read from an earlier run's cache)."""

    path: str
    lines: int = 0
    decompressed_bytes: int = 0
    #: malformed JSON lines skipped (only with ``skip_malformed``) and the first few line numbers.
    malformed: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    #: rows kept after narrowing to the wanted subreddits.
    submissions: int = 0
    comments: int = 0
    #: comments of wanted subreddits dropped because they reply to a comment (not top-level).
    nested_comments: int = 0
    #: rows with neither submission nor comment fields, in a file whose name does not say.
    unclassified: int = 0
    from_cache: bool = False


@dataclass
class ScanStats:
    """Per-file ingest statistics of one :func:`scan_with_stats` call."""

    files: list[FileStats]
    cache_root: Path | None = None

    def inputs(self) -> list[dict]:
        """``{name, bytes, fingerprint}`` per input file, for the manifest.

        Hashes each file's content (memoised by path, size and mtime under the cache root), so it
        is a method, not computed during the scan.
        """
        return [
            {
                "name": Path(f.path).name,
                "bytes": Path(f.path).stat().st_size,
                "fingerprint": fingerprint(Path(f.path), self.cache_root),
            }
            for f in self.files
        ]

    @property
    def malformed(self) -> int:
        """Malformed lines skipped over all files (a funnel entry when ``skip_malformed``)."""
        return sum(f.malformed for f in self.files)

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    def to_dict(self) -> dict:
        """JSON-ready and deterministic (for a manifest): file names, not paths; no cache state."""
        files = []
        for stats in self.files:
            entry = {"name": Path(stats.path).name, **asdict(stats)}
            del entry["path"], entry["from_cache"]
            files.append(entry)
        return {"files": files, "malformed": self.malformed, "lines": self.lines}


def scan(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    subreddits: str | Iterable[str] | None = None,
    *,
    skip_malformed: bool = False,
    include_submissions_without_comments: bool = False,
    cache_dir: str | os.PathLike | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> pl.LazyFrame:
    """Candidate (submission, top-level comment) pairs of the wanted subreddits; see :func:`scan_with_stats`."""
    frame, _ = scan_with_stats(
        paths,
        subreddits,
        skip_malformed=skip_malformed,
        include_submissions_without_comments=include_submissions_without_comments,
        cache_dir=cache_dir,
        chunk_bytes=chunk_bytes,
    )
    return frame


def scan_with_stats(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    subreddits: str | Iterable[str] | None = None,
    *,
    skip_malformed: bool = False,
    include_submissions_without_comments: bool = False,
    cache_dir: str | os.PathLike | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> tuple[pl.LazyFrame, ScanStats]:
    """Ingest the dumps (eagerly, into the cache) and return the lazy pairs and stats.

    ``paths``: files or folders (a folder contributes its ``.zst``/``.ndjson``/``.jsonl`` files).
    ``subreddits``: names, case-insensitive (``r/`` prefix allowed); ``None`` keeps all.
    ``skip_malformed``: skip malformed JSON lines and count them (``ScanStats.malformed``) instead
    of raising :class:`CurationError` naming the line. ``cache_dir``: the cache root (default
    ``$CURATION_CACHE_DIR`` or ``~/.cache/curation``); narrowed rows are kept under its ``reddit/``
    folder, uncompressed for speed, keyed by file path, size, mtime and options, so a rebuild does
    not re-read the dump. ``chunk_bytes``: decompressed bytes parsed per step.

    Raises :class:`CurationError` for a missing path, a truncated or corrupt zstd stream (with
    its compressed byte offset) or a malformed line (with its 1-based line number). Lines that
    cannot belong to a wanted subreddit may be skipped unparsed, so their defects go unnoticed.
    """
    wanted = normalize_subreddits(subreddits)
    files = expand_paths(paths)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    cache = root / "reddit"
    cache.mkdir(parents=True, exist_ok=True)
    parts = [
        _ingest(path, wanted, skip_malformed=skip_malformed, cache=cache, chunk_bytes=chunk_bytes) for path in files
    ]
    submissions = _scan_cached([p[0] for p in parts])
    comments = _scan_cached([p[1] for p in parts])
    frame = _pairs(submissions, comments, include_submissions_without_comments=include_submissions_without_comments)
    return frame, ScanStats([p[2] for p in parts], cache_root=root)


def expand_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """The input files, in the given order; a folder gives its dump files sorted by name."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                raise CurationError(f"folder holds no {'/'.join(SUFFIXES)} files", path=path)
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise CurationError("no such file or folder", path=path)
    if not files:
        raise CurationError("no input files given")
    return files


def normalize_subreddits(subreddits: str | Iterable[str] | None) -> frozenset[str] | None:
    """Lower-cased subreddit names without ``r/``; ``None`` means every subreddit."""
    if subreddits is None:
        return None
    if isinstance(subreddits, str):
        subreddits = [subreddits]
    names = set()
    for raw in subreddits:
        name = raw.strip()
        name = re.sub(r"^/?r/", "", name, flags=re.IGNORECASE).strip("/")
        if not _SUBREDDIT_NAME.match(name):
            raise CurationError(f"not a subreddit name: {raw!r}")
        names.add(name.lower())
    if not names:
        raise CurationError("empty subreddit list (pass None to keep every subreddit)")
    return frozenset(names)


def file_kind(path: str | Path) -> tuple[str | None, str | None]:
    """(kind, subreddit) from a dump's file name: kind ``submissions``/``comments`` or None."""
    name = Path(path).name
    if match := _MONTHLY.match(name):
        return ("submissions" if match["kind"].upper() == "S" else "comments"), None
    if match := _PER_SUBREDDIT.match(name):
        return match["kind"].lower(), match["sub"]
    if match := _BARE.match(name):
        return match["kind"].lower(), None
    return None, None


def _pairs(
    submissions: pl.LazyFrame, comments: pl.LazyFrame, *, include_submissions_without_comments: bool = False
) -> pl.LazyFrame:
    """Join cached submissions and top-level comments into candidate rows with canonical columns.

    Duplicated ids (the same row in two inputs) keep their first occurrence in input order.
    ``comment_rank`` is 1 for the top-scoring top-level comment of a submission, ties going to
    the older comment, then the smaller id; it is computed on a narrow key table so that the
    wide text columns are only joined to rows that survive later filters.
    """
    submissions = _first_occurrence(submissions, "submission_id")
    comments = _first_occurrence(comments, "comment_id")
    ranks = (
        comments.select("_seq", "submission_id", "comment_score", "comment_created_at", "comment_id")
        .sort(
            ["submission_id", "comment_score", "comment_created_at", "comment_id"],
            descending=[False, True, False, False],
            nulls_last=True,
        )
        .select("_seq", comment_rank=pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).over("submission_id"))
    )
    with_rank = comments.join(ranks, on="_seq", how="inner")
    joined = with_rank.join(
        submissions.drop("_seq").with_columns(has_submission=pl.lit(True)), on="submission_id", how="left"
    ).with_columns(pl.col("has_submission").fill_null(False))
    rows = joined.select(_output_columns(pair=True))
    if include_submissions_without_comments:
        alone = submissions.join(comments.select("submission_id"), on="submission_id", how="anti")
        rows = pl.concat([rows, alone.select(_output_columns(pair=False))], how="vertical")
    return rows


# --------------------------------------------------------------------------- output columns


def _output_columns(*, pair: bool) -> list[pl.Expr]:
    """Canonical + source columns, for a pair row or a submission-only row."""
    col = pl.col
    null = pl.lit(None)
    if pair:
        comment_url = pl.when(col("comment_permalink").str.starts_with("http")).then(col("comment_permalink"))
        comment_url = comment_url.when(col("comment_permalink").str.starts_with("/")).then(
            REDDIT + col("comment_permalink")
        )
        subreddit = pl.coalesce(col("subreddit"), col("comment_subreddit"))
        built = pl.format(REDDIT + "/r/{}/comments/{}/_/{}/", subreddit, col("submission_id"), col("comment_id"))
        exprs = {
            "id": "reddit/t1_" + col("comment_id"),
            "group": subreddit,
            "url": comment_url.otherwise(built),
            "created_at": col("comment_created_at"),
            "subreddit": subreddit,
            "comment_id": col("comment_id"),
            "body": col("body"),
            "comment_score": col("comment_score"),
            "comment_author": col("comment_author"),
            "stickied": col("stickied"),
            "distinguished": col("distinguished"),
            "comment_rank": col("comment_rank"),
            "has_submission": col("has_submission"),
            "body_deleted": col("body").is_null() | col("body").str.strip_chars().is_in(DELETED_MARKERS),
            "is_automoderator": col("comment_author").str.to_lowercase().eq("automoderator").fill_null(False),
            "is_stickied": col("stickied").fill_null(False),
            "is_distinguished": (col("distinguished").str.strip_chars() != "").fill_null(False),
        }
    else:
        post_url = pl.when(col("submission_permalink").str.starts_with("http")).then(col("submission_permalink"))
        post_url = post_url.when(col("submission_permalink").str.starts_with("/")).then(
            REDDIT + col("submission_permalink")
        )
        built = pl.format(REDDIT + "/r/{}/comments/{}/", col("subreddit"), col("submission_id"))
        exprs = {
            "id": "reddit/t3_" + col("submission_id"),
            "group": col("subreddit"),
            "url": post_url.otherwise(built),
            "created_at": col("submission_created_at"),
            "subreddit": col("subreddit"),
            "has_submission": pl.lit(True),
            "body_deleted": pl.lit(False),
            "is_automoderator": pl.lit(False),
            "is_stickied": pl.lit(False),
            "is_distinguished": pl.lit(False),
        }
    exprs |= {
        "source": pl.lit(SOURCE),
        "prompt": null,
        "response": null,
        "license": pl.lit(LICENSE),
        "selftext_deleted": col("selftext").str.strip_chars().is_in(DELETED_MARKERS).fill_null(False),
    }
    present = set(_SUBMISSION_CACHE) | (set(_COMMENT_CACHE) | {"comment_rank"} if pair else set())
    return [
        exprs.get(name, col(name) if name in present else null).cast(dtype).alias(name)
        for name, dtype in SCHEMA.items()
    ]


def _first_occurrence(frame: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """Rows whose ``key`` was not seen earlier in input order (decided on a narrow table)."""
    first = frame.group_by(key).agg(pl.col("_seq").min())
    return frame.join(first.select("_seq"), on="_seq", how="semi")


# --------------------------------------------------------------------------- ingest


def _scan_cached(parts: list[list[Path]]) -> pl.LazyFrame:
    """Each input's cached parts as one frame; ``_seq`` gets the input's position in the list."""
    frames = [
        pl.scan_ipc(files).with_columns(pl.col("_seq") + (index << _SEQ_FILE_SHIFT))
        for index, files in enumerate(parts)
    ]
    return pl.concat(frames, how="vertical")


def _cache_key(path: Path, wanted: frozenset[str] | None, skip_malformed: bool) -> str:
    """Names one input's narrowed rows: its path, size and mtime, and what was asked of it."""
    status = path.stat()
    identity = {
        "version": _CACHE_VERSION,
        "path": str(path.resolve()),
        "size": status.st_size,
        "mtime_ns": status.st_mtime_ns,
        "subreddits": sorted(wanted) if wanted is not None else None,
        "skip_malformed": skip_malformed,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    return f"{path.name}-{digest}"


def _ingest(
    path: Path, wanted: frozenset[str] | None, *, skip_malformed: bool, cache: Path, chunk_bytes: int
) -> tuple[list[Path], list[Path], FileStats]:
    """Narrow one input into its cache folder (reused when complete): part files and stats.

    The folder is built under a temporary name and renamed into place when complete, so a failed
    or interrupted ingest never leaves a partial cache behind.
    """
    folder = cache / _cache_key(path, wanted, skip_malformed)
    stats_file = folder / "stats.json"
    if stats_file.is_file():
        stats = FileStats(**json.loads(stats_file.read_text()))
        stats.from_cache = True
    else:
        temp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp-", dir=cache))
        try:
            stats = _ingest_file(path, wanted, temp, skip_malformed=skip_malformed, chunk_bytes=chunk_bytes)
            (temp / "stats.json").write_text(json.dumps(asdict(stats)))
            try:
                os.rename(temp, folder)
            except OSError:
                if not stats_file.is_file():  # not a concurrent build of the same key
                    raise
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    return sorted(folder.glob("submissions-*.arrow")), sorted(folder.glob("comments-*.arrow")), stats


def _ingest_file(
    path: Path, wanted: frozenset[str] | None, folder: Path, *, skip_malformed: bool, chunk_bytes: int
) -> FileStats:
    reader = _FileReader(path, wanted, skip_malformed)
    submissions = _PartWriter(folder, "submissions", _SUBMISSION_CACHE)
    comments = _PartWriter(folder, "comments", _COMMENT_CACHE)
    # Three stages overlap: decompression (read_line_chunks' thread), parsing and narrowing (here),
    # and writing the cache (the writer's thread, in order): a write, mostly the kernel copying
    # into the page cache, no longer leaves a core idle.
    writer = _OrderedWorker("reddit-cache-writer")
    # Parsing (Polars, which releases the GIL) runs a chunk ahead on a thread of its own, so the
    # next chunk is parsed while this one is narrowed; everything that counts or numbers rows
    # (prefilter choice, malformed lines, row positions, writes) still happens in input order.
    parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reddit-parse")
    ahead: collections.deque = collections.deque()

    def finish_one() -> None:
        chunk, source, kept, parsing = ahead.popleft()
        reader.stats.lines += chunk.line_count
        reader.stats.decompressed_bytes += chunk.size
        raw = reader.parsed(chunk, source, kept, parsing.result())
        kept_submissions, kept_comments = reader.narrow(raw)
        writer.submit(submissions.write, kept_submissions)
        writer.submit(comments.write, kept_comments)

    try:
        # closing(): on an error the reader's background thread stops now, not when the traceback dies
        with contextlib.closing(read_line_chunks(path, chunk_bytes=chunk_bytes)) as chunks:
            for chunk in chunks:
                source, kept = reader.select(chunk)
                ahead.append((chunk, source, kept, parser.submit(_try_parse, source)))
                if len(ahead) > 1:
                    finish_one()
            while ahead:
                finish_one()
        writer.submit(submissions.close)
        writer.submit(comments.close)
        writer.finish()
    finally:
        parser.shutdown(wait=True, cancel_futures=True)
        writer.cancel()  # after an error: drop what waits, let a running write end
    reader.stats.submissions = submissions.rows
    reader.stats.comments = comments.rows
    return reader.stats


class _OrderedWorker:
    """Runs submitted calls one after another on a thread of its own; at most two wait (flat memory).

    The first error is raised by the next :meth:`submit` or by :meth:`finish`.
    """

    def __init__(self, name: str):
        self._tasks: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (task := self._tasks.get()) is not None:
            if self._error is None and not self._cancelled:
                try:
                    task[0](*task[1:])
                except BaseException as error:  # raised in the submitting thread
                    self._error = error

    def submit(self, function, *args) -> None:
        if self._error is not None:
            raise self._error
        self._tasks.put((function, *args))

    def finish(self) -> None:
        """Wait for every submitted call; raise the first error."""
        if self._thread.is_alive():
            self._tasks.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        if self._thread.is_alive():
            self._cancelled = True
            self._tasks.put(None)
            self._thread.join()


class _FileReader:
    """Reading one input: what to keep, and the line numbers of malformed lines."""

    def __init__(self, path: Path, wanted: frozenset[str] | None, skip_malformed: bool):
        self.path = path
        self.wanted = wanted
        self.skip_malformed = skip_malformed
        self.kind, dump_subreddit = file_kind(path)
        self.stats = FileStats(path=str(path))
        self.rows = 0
        # Cheap byte-level narrowing before JSON parsing, unless the file is the per-subreddit
        # dump of a wanted subreddit (then nearly every line matches and the search is waste).
        self.prefilter: re.Pattern[bytes] | None = None
        if wanted is not None and (dump_subreddit is None or dump_subreddit.lower() not in wanted):
            names = b"|".join(re.escape(n.encode()) for n in sorted(wanted))
            self.prefilter = re.compile(rb'"subreddit"\s*:\s*"(?i:' + names + rb')"')

    def read(self, chunk: LineChunk) -> pl.DataFrame:
        """The chunk's lines that may be wanted, parsed with every field as text."""
        source, kept = self.select(chunk)
        return self.parsed(chunk, source, kept, _try_parse(source))

    def select(self, chunk: LineChunk) -> tuple[bytes | tuple[bytes, ...], tuple[list[int], list[int]] | None]:
        """What of the chunk to parse, and where kept lines came from (None: all of it).

        Call in input order: whether the prefilter still runs depends on the earlier chunks.
        """
        if self.prefilter is None:
            return chunk.pieces, None  # the pieces as they are: no copy into one buffer
        data, kept = _matching_lines(chunk.pieces, self.prefilter)
        if len(data) * 2 > chunk.size:  # most lines match: stop searching, just parse
            self.prefilter = None
        return data, kept

    def parsed(
        self,
        chunk: LineChunk,
        source: bytes | tuple[bytes, ...],
        kept: tuple[list[int], list[int]] | None,
        frame: pl.DataFrame | None,
    ) -> pl.DataFrame:
        """``frame`` (``_try_parse(source)``), or, if that failed, the malformed lines named or skipped.

        Call in input order: skipped lines are counted and listed in order.
        """
        if frame is not None:
            return frame
        return self._parse_skipping(chunk, chunk.data if kept is None else source, kept)

    def narrow(self, raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Typed submissions and top-level comments of the wanted subreddits, in one Polars query."""
        col = pl.col
        base = raw.lazy().with_row_index("_row", offset=self.rows)
        self.rows += raw.height
        if self.wanted is not None:
            base = base.filter(col("subreddit").str.to_lowercase().is_in(self.wanted))
        # Fields decide; the file name (RC_/RS_, *_comments, *_submissions) only fills the gaps.
        comment_fields = col("link_id").is_not_null() | col("parent_id").is_not_null() | col("body").is_not_null()
        submission_fields = (
            col("title").is_not_null() | col("selftext").is_not_null() | col("num_comments").is_not_null()
        )
        is_comment = comment_fields | (~submission_fields & pl.lit(self.kind == "comments"))
        is_submission = ~comment_fields & (submission_fields | pl.lit(self.kind == "submissions"))
        top_level = (col("parent_id") == col("link_id")).fill_null(False)
        base = base.with_columns(_comment=is_comment, _submission=is_submission)
        submissions, comments, counts = pl.collect_all(
            [
                base.filter("_submission").select(**_typed_submissions()),
                base.filter(col("_comment") & top_level).select(**_typed_comments()),
                base.select(
                    unclassified=(~col("_comment") & ~col("_submission")).sum(),
                    nested=(col("_comment") & ~top_level).sum(),
                ),
            ]
        )
        self.stats.unclassified += counts["unclassified"].item()
        self.stats.nested_comments += counts["nested"].item()
        return (
            submissions.filter(col("submission_id").is_not_null()),
            comments.filter(col("comment_id").is_not_null() & col("submission_id").is_not_null()),
        )

    def _parse_skipping(
        self, chunk: LineChunk, data: bytes, kept: tuple[list[int], list[int]] | None
    ) -> pl.DataFrame:
        """Parse a chunk that failed: raise naming the first bad line, or skip and count them all."""
        bad = _bad_lines(data, 0, len(data), first_only=not self.skip_malformed)
        if not bad:  # the chunk fails but no single line does: report the chunk
            return self._parse_or_fail(chunk, data)
        numbers = [_line_number(chunk, kept, start) for start, _, _ in bad]
        if not self.skip_malformed:
            start, end, reason = bad[0]
            line = data[start:end].rstrip(b"\r\n")
            snippet = line[:60].decode("utf-8", "replace") + ("..." if len(line) > 60 else "")
            raise CurationError(
                f"malformed JSON line ({reason}): {snippet!r}; the skip option skips and counts such lines",
                path=self.path,
                position=f"line {numbers[0]}",
            )
        self.stats.malformed += len(bad)
        room = _MAX_LISTED_MALFORMED - len(self.stats.malformed_lines)
        self.stats.malformed_lines.extend(numbers[: max(room, 0)])
        pieces, previous = [], 0
        for start, end, _ in bad:
            pieces.append(data[previous:start])
            previous = end
        pieces.append(data[previous:])
        return self._parse_or_fail(chunk, b"".join(pieces))

    def _parse_or_fail(self, chunk: LineChunk, data: bytes) -> pl.DataFrame:
        try:
            return _parse(data)
        except pl.exceptions.PolarsError as error:
            raise CurationError(
                f"unreadable JSON ({_reason(error)})",
                path=self.path,
                position=f"lines {chunk.first_line}-{chunk.first_line + chunk.line_count - 1}",
            ) from None


def _line_number(chunk: LineChunk, kept: tuple[list[int], list[int]] | None, offset: int) -> int:
    """1-based line number in the file of the line at ``offset`` in the (maybe narrowed) data."""
    if kept is not None:  # narrowed data: map back into the chunk through the kept lines
        origins, offsets = kept
        index = bisect.bisect_right(offsets, offset) - 1
        offset = origins[index] + offset - offsets[index]
    return chunk.first_line + chunk.data.count(b"\n", 0, offset)


class _PartWriter:
    """Writes one kind of narrowed rows as Arrow IPC parts of bounded size (memory stays flat)."""

    _FLUSH_BYTES = 16 * 2**20

    def __init__(self, folder: Path, kind: str, schema: dict[str, pl.DataType]):
        self.folder, self.kind, self.schema = folder, kind, schema
        self.pending: list[pl.DataFrame] = []
        self.pending_bytes = 0
        self.parts = 0
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self.pending.append(frame)
            self.pending_bytes += frame.estimated_size()
            self.rows += frame.height
        if self.pending_bytes >= self._FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        frame = pl.concat(self.pending, rechunk=False) if self.pending else pl.DataFrame(schema=self.schema)
        # A cache, read once or twice: uncompressed Arrow IPC is the buffers as they are in memory
        # (measured: half the CPU of uncompressed parquet, which re-encodes every string).
        frame.write_ipc(self.folder / f"{self.kind}-{self.parts:05d}.arrow", compression="uncompressed")
        self.parts += 1
        self.pending, self.pending_bytes = [], 0

    def close(self) -> int:
        """Write what is left (an empty part if nothing was written, to keep the schema); rows written."""
        if self.pending or not self.parts:
            self._flush()
        return self.rows


# --------------------------------------------------------------------------- parsing helpers


def _try_parse(data: bytes | tuple[bytes, ...]) -> pl.DataFrame | None:
    """``_parse(data)``, or None if the data does not parse (the caller finds out why, in order)."""
    try:
        return _parse(data)
    except pl.exceptions.PolarsError:
        return None


def _parse(data: bytes | tuple[bytes, ...]) -> pl.DataFrame:
    """Whole NDJSON lines (one buffer, or pieces of whole lines) into a frame of text columns."""
    if isinstance(data, tuple):
        data = [piece for piece in data if piece]
    return pl.read_ndjson(data, schema=_RAW_SCHEMA) if data else pl.DataFrame(schema=_RAW_SCHEMA)


def _reason(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _bad_lines(data: bytes, start: int, end: int, *, first_only: bool) -> list[tuple[int, int, str]]:
    """(start, end, reason) of the lines in ``data[start:end]`` that Polars cannot parse, by bisection.

    Runs only when a chunk failed, and uses the same parser as the hot path, so "malformed" means
    exactly what fails there.
    """
    try:
        _parse(data[start:end])
        return []
    except pl.exceptions.PolarsError as error:
        reason = _reason(error)
    middle = (start + end) // 2
    split = data.rfind(b"\n", start, middle) + 1
    if split <= start:
        split = data.find(b"\n", middle, end - 1) + 1
        if split <= start:  # a single line
            return [(start, end, reason)]
    bad = _bad_lines(data, start, split, first_only=first_only)
    if bad and first_only:
        return bad
    return bad + _bad_lines(data, split, end, first_only=first_only)


def _matching_lines(
    pieces: tuple[bytes, ...], pattern: re.Pattern[bytes]
) -> tuple[bytes, tuple[list[int], list[int]]]:
    """The lines of a chunk (its pieces of whole lines) that match ``pattern``, and where each came from.

    Returns the joined lines and (origins, offsets): kept line ``i`` starts at ``origins[i]`` in
    the chunk (its pieces end to end) and at ``offsets[i]`` in the result (to map malformed lines
    back to line numbers). The loop runs per *match*, i.e. per wanted row, not per line of the dump.
    """
    kept: list[bytes | memoryview] = []
    origins: list[int] = []
    offsets: list[int] = []
    size = 0
    base = 0  # where the current piece starts in the chunk
    for data in pieces:
        view = memoryview(data)
        taken = 0  # end of the last kept line
        for match in pattern.finditer(data):
            if match.start() < taken:
                continue
            begin = data.rfind(b"\n", 0, match.start()) + 1
            end = data.find(b"\n", match.end()) + 1 or len(data)
            kept.append(view[begin:end])
            origins.append(base + begin)
            offsets.append(size)
            size += end - begin
            taken = end
        base += len(data)
    return b"".join(kept), (origins, offsets)


def _int(name: str) -> pl.Expr:
    """An integer from text that held an int, a float (``1463347018.0``) or a quoted number."""
    text = pl.col(name)
    as_float = text.cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)
    return pl.coalesce(text.cast(pl.Int64, strict=False), as_float)


def _bool(name: str) -> pl.Expr:
    text = pl.col(name).str.to_lowercase()
    return pl.when(text.is_in(["true", "1"])).then(True).when(text.is_in(["false", "0"])).then(False)


def _time(name: str) -> pl.Expr:
    return (_int(name) * 1_000_000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _nonempty(name: str) -> pl.Expr:
    return pl.when(pl.col(name) != "").then(pl.col(name))


def _seq() -> pl.Expr:
    return pl.col("_row").cast(pl.Int64)


def _typed_submissions() -> dict[str, pl.Expr]:
    col = pl.col
    return dict(
        submission_id=pl.coalesce(_nonempty("id"), col("name").str.strip_prefix("t3_")),
        subreddit=col("subreddit"),
        title=col("title"),
        selftext=col("selftext"),
        submission_score=_int("score"),
        num_comments=_int("num_comments"),
        over_18=_bool("over_18"),
        submission_author=col("author"),
        submission_created_at=_time("created_utc"),
        submission_permalink=col("permalink"),
        _seq=_seq(),
    )


def _typed_comments() -> dict[str, pl.Expr]:
    col = pl.col
    return dict(
        comment_id=pl.coalesce(_nonempty("id"), col("name").str.strip_prefix("t1_")),
        submission_id=col("link_id").str.strip_prefix("t3_"),
        comment_subreddit=col("subreddit"),
        body=col("body"),
        comment_score=_int("score"),
        comment_author=col("author"),
        comment_created_at=_time("created_utc"),
        stickied=_bool("stickied"),
        distinguished=_nonempty("distinguished"),
        comment_permalink=col("permalink"),
        _seq=_seq(),
    )
