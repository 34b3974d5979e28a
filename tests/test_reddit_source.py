"""The Pushshift Reddit source: real dumps in ../shared/data/reddit, generated fixtures, broken files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
import zstandard

import reddit_fixtures as fx
from curation.columns import CANONICAL, TIMESTAMP, missing_canonical
from curation.errors import CurationError
from curation.sources import reddit
from curation.sources.lines import count_newlines
from curation.sources.zstd_lines import READ_BYTES, read_line_chunks

DELETED = ("[deleted]", "[removed]")


@pytest.fixture(scope="module")
def reddit_data(shared_data: Path) -> Path:
    return shared_data / "reddit"


def plain_rows(path: Path) -> list[dict]:
    """Every row of a dump, read the slow independent way: zstandard + json.loads per line."""
    data = fx.read_zstd(path) if path.suffix == ".zst" else path.read_bytes()
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def collect(frame: pl.LazyFrame) -> pl.DataFrame:
    return frame.collect().sort("id")


# --------------------------------------------------------------------------- real dumps


def test_monthly_comments_dump_counts_top_level_comments(reddit_data: Path, tmp_path: Path):
    path = reddit_data / "RC_2005-12.zst"
    rows = plain_rows(path)
    top_level = {r["id"]: r for r in rows if r["parent_id"] == r["link_id"]}

    frame, stats = reddit.scan_with_stats(path, cache_dir=tmp_path)
    df = collect(frame)

    assert (stats.lines, stats.files[0].comments) == (1075, len(top_level))
    assert stats.files[0].nested_comments == len(rows) - len(top_level)
    assert df.height == len(top_level) and df["id"].n_unique() == df.height
    assert set(df["comment_id"]) == set(top_level)
    assert not df["has_submission"].any() and df["title"].null_count() == df.height
    assert dict(df.schema) == reddit.SCHEMA and not missing_canonical(df.schema)
    sample = df.row(0, named=True)
    original = top_level[sample["comment_id"]]
    assert sample["id"] == f"reddit/t1_{original['id']}"
    assert sample["submission_id"] == original["link_id"][3:]
    assert sample["body"] == original["body"] and sample["comment_score"] == original["score"]
    assert sample["created_at"].timestamp() == original["created_utc"]
    assert (sample["source"], sample["license"]) == ("reddit", reddit.LICENSE)
    built = f"https://www.reddit.com/r/reddit.com/comments/{sample['submission_id']}/_/{sample['comment_id']}/"
    assert sample["url"] == built  # 2005 comments have no permalink
    assert df["prompt"].null_count() == df["response"].null_count() == df.height


def test_monthly_dump_narrows_case_insensitively(reddit_data: Path, tmp_path: Path, monkeypatch):
    path = reddit_data / "RC_2005-12.zst"
    rows = plain_rows(path)
    assert {r["subreddit"] for r in rows} == {"reddit.com"}  # 2005: one subreddit, with a dot
    expected = sum(1 for r in rows if r["parent_id"] == r["link_id"])
    monkeypatch.setenv("CURATION_CACHE_DIR", str(tmp_path / "env"))  # the default cache root
    frame, stats = reddit.scan_with_stats(path, "r/REDDIT.COM")
    assert frame.collect().height == expected and len(list((tmp_path / "env" / "reddit").iterdir())) == 1
    digest = hashlib.blake2b(path.read_bytes(), digest_size=20).hexdigest()
    expected_input = {"name": "RC_2005-12.zst", "bytes": path.stat().st_size, "fingerprint": f"blake2b:{digest}"}
    assert stats.inputs() == [expected_input]
    assert reddit.scan(path, "redditXcom", cache_dir=tmp_path).collect().height == 0  # the dot is literal
    assert reddit.scan(path, ["AskReddit"], cache_dir=tmp_path).collect().height == 0


def test_askmen_submissions_only_with_the_option(reddit_data: Path, tmp_path: Path):
    path = reddit_data / "AskMen_submissions.zst"
    rows = plain_rows(path)
    assert len(rows) == 13_050

    alone, stats = reddit.scan_with_stats(path, "askmen", include_submissions_without_comments=True, cache_dir=tmp_path)
    df = collect(alone)
    assert stats.files[0].submissions == 13_050 and df.height == 13_050
    assert df["id"].str.starts_with("reddit/t3_").all() and df["id"].n_unique() == 13_050
    assert df["comment_id"].null_count() == df["body"].null_count() == df["comment_rank"].null_count() == 13_050
    assert df["selftext_deleted"].sum() == sum(r["selftext"].strip() in DELETED for r in rows)
    assert df["over_18"].sum() == sum(r["over_18"] for r in rows)
    assert set(df["group"]) == {"AskMen"}
    by_id = {r["id"]: r for r in rows}
    for row in df.head(50).iter_rows(named=True):
        original = by_id[row["submission_id"]]
        assert row["title"] == original["title"] and row["submission_score"] == original["score"]
        assert row["url"] == "https://www.reddit.com" + original["permalink"]
        assert row["created_at"] == row["submission_created_at"]
        assert row["submission_created_at"].timestamp() == original["created_utc"]

    assert reddit.scan(path, "AskMen", cache_dir=tmp_path).collect().height == 0  # pairs only: none
    # Another subreddit: the byte-level prefilter keeps nothing, yet every line was read.
    other, stats = reddit.scan_with_stats(
        path, "AskReddit", include_submissions_without_comments=True, cache_dir=tmp_path
    )
    assert other.collect().height == 0 and stats.lines == 13_050


def test_askreddit_threads_join_on_real_ids(reddit_data: Path, tmp_path: Path):
    folder = reddit_data / "askreddit_2016-05_threads"
    submissions = {r["id"]: r for r in plain_rows(folder / "submissions.ndjson")}
    comments = plain_rows(folder / "comments.ndjson")
    top_level = [c for c in comments if c["parent_id"] == c["link_id"]]

    frame, stats = reddit.scan_with_stats(folder, "AskReddit", cache_dir=tmp_path)
    df = collect(frame)

    assert [Path(f.path).name for f in stats.files] == ["comments.ndjson", "submissions.ndjson"]
    assert df.height == len(top_level) == 5032
    assert df["has_submission"].all()
    assert set(df["submission_id"]) == {c["link_id"][3:] for c in top_level} <= set(submissions)
    for row in df.sample(200, seed=1).iter_rows(named=True):
        post = submissions[row["submission_id"]]
        assert row["title"] == post["title"] and row["num_comments"] == post["num_comments"]
        assert row["submission_created_at"].timestamp() == post["created_utc"]  # float created_utc
    flags = df.select(
        deleted=pl.col("body_deleted").sum(),
        distinguished=pl.col("is_distinguished").sum(),
        stickied=pl.col("is_stickied").sum(),
        automoderator=pl.col("is_automoderator").sum(),
    ).row(0, named=True)
    assert flags == {
        "deleted": sum(c["body"].strip() in DELETED for c in top_level),
        "distinguished": sum(bool(c["distinguished"]) for c in top_level),
        "stickied": sum(bool(c["stickied"]) for c in top_level),
        "automoderator": sum(c["author"] == "AutoModerator" for c in top_level),
    }


def _top_by_plain_python(comments: list[dict], keep=lambda c: True) -> dict[str, str]:
    """Per thread: the top-level comment with the highest score, then the oldest, then smallest id."""
    best: dict[str, tuple] = {}
    for c in comments:
        if c["parent_id"] != c["link_id"] or not keep(c):
            continue
        key = (-c["score"], c["created_utc"], c["id"])
        thread = c["link_id"][3:]
        if thread not in best or key < best[thread]:
            best[thread] = key
    return {thread: key[2] for thread, key in best.items()}


def test_top_comment_per_thread_matches_plain_python(reddit_data: Path, tmp_path: Path):
    folder = reddit_data / "askreddit_2016-05_threads"
    comments = plain_rows(folder / "comments.ndjson")
    df = reddit.scan(folder, "askreddit", cache_dir=tmp_path).collect()

    top = df.filter(pl.col("comment_rank") == 1)
    assert dict(zip(top["submission_id"], top["comment_id"])) == _top_by_plain_python(comments)
    assert top.height == df["submission_id"].n_unique() == 150

    # What a recipe does: drop flagged comments, then take the best remaining one.
    clean = df.filter(
        ~pl.col("body_deleted") & ~pl.col("is_automoderator") & ~pl.col("is_stickied") & ~pl.col("is_distinguished")
    )
    chosen = clean.sort("comment_rank").group_by("submission_id", maintain_order=True).first()

    def keep(c: dict) -> bool:
        return (
            c["body"].strip() not in DELETED
            and c["author"] != "AutoModerator"
            and not c["stickied"]
            and not c["distinguished"]
        )

    assert dict(zip(chosen["submission_id"], chosen["comment_id"])) == _top_by_plain_python(comments, keep)
    # rank is a dense 1..n per thread
    sizes = df.group_by("submission_id").agg(n=pl.len(), ranks=pl.col("comment_rank").sort())
    assert all(list(r) == list(range(1, n + 1)) for n, r in zip(sizes["n"], sizes["ranks"]))


# --------------------------------------------------------------------------- broken real files


def test_truncated_zstd_names_file_and_offset(reddit_data: Path, tmp_path: Path):
    data = (reddit_data / "RC_2005-12.zst").read_bytes()
    for cut in (len(data) // 2, len(data) - 1):
        broken = tmp_path / f"cut{cut}" / "RC_2005-12.zst"
        broken.parent.mkdir()
        broken.write_bytes(data[:cut])
        with pytest.raises(CurationError) as caught:
            reddit.scan(broken, cache_dir=tmp_path / "cache")
        message = str(caught.value)
        assert str(broken) in message and "truncated zstd stream" in message
        assert f"compressed byte offset {cut}" in message
    assert not list((tmp_path / "cache" / "reddit").iterdir())  # nothing cached, no partial output


def test_corrupt_zstd_names_file_and_offset(reddit_data: Path, tmp_path: Path):
    data = bytearray((reddit_data / "AskMen_submissions.zst").read_bytes())
    flip = len(data) // 2
    for i in range(flip, flip + 16):
        data[i] ^= 0xFF
    broken = tmp_path / "AskMen_submissions.zst"
    broken.write_bytes(bytes(data))
    with pytest.raises(CurationError, match="corrupt zstd data") as caught:
        reddit.scan(broken, cache_dir=tmp_path / "cache")
    assert caught.value.path == str(broken)
    # The offset is where the failing read began: the damage is in that read, or zstd needed the
    # rest of its block (<= 128 KiB compressed) from the next one.
    offset = int(caught.value.position.split()[-1])
    assert flip - READ_BYTES <= offset <= flip + 2**17
    assert not list((tmp_path / "cache" / "reddit").iterdir())
    with pytest.raises(CurationError) as caught:  # finer reads, finer offsets
        for _ in read_line_chunks(broken, read_bytes=4096, prefetch=False):
            pass
    assert flip - 4096 <= int(caught.value.position.split()[-1]) <= flip + 2**17


def test_not_zstd_at_all(tmp_path: Path):
    fake = tmp_path / "RC_2020-01.zst"
    fake.write_bytes(b'{"id": "x"}\n')
    with pytest.raises(CurationError, match="not a zstd stream"):
        reddit.scan(fake, cache_dir=tmp_path / "cache")
    empty = tmp_path / "RS_2020-01.zst"
    empty.write_bytes(b"")
    with pytest.raises(CurationError, match="empty file"):
        reddit.scan(empty, cache_dir=tmp_path / "cache")


def _break_line(rows: bytes, number: int, *, keep: float = 0.5) -> bytes:
    """The same NDJSON with line ``number`` (1-based) cut short: a truncated JSON object."""
    lines = rows.split(b"\n")
    line = lines[number - 1]
    lines[number - 1] = line[: min(int(len(line) * keep), len(line) - 1)]
    return b"\n".join(lines)


def test_malformed_line_in_zstd_gives_its_line_number(reddit_data: Path, tmp_path: Path):
    original = reddit_data / "RC_2005-12.zst"
    rows = plain_rows(original)
    broken = fx.write_zstd(tmp_path / "RC_2005-12.zst", _break_line(fx.read_zstd(original), 500))
    with pytest.raises(CurationError) as caught:
        reddit.scan(broken, cache_dir=tmp_path / "cache")
    assert caught.value.position == "line 500" and "malformed JSON line" in str(caught.value)
    assert not list((tmp_path / "cache" / "reddit").iterdir())

    frame, stats = reddit.scan_with_stats(broken, skip_malformed=True, cache_dir=tmp_path / "cache")
    expected = {r["id"] for i, r in enumerate(rows, 1) if r["parent_id"] == r["link_id"] and i != 500}
    assert set(frame.collect()["comment_id"]) == expected
    assert (stats.malformed, stats.files[0].malformed_lines, stats.lines) == (1, [500], 1075)


def test_malformed_lines_counted_across_small_chunks(reddit_data: Path, tmp_path: Path):
    """Line numbers stay right across chunk borders in plain NDJSON, skipped lines are all counted."""
    source = reddit_data / "askreddit_2016-05_threads" / "comments.ndjson"
    bad = (1, 2, 4000, 11851)
    data = source.read_bytes()
    for number in bad:
        data = _break_line(data, number)
    broken = tmp_path / "comments.ndjson"
    broken.write_bytes(data)
    with pytest.raises(CurationError) as caught:
        reddit.scan(broken, cache_dir=tmp_path / "a", chunk_bytes=64 * 1024)
    assert caught.value.position == "line 1" and str(broken) in str(caught.value)
    _, stats = reddit.scan_with_stats(broken, skip_malformed=True, cache_dir=tmp_path / "b", chunk_bytes=64 * 1024)
    assert stats.files[0].malformed_lines == list(bad) and stats.malformed == 4
    assert stats.files[0].comments == sum(
        1 for i, c in enumerate(plain_rows(source), 1) if c["parent_id"] == c["link_id"] and i not in bad
    )


# --------------------------------------------------------------------------- generated fixtures


@pytest.fixture()
def monthly(tmp_path: Path) -> dict:
    return fx.monthly_dump(tmp_path)


def test_generated_monthly_dump_pairs_drift_and_flags(monthly: dict, tmp_path: Path):
    paths = [monthly["submissions_path"], monthly["comments_path"]]
    df = collect(reddit.scan(paths, ["WritingPrompts"], cache_dir=tmp_path / "cache"))
    assert set(df["comment_id"]) == monthly["wp_pair_ids"]
    assert dict(df.schema) == reddit.SCHEMA
    rows = {r["comment_id"]: r for r in df.iter_rows(named=True)}

    assert {c: rows[c]["comment_rank"] for c in monthly["a1_ranks"]} == monthly["a1_ranks"]
    assert "r1" not in rows  # a reply is no candidate
    # flags
    assert rows["k3"]["body_deleted"] and rows["k5"]["body_deleted"] and not rows["k1"]["body_deleted"]
    assert rows["k4"]["is_automoderator"] and rows["k4"]["is_stickied"] and rows["k4"]["is_distinguished"]
    assert rows["k4"]["distinguished"] == "moderator" and rows["k1"]["distinguished"] is None
    assert not any(rows["k1"][f] for f in ("is_automoderator", "is_stickied", "is_distinguished"))
    # drift: string and float numbers, missing score / stickied / distinguished / permalink
    assert rows["k5"]["comment_score"] is None
    assert (rows["m1"]["comment_score"], rows["m2"]["comment_score"]) == (7, 3)
    assert rows["m1"]["created_at"].timestamp() == 1420071000 and rows["m2"]["created_at"].timestamp() == 1420072000
    assert rows["m1"]["stickied"] is None and rows["m1"]["is_stickied"] is False
    assert rows["m1"]["url"] == "https://www.reddit.com/r/writingprompts/comments/a2/_/m1/"
    assert rows["k1"]["url"] == "https://www.reddit.com/r/WritingPrompts/comments/a1/a_title/k1/"
    assert (rows["m1"]["submission_score"], rows["m1"]["group"]) == (42, "writingprompts")
    assert rows["m1"]["submission_created_at"].timestamp() == 1420070500
    # a comment whose submission is not in the inputs still is a candidate, marked as such
    assert not rows["z1"]["has_submission"] and rows["z1"]["title"] is None and rows["z1"]["group"] == "WritingPrompts"
    assert all(rows[c]["has_submission"] for c in monthly["wp_pair_ids"] - {"z1"})
    assert df["created_at"].dtype == TIMESTAMP


def test_submission_only_rows_by_option(monthly: dict, tmp_path: Path):
    paths = [monthly["submissions_path"], monthly["comments_path"]]
    df = collect(reddit.scan(paths, "writingprompts", include_submissions_without_comments=True, cache_dir=tmp_path))
    alone = df.filter(pl.col("comment_id").is_null()).row(0, named=True)
    assert df.filter(pl.col("comment_id").is_null()).height == 1
    assert alone["id"] == "reddit/t3_a3" and alone["selftext_deleted"] and alone["submission_score"] is None
    assert alone["url"] == "https://www.reddit.com/r/WritingPrompts/comments/a3/a_title/"
    assert not alone["body_deleted"] and alone["comment_rank"] is None
    other = collect(
        reddit.scan(paths, ["pics", "AskReddit"], include_submissions_without_comments=True, cache_dir=tmp_path)
    )
    assert set(other["id"]) == {"reddit/t1_n1", "reddit/t1_p1"}
    assert other.filter(pl.col("id") == "reddit/t1_p1")["url"].item() == (
        "https://www.reddit.com/r/pics/comments/c1/a_title/p1/"
    )
    assert other.filter(pl.col("id") == "reddit/t1_n1")["over_18"].item() is True  # 1 as a boolean


def test_everything_without_a_subreddit_filter(monthly: dict, tmp_path: Path):
    paths = [monthly["submissions_path"], monthly["comments_path"]]
    df = reddit.scan(paths, cache_dir=tmp_path).collect()
    top_level = [c for c in monthly["comments"] if c["parent_id"] == c["link_id"]]
    assert df.height == len(top_level)


def test_chunk_size_and_frames_do_not_change_the_result(monthly: dict, tmp_path: Path):
    (tmp_path / "multi").mkdir()
    multi = fx.write_zstd(tmp_path / "multi" / "RC_2015-01.zst", fx.read_zstd(monthly["comments_path"]), frames=4)
    rs = monthly["submissions_path"]
    reference = collect(reddit.scan([rs, monthly["comments_path"]], "WritingPrompts", cache_dir=tmp_path / "a"))
    for chunk_bytes in (1, 300, 2**20):
        cache = tmp_path / f"b{chunk_bytes}"
        other = collect(reddit.scan([rs, multi], "WritingPrompts", cache_dir=cache, chunk_bytes=chunk_bytes))
        assert other.equals(reference)


def test_malformed_wanted_line_found_through_the_prefilter(monthly: dict, tmp_path: Path):
    """In a monthly dump only wanted lines are parsed; a broken one still gets its file line number."""
    data = fx.read_zstd(monthly["comments_path"])
    number = 1 + [c["id"] for c in monthly["comments"]].index("z1")  # the last line, after unwanted ones
    assert number == 12
    broken = _break_line(data, number, keep=1.0)  # no closing brace
    broken = fx.write_zstd(tmp_path / "RC_2015-01.zst", broken, frames=3)  # frames: several chunks
    for chunk_bytes in (1, 2**20):
        with pytest.raises(CurationError) as caught:
            reddit.scan(broken, "WritingPrompts", cache_dir=tmp_path / "cache", chunk_bytes=chunk_bytes)
        assert caught.value.position == f"line {number}"
    _, stats = reddit.scan_with_stats(broken, "WritingPrompts", skip_malformed=True, cache_dir=tmp_path / "cache")
    assert stats.files[0].malformed_lines == [number] and stats.files[0].comments == len(monthly["wp_pair_ids"]) - 1


def test_kind_from_fields_in_a_mixed_file(monthly: dict, tmp_path: Path):
    mixed = tmp_path / "dump.jsonl"
    rows = monthly["submissions"] + monthly["comments"]
    mixed.write_bytes(fx.lines(rows[::-1]) + b"\n\n")  # order reversed, blank lines at the end
    df = collect(reddit.scan(mixed, "WritingPrompts", cache_dir=tmp_path / "cache"))
    paths = [monthly["submissions_path"], monthly["comments_path"]]
    reference = collect(reddit.scan(paths, "WritingPrompts", cache_dir=tmp_path / "ref"))
    assert df.equals(reference)


def test_duplicates_keep_the_first_input(monthly: dict, tmp_path: Path):
    rs, rc = monthly["submissions_path"], monthly["comments_path"]
    changed = [dict(c, body="Edited later.") if c["id"] == "k1" else c for c in monthly["comments"]]
    later = fx.write_zstd(tmp_path / "RC_2015-02.zst", fx.lines(changed))
    df = collect(reddit.scan([rs, rc, later, rs], "WritingPrompts", cache_dir=tmp_path / "cache"))
    assert df["id"].n_unique() == df.height == len(monthly["wp_pair_ids"])
    assert df.filter(pl.col("comment_id") == "k1")["body"].item() == "The best story."
    df = collect(reddit.scan([later, rc, rs], "WritingPrompts", cache_dir=tmp_path / "cache"))
    assert df.filter(pl.col("comment_id") == "k1")["body"].item() == "Edited later."


def test_cache_is_reused_and_invalidated(monthly: dict, tmp_path: Path):
    paths = [monthly["submissions_path"], monthly["comments_path"]]
    first, stats = reddit.scan_with_stats(paths, "WritingPrompts", cache_dir=tmp_path / "cache")
    assert not any(f.from_cache for f in stats.files)
    again, cached = reddit.scan_with_stats(paths, "WritingPrompts", cache_dir=tmp_path / "cache")
    assert all(f.from_cache for f in cached.files)
    assert collect(again).equals(collect(first))
    # the manifest's view is the same either way, and holds no absolute path
    assert cached.to_dict() == stats.to_dict() and str(tmp_path) not in json.dumps(stats.to_dict())
    assert [f["name"] for f in stats.to_dict()["files"]] == ["RS_2015-01.zst", "RC_2015-01.zst"]
    assert stats.to_dict()["files"][1]["comments"] == len(monthly["wp_pair_ids"])
    fx.write_zstd(monthly["comments_path"], fx.lines(monthly["comments"][:3]))  # the dump changes
    changed, stats = reddit.scan_with_stats(paths, "WritingPrompts", cache_dir=tmp_path / "cache")
    assert [f.from_cache for f in stats.files] == [True, False]
    assert set(changed.collect()["comment_id"]) == {"k1", "k2", "k3"}


def test_missing_paths_and_bad_names(tmp_path: Path):
    with pytest.raises(CurationError, match="no such file or folder"):
        reddit.scan(tmp_path / "RC_1999-01.zst")
    with pytest.raises(CurationError, match="holds no"):
        reddit.scan(tmp_path)
    with pytest.raises(CurationError, match="not a subreddit name"):
        reddit.scan(tmp_path, "bad name!")
    with pytest.raises(CurationError, match="no input files"):
        reddit.scan([])


def test_file_kinds_from_names():
    assert reddit.file_kind("RS_2019-10.zst") == ("submissions", None)
    assert reddit.file_kind("/x/RC_2005-12.zst") == ("comments", None)
    assert reddit.file_kind("Ask_Men_submissions.zst") == ("submissions", "Ask_Men")
    assert reddit.file_kind("WritingPrompts_comments.zst") == ("comments", "WritingPrompts")
    assert reddit.file_kind("comments.ndjson") == ("comments", None)
    assert reddit.file_kind("dump.jsonl") == (None, None)


def test_line_chunks_cover_every_line_once(tmp_path: Path):
    rows = [fx.comment(f"c{i}", "a1", body="x" * (i % 97)) for i in range(2000)]
    data = fx.lines(rows)[:-1]  # the last line has no newline
    path = fx.write_zstd(tmp_path / "RC_2015-01.zst", data, frames=3)
    for chunk_bytes, prefetch in ((1, True), (5000, False), (2**20, True)):
        chunks = list(read_line_chunks(path, chunk_bytes=chunk_bytes, prefetch=prefetch, read_bytes=777))
        assert b"".join(c.data for c in chunks) == data + b"\n"
        assert [c.first_line for c in chunks] == [1 + sum(c.line_count for c in chunks[:i]) for i in range(len(chunks))]
        assert all(c.data.endswith(b"\n") and c.data.count(b"\n") == c.line_count for c in chunks)
        assert chunks[-1].file_offset == path.stat().st_size


def test_count_newlines_across_its_blocks():
    """The count is the same for every kind of buffer, across the 4 MiB blocks it compares at a time."""
    data = fx.lines([fx.comment(f"c{i}", "a1", body="y" * (i % 701)) for i in range(12_000)])
    assert len(data) > 2 * 4 * 2**20  # three blocks at least
    for buffer in (data, bytearray(data), memoryview(data)[1:], b"", b"no line end"):
        assert count_newlines(buffer) == bytes(buffer).count(b"\n")


def test_every_cut_of_a_zstd_stream_is_refused_unless_at_a_frame_end(tmp_path: Path):
    parts = [fx.lines(fx.comment(f"c{i}", "a1") for i in range(k, k + 4)) for k in (0, 4, 8)]
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"xyz"
    compressor = zstandard.ZstdCompressor(write_checksum=True)
    frames = [compressor.compress(parts[0]), skippable, compressor.compress(parts[1]), compressor.compress(parts[2])]
    whole = b"".join(frames)
    ends = {sum(map(len, frames[: k + 1])): b"".join(parts[: k if k else 1]) for k in range(len(frames))}
    ends[len(frames[0]) + len(skippable)] = parts[0]
    path = tmp_path / "RC_2015-01.zst"
    for cut in range(4, len(whole) + 1):  # (fewer than 4 bytes: "not a zstd stream")
        path.write_bytes(whole[:cut])
        if cut in ends:
            assert b"".join(c.data for c in read_line_chunks(path, prefetch=False)) == ends[cut]
            continue
        with pytest.raises(CurationError, match="truncated zstd stream|corrupt zstd data") as caught:
            list(read_line_chunks(path, prefetch=False, read_bytes=64))
        assert "compressed byte offset" in caught.value.position
    path.write_bytes(whole + b"\0" * 4)  # not a frame after the last one
    with pytest.raises(CurationError, match="corrupt zstd data"):
        list(read_line_chunks(path, prefetch=False))


def test_plain_file_with_bom_and_crlf(monthly: dict, tmp_path: Path):
    path = tmp_path / "RC_2015-01.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + fx.lines(monthly["comments"]).replace(b"\n", b"\r\n"))
    df = reddit.scan(path, "WritingPrompts", cache_dir=tmp_path / "cache").collect()
    assert set(df["comment_id"]) == monthly["wp_pair_ids"]


def test_stopping_early_releases_the_reader(tmp_path: Path):
    path = fx.write_zstd(tmp_path / "RC_2015-01.zst", fx.lines(fx.comment(f"c{i}", "a1") for i in range(5000)))
    chunks = read_line_chunks(path, chunk_bytes=1000)
    first = next(chunks)
    chunks.close()  # the background thread must stop, not hang
    assert first.first_line == 1


def test_schema_is_canonical_first():
    assert list(reddit.SCHEMA)[: len(CANONICAL)] == list(CANONICAL)
    assert reddit.SCHEMA["created_at"] == TIMESTAMP


def test_a_failing_cache_write_is_raised_and_leaves_no_cache(monthly: dict, tmp_path: Path, monkeypatch):
    """The cache is written on a thread of its own: its error still reaches the caller, nothing is kept."""

    def full_disk(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reddit._PartWriter, "_flush", full_disk)
    with pytest.raises(OSError, match="No space left"):
        reddit.scan(monthly["comments_path"], "WritingPrompts", cache_dir=tmp_path / "cache", chunk_bytes=300)
    assert not list((tmp_path / "cache" / "reddit").iterdir())
