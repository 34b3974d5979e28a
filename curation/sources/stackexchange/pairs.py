"""From a site's Posts (and Users) table to its (question, answer) pairs, with flat memory.

The dump is read once, as it streams: rows are typed, split into questions and answers, and
appended to ``B`` buckets (Arrow IPC files) by ``question_id % B`` (B grows with the table's size). Each
bucket then holds whole questions with all their answers, so answer ranks and the question join
run one bucket at a time and peak memory is one bucket's, whatever the site's size. The result,
``pairs-*.arrow``, is kept in the cache keyed by the input's content fingerprint: a rebuild
that only changes thresholds scans it instead of re-decoding the archive. It is uncompressed
Arrow IPC, which `scan` memory-maps (`curation.sources.mapped`): every build reads it without
decoding or copying (the cheap filters look at every candidate's HTML, then fetch the rows they
keep), where zstd parquet cost twice the CPU (measured: the first filter pass of the ``lima``
benchmark, 1.9 -> 1.1 CPU s), for a cache about 0.6x the XML's size instead of 0.2x.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import polars as pl
import pyarrow as pa

from curation.columns import TIMESTAMP
from curation.errors import CurationError
from curation.sources.stackexchange.inputs import SiteInput
from curation.sources.stackexchange.streams import read_archive_members, read_chunks
from curation.sources.stackexchange.xmlrows import ParseStats, iter_row_frames

#: Bump when the cached pair layout changes, so old caches are rebuilt.
PARSER_VERSION = 6  # 5: the compiled row scan (same rows; rebuilt to be safe); 6: Arrow IPC pairs
#: Uncompressed Posts.xml bytes per bucket: bounds the memory of the per-bucket join.
BUCKET_BYTES = 192 * 1024 * 1024

POST_FIELDS = [
    "Id", "PostTypeId", "ParentId", "AcceptedAnswerId", "CreationDate", "Score", "ViewCount",
    "Body", "OwnerUserId", "OwnerDisplayName", "Title", "Tags", "AnswerCount", "ClosedDate",
    "ContentLicense",
]  # fmt: skip
USER_FIELDS = ["Id", "DisplayName"]
#: Attributes the parser's fast path reads as numbers and dates (the rest as text); `_typed_posts`
#: casts whatever still comes as text (from the line-by-line path) the same way.
POST_TYPES = dict.fromkeys(["Id", "PostTypeId", "ParentId", "AcceptedAnswerId", "Score", "ViewCount", "OwnerUserId"],
                           "int") | {"CreationDate": "datetime"}  # fmt: skip
USER_TYPES = {"Id": "int"}
_DATE = "%Y-%m-%dT%H:%M:%S%.f"


def _typed_posts(raw: pl.DataFrame, label: str, stats: ParseStats, skip_malformed: bool) -> pl.DataFrame:
    """Raw string attributes -> typed columns; rows whose numbers or dates do not parse are malformed."""
    ints = {"Id": "id", "PostTypeId": "post_type", "ParentId": "parent_id",
            "AcceptedAnswerId": "accepted_answer_id", "Score": "score", "ViewCount": "view_count",
            "OwnerUserId": "owner_id"}  # fmt: skip
    typed = raw.select(
        *[pl.col(src).cast(pl.Int64, strict=False).alias(dst) for src, dst in ints.items()],
        _datetime(raw, "CreationDate").alias("created_at"),
        pl.col("Body").alias("body"),
        pl.col("Title").alias("title"),
        _tags(pl.col("Tags")).alias("tags"),
        pl.col("OwnerDisplayName").alias("owner_display_name"),
        pl.col("ClosedDate").is_not_null().alias("closed"),
        pl.col("ContentLicense").alias("license"),
    )
    bad = pl.lit(False)
    for src, dst in ints.items():
        bad = bad | (pl.col(src).is_not_null() & typed[dst].is_null())
    bad = bad | pl.col("Id").is_null() | pl.col("PostTypeId").is_null()
    bad = bad | (pl.col("CreationDate").is_not_null() & typed["created_at"].is_null())
    bad_mask = raw.select(bad.alias("bad"))["bad"]
    if bad_mask.any():
        if not skip_malformed:
            raw_row = raw.filter(bad_mask).row(0, named=True)
            typed_row = typed.filter(bad_mask).row(0, named=True)
            raise CurationError(f"malformed row: {_what_is_wrong(raw_row, typed_row, ints)}", path=label,
                                position=f"row Id={raw_row.get('Id')}")  # fmt: skip
        stats.add(malformed=int(bad_mask.sum()), rows=-int(bad_mask.sum()))
        typed = typed.filter(~bad_mask)
    return typed


def _datetime(raw: pl.DataFrame, name: str) -> pl.Expr:
    """The column as UTC datetimes: as it is if the fast path typed it, else parsed from its text."""
    if raw.schema[name] == pl.String:
        return pl.col(name).str.to_datetime(_DATE, time_zone="UTC", time_unit="us", strict=False)
    return pl.col(name).cast(pl.Datetime("us", "UTC"))


def _what_is_wrong(raw_row: dict, typed_row: dict, ints: dict[str, str]) -> str:
    """The first attribute of a malformed row that did not parse, in words."""
    for src, dst in [*ints.items(), ("CreationDate", "created_at")]:
        if raw_row.get(src) is not None and typed_row[dst] is None:
            return f"{src}={raw_row[src]!r} is not {'a date' if src == 'CreationDate' else 'an integer'}"
    return "row without Id or PostTypeId"


def _tags(decoded: pl.Expr) -> pl.Expr:
    """``<a><b>`` (dumps before late 2025) or ``|a|b|`` (after) -> ["a", "b"]."""
    piped = decoded.str.strip_chars("|").str.split("|")
    angled = decoded.str.strip_prefix("<").str.strip_suffix(">").str.split("><")
    tags = pl.when(decoded.str.starts_with("|")).then(piped).otherwise(angled)
    return pl.when(decoded.is_null() | (decoded.str.strip_chars("|<>") == "")).then(
        pl.lit([], dtype=pl.List(pl.String))
    ).otherwise(tags)


_QUESTION_COLUMNS = {
    "id": "question_id", "title": "title", "body": "question_html", "score": "question_score",
    "view_count": "view_count", "tags": "tags", "closed": "closed", "owner_id": "question_owner_id",
    "owner_display_name": "question_owner_display_name", "created_at": "question_created_at",
    "accepted_answer_id": "accepted_answer_id", "license": "question_license",
}  # fmt: skip
_ANSWER_COLUMNS = {
    "id": "answer_id", "parent_id": "question_id", "body": "answer_html", "score": "answer_score",
    "owner_id": "answer_owner_id", "owner_display_name": "answer_owner_display_name",
    "created_at": "answer_created_at", "license": "answer_license",
}  # fmt: skip


class _BucketWriter:
    """Appends frames to ``B`` files per table, routed by ``question_id % B``.

    The files live only until their bucket is paired, so they are uncompressed Arrow IPC: the
    buffers as they are in memory (measured: lz4 parquet took 2 s of the main thread per 400 MB,
    longer than the parse itself).
    """

    def __init__(self, folder: Path, buckets: int):
        self.folder = folder
        self.buckets = buckets
        self._writers: dict[tuple[str, int], tuple[object, pa.ipc.RecordBatchFileWriter]] = {}

    def write(self, table: str, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        keyed = frame.with_columns((pl.col("question_id") % self.buckets).alias("_bucket"))
        for (bucket,), part in keyed.partition_by("_bucket", as_dict=True, maintain_order=True).items():
            arrow = part.drop("_bucket").to_arrow()
            key = (table, int(bucket))
            if key not in self._writers:
                sink = pa.OSFile(str(self.path(table, int(bucket))), "wb")
                self._writers[key] = (sink, pa.ipc.new_file(sink, arrow.schema))
            self._writers[key][1].write_table(arrow)

    def path(self, table: str, bucket: int) -> Path:
        return self.folder / f"{table}-{bucket:05d}.arrow"

    def close(self) -> None:
        for sink, writer in self._writers.values():
            writer.close()
            sink.close()


def build_site_cache(
    item: SiteInput,
    target: Path,
    *,
    skip_malformed: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Parse one site into ``target`` (pairs-*.arrow + meta.json), atomically; return the meta."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir(parents=True)
    try:
        meta = _build(item, tmp, skip_malformed, progress)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "meta.json").is_file():  # not a concurrent build that won
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        return json.loads((target / "meta.json").read_text())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _build(item: SiteInput, tmp: Path, skip_malformed: bool, progress) -> dict:
    size = item.posts.size or item.posts.path.stat().st_size
    buckets = max(1, math.ceil(size / BUCKET_BYTES))
    writer = _BucketWriter(tmp, buckets)
    post_stats, user_stats = ParseStats(), ParseStats()
    users_path = tmp / "users.parquet"
    try:
        posts_chunks, users_chunks = table_chunks(item)
        for questions, answers in iter_row_frames(
            _counting(posts_chunks, progress), fields=POST_FIELDS, root="posts",
            label=item.posts.label, stats=post_stats, skip_malformed=skip_malformed, types=POST_TYPES,
            convert=lambda raw: split_posts(_typed_posts(raw, item.posts.label, post_stats, skip_malformed)),
        ):  # fmt: skip
            writer.write("questions", questions)
            writer.write("answers", answers)
        if users_chunks is not None:
            frames = [
                typed_users(raw)
                for raw in iter_row_frames(
                    users_chunks(), fields=USER_FIELDS, root="users", label=item.users.label,
                    stats=user_stats, skip_malformed=skip_malformed, types=USER_TYPES,
                )
            ]  # fmt: skip
            pl.concat(frames or [pl.DataFrame(schema=USERS_SCHEMA)]).write_parquet(users_path)
    finally:
        writer.close()
    counts = {"questions": 0, "answers": 0, "orphan_answers": 0}
    for bucket in range(buckets):
        _pair_bucket(writer, bucket, users_path if users_path.exists() else None, tmp, counts)
    for leftover in tmp.glob("questions-*.arrow"):
        leftover.unlink()
    for leftover in tmp.glob("answers-*.arrow"):
        leftover.unlink()
    if users_path.exists():
        users_path.unlink()
    return {
        "parser_version": PARSER_VERSION,
        "site": item.site,
        "buckets": buckets,
        "posts": asdict(post_stats),
        "users": asdict(user_stats) if item.users else None,
        **counts,
    }


def table_chunks(item: SiteInput):
    """Posts chunks, and a callable giving Users chunks (one decoding pass when both share an archive)."""
    posts, users = item.posts, item.users
    if posts.member is not None and users is not None and users.path == posts.path:
        # One pass over a solid archive; Users.xml usually follows Posts.xml in it, so its chunks
        # are buffered (a small table) while Posts streams through the parser.
        users_buffer: list[bytes] = []

        def posts_only() -> Iterator[bytes]:
            for name, chunk in read_archive_members(posts.path, [posts.member, users.member]):
                if name == posts.member:
                    yield chunk
                else:
                    users_buffer.append(chunk)

        return posts_only(), lambda: iter(users_buffer)
    return read_chunks(posts), (lambda: read_chunks(users)) if users is not None else None


def _counting(chunks: Iterator[bytes], progress) -> Iterator[bytes]:
    for chunk in chunks:
        if progress is not None:
            progress(len(chunk))
        yield chunk


def _read_bucket(writer: _BucketWriter, table: str, bucket: int, columns: dict) -> pl.DataFrame:
    path = writer.path(table, bucket)
    if path.exists():
        return pl.read_ipc(path)
    return pl.DataFrame(schema=columns)


def _pair_bucket(writer: _BucketWriter, bucket: int, users: Path | None, tmp: Path, counts: dict) -> None:
    questions = _read_bucket(writer, "questions", bucket, QUESTION_SCHEMA)
    answers = _read_bucket(writer, "answers", bucket, ANSWER_SCHEMA)
    names = display_names(pl.read_parquet(users)) if users is not None else None
    pairs, seen = pair_frames(questions, answers, names)
    for key, value in seen.items():
        counts[key] += value
    pairs.write_ipc(tmp / f"pairs-{bucket:05d}.arrow", compression="uncompressed")


def split_posts(typed: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed posts -> (questions, answers with a parent), renamed to the pair columns."""
    questions = typed.filter(pl.col("post_type") == 1).select(
        [pl.col(k).alias(v) for k, v in _QUESTION_COLUMNS.items()]
    )
    answers = typed.filter(pl.col("post_type") == 2).select([pl.col(k).alias(v) for k, v in _ANSWER_COLUMNS.items()])
    return questions, answers.filter(pl.col("question_id").is_not_null())


def typed_users(raw: pl.DataFrame) -> pl.DataFrame:
    """Raw Users rows -> ``user_id``, ``display_name`` (rows without a numeric Id dropped)."""
    return raw.select(
        pl.col("Id").cast(pl.Int64, strict=False).alias("user_id"),
        pl.col("DisplayName").alias("display_name"),
    ).filter(pl.col("user_id").is_not_null())


def display_names(users: pl.DataFrame) -> pl.DataFrame:
    """One display name per user id: the first in file order."""
    return users.unique("user_id", keep="first")


def pair_frames(
    questions: pl.DataFrame, answers: pl.DataFrame, names: pl.DataFrame | None
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Whole questions and all their answers (one bucket) -> pairs sorted by question and rank, and counts.

    Answers are ranked within their question by score, then accepted, then age, then id; questions
    without answers keep one row with null answer columns. ``names`` (`display_names`) supplies
    owners' display names where the dump has a Users table.
    """
    known = answers.join(questions.select("question_id", "accepted_answer_id"), on="question_id", how="inner")
    counts = {"questions": questions.height, "answers": known.height, "orphan_answers": answers.height - known.height}
    ranked = (
        known.with_columns((pl.col("answer_id") == pl.col("accepted_answer_id")).fill_null(False).alias("is_accepted"))
        .drop("accepted_answer_id")
        .sort(
            ["question_id", "answer_score", "is_accepted", "answer_created_at", "answer_id"],
            descending=[False, True, True, False, False],
            nulls_last=True,
        )
        .with_columns(
            (pl.col("answer_id").cum_count().over("question_id")).cast(pl.Int32).alias("answer_rank"),
            pl.len().over("question_id").cast(pl.Int32).alias("answer_count"),
        )
    )
    pairs = questions.join(ranked, on="question_id", how="left").with_columns(
        pl.col("answer_count").fill_null(0), pl.col("is_accepted").fill_null(False)
    )
    if names is not None:
        for who in ("question", "answer"):
            pairs = pairs.join(
                names.rename({"user_id": f"{who}_owner_id", "display_name": f"_{who}_name"}),
                on=f"{who}_owner_id",
                how="left",
            )
    else:
        pairs = pairs.with_columns(pl.lit(None, pl.String).alias("_question_name"), pl.lit(None, pl.String).alias("_answer_name"))
    pairs = pairs.with_columns(
        pl.coalesce("_question_name", "question_owner_display_name").alias("question_owner_name"),
        pl.coalesce("_answer_name", "answer_owner_display_name").alias("answer_owner_name"),
    ).drop("_question_name", "_answer_name", "question_owner_display_name", "answer_owner_display_name")
    return pairs.sort(["question_id", "answer_rank"], nulls_last=True), counts


def candidate_columns(site: str, default_license: str) -> list[pl.Expr]:
    """Pairs of ``site`` -> the source's candidate columns (canonical ones first), as `scan` returns them.

    ``default_license``: the licence of posts without ``ContentLicense`` (dumps before 2018).
    """
    from curation.sources.stackexchange.inputs import is_meta_site

    return [
        pl.concat_str(
            pl.lit(f"stackexchange/{site}/"), pl.coalesce("answer_id", "question_id").cast(pl.String)
        ).alias("id"),
        pl.lit("stackexchange").alias("source"),
        pl.lit(site).alias("group"),
        pl.lit(None, pl.String).alias("prompt"),
        pl.lit(None, pl.String).alias("response"),
        pl.coalesce("answer_license", "question_license", pl.lit(default_license)).alias("license"),
        pl.concat_str(pl.lit(f"https://{site}/q/"), pl.col("question_id").cast(pl.String)).alias("url"),
        pl.coalesce("answer_created_at", "question_created_at").alias("created_at"),
        pl.lit(site).alias("site"),
        pl.lit(is_meta_site(site)).alias("is_meta"),
        *[pl.col(c) for c in _PAIR_SOURCE_COLUMNS],
    ]


_PAIR_SOURCE_COLUMNS = (
    "question_id", "answer_id", "title", "question_html", "answer_html", "question_score", "answer_score",
    "answer_rank", "is_accepted", "answer_count", "view_count", "tags", "closed", "question_owner_id",
    "question_owner_name", "answer_owner_id", "answer_owner_name", "question_created_at",
)  # fmt: skip


QUESTION_SCHEMA = {
    "question_id": pl.Int64, "title": pl.String, "question_html": pl.String, "question_score": pl.Int64,
    "view_count": pl.Int64, "tags": pl.List(pl.String), "closed": pl.Boolean, "question_owner_id": pl.Int64,
    "question_owner_display_name": pl.String, "question_created_at": TIMESTAMP, "accepted_answer_id": pl.Int64,
    "question_license": pl.String,
}  # fmt: skip
ANSWER_SCHEMA = {
    "answer_id": pl.Int64, "question_id": pl.Int64, "answer_html": pl.String, "answer_score": pl.Int64,
    "answer_owner_id": pl.Int64, "answer_owner_display_name": pl.String, "answer_created_at": TIMESTAMP,
    "answer_license": pl.String,
}  # fmt: skip
USERS_SCHEMA = {"user_id": pl.Int64, "display_name": pl.String}
