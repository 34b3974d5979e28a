"""The Reddit source on Ray: each ``.zst`` dump is a task, an uncompressed NDJSON file is cut into
byte ranges at line starts and each range is a task.

A task runs the local connector's own reader (`curation.sources.reddit._FileReader`: parse with
every field as text, narrow to the wanted subreddits, type) on its share and returns the narrowed
submissions and top-level comments. The driver puts the shares back in input order and joins them
with the local connector's `_pairs`, so the candidates — and every row the recipe keeps — are the
local engine's. Line numbers in errors and skipped-line lists are made file-relative on the driver.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl

from curation.engines.byte_ranges import RANGE_BYTES, line_number_at, read_range, row_ranges
from curation.engines.ray_runtime import require_ray, user_errors
from curation.errors import CurationError
from curation.fingerprint import cache_root

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BOM = b"\xef\xbb\xbf"


def _is_zstd(path: Path) -> bool:
    with open(path, "rb") as handle:
        return path.suffix.lower() in (".zst", ".zstd") or handle.read(4) == _ZSTD_MAGIC


def _range_chunks(path: Path, start: int, end: int, chunk_bytes: int):
    """``LineChunk``s of the byte range [start, end) (which starts and ends at line boundaries)."""
    from curation.sources.zstd_lines import LineChunk

    carry, line = b"", 1  # line numbers relative to the range; the driver adds the range's first line
    for piece in read_range(path, start, end, chunk_bytes):
        data = carry + piece
        if start == 0 and line == 1 and data.startswith(_BOM):
            data = data[len(_BOM) :]
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        body, carry = data[: cut + 1], data[cut + 1 :]
        count = body.count(b"\n")
        yield LineChunk((body,), line, count, start + len(piece))
        line += count
    if carry:
        yield LineChunk((carry + b"\n",), line, 1, end)


def _task(path: str, byte_range: tuple[int, int] | None, wanted, skip_malformed: bool, chunk_bytes: int):
    """Narrow one file or one byte range; returns (submissions, comments, stats, rows parsed) or an error."""
    from curation.sources import reddit
    from curation.sources.zstd_lines import read_line_chunks

    reader = reddit._FileReader(Path(path), wanted, skip_malformed)
    if byte_range is None:
        chunks = read_line_chunks(path, chunk_bytes=chunk_bytes)
    else:
        chunks = _range_chunks(Path(path), byte_range[0], byte_range[1], chunk_bytes)
    submissions, comments = [], []
    try:
        for chunk in chunks:
            reader.stats.lines += chunk.line_count
            reader.stats.decompressed_bytes += chunk.size
            kept_submissions, kept_comments = reader.narrow(reader.read(chunk))
            submissions.append(kept_submissions)
            comments.append(kept_comments)
    except CurationError as error:  # re-raised by the driver with a file-relative position
        text = str(error)
        where = f"{error.path} ({error.position}): " if error.position else f"{error.path}: "
        return {"error": (text[len(where) :] if text.startswith(where) else text, error.position)}
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    frame = lambda parts, schema: pl.concat(parts) if parts else pl.DataFrame(schema=schema)  # noqa: E731
    return {
        "submissions": frame(submissions, reddit._SUBMISSION_CACHE).to_arrow(),
        "comments": frame(comments, reddit._COMMENT_CACHE).to_arrow(),
        "stats": dataclasses.asdict(reader.stats),
        "rows": reader.rows,
    }


def scan_reddit_on_ray(
    paths,
    subreddits=None,
    *,
    skip_malformed: bool = False,
    include_submissions_without_comments: bool = False,
    cache_dir=None,
    range_bytes: int = RANGE_BYTES,
    chunk_bytes: int = 16 * 2**20,
    max_retries: int = 3,
    **_ignored,
):
    """``reddit.scan_with_stats`` with the ingest on Ray; returns ``(candidates LazyFrame, ScanStats)``."""
    from curation.sources import reddit

    ray = require_ray()
    wanted = reddit.normalize_subreddits(subreddits)
    files = reddit.expand_paths(paths)
    jobs: list[tuple[int, Path, tuple[int, int] | None]] = []
    for index, path in enumerate(files):
        if _is_zstd(path):
            jobs.append((index, path, None))
        else:
            jobs += [(index, path, (r.start, r.end)) for r in row_ranges(path, range_bytes, row_start=None)]
    task = ray.remote(max_retries=max_retries)(_task)
    with user_errors():
        outputs = ray.get([task.remote(str(p), r, wanted, skip_malformed, chunk_bytes) for _, p, r in jobs])
    submissions, comments, per_file = [], [], {}
    seen_rows: dict[int, int] = {}
    for (index, path, byte_range), out in zip(jobs, outputs):
        def first_line() -> int:  # counted only when a line number has to be reported
            return 1 if byte_range is None or byte_range[0] == 0 else line_number_at(path, byte_range[0])

        if "error" in out:
            raise _relocated(*out["error"], path, first_line)
        offset = (index << reddit._SEQ_FILE_SHIFT) + seen_rows.get(index, 0)
        seen_rows[index] = seen_rows.get(index, 0) + out["rows"]
        submissions.append(pl.from_arrow(out["submissions"]).with_columns(pl.col("_seq") + offset))
        comments.append(pl.from_arrow(out["comments"]).with_columns(pl.col("_seq") + offset))
        stats = out["stats"]
        if stats["malformed_lines"]:
            base = first_line() - 1
            stats["malformed_lines"] = [n + base for n in stats["malformed_lines"]]
        stats["submissions"], stats["comments"] = len(submissions[-1]), len(comments[-1])
        per_file[index] = _merge(per_file.get(index), stats)
    candidates = reddit._pairs(
        pl.concat(submissions).lazy(),
        pl.concat(comments).lazy(),
        include_submissions_without_comments=include_submissions_without_comments,
    )
    file_stats = [reddit.FileStats(**per_file[i]) for i in sorted(per_file)]
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    return candidates, reddit.ScanStats(file_stats, cache_root=root)


def _merge(total: dict | None, part: dict) -> dict:
    if total is None:
        return part
    for key in ("lines", "decompressed_bytes", "malformed", "submissions", "comments", "nested_comments",
                "unclassified"):  # fmt: skip
        total[key] += part[key]
    from curation.sources.reddit import _MAX_LISTED_MALFORMED

    total["malformed_lines"] = (total["malformed_lines"] + part["malformed_lines"])[:_MAX_LISTED_MALFORMED]
    return total


def _relocated(message: str, position: str | None, path: Path, first_line) -> CurationError:
    """A task's error with its range-relative ``line N`` made file-relative (``first_line()``)."""
    if position and position.startswith("line ") and position[5:].isdigit():
        position = f"line {int(position[5:]) + first_line() - 1}"
    return CurationError(message, path=path, position=position)
