"""`python -m curation build reddit`: the WritingPrompts recipe on the sample dump, AskReddit test prompts on real threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import datasets
import zstandard

from curation.samples.reddit import write_sample_dump
from curation.store import read_manifest


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "curation", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})  # fmt: skip


def _rows(path):
    text = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(open(path, "rb")).read().decode()
    return [json.loads(line) for line in text.splitlines()]


def test_writingprompts_keeps_the_top_eligible_story_per_tagged_prompt(tmp_path):
    dump = write_sample_dump(tmp_path / "dump")
    run = _cli("build", "reddit", "--dump", str(dump), "--out", str(tmp_path / "out"), "--quiet",
               "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    version = tmp_path / "out" / "reddit-lima-writingprompts" / "v1"
    table = datasets.load_dataset(str(version), split="train", cache_dir=str(tmp_path / "hf")).to_polars()
    assert table.height > 10
    submissions = {r["id"]: r for r in _rows(dump / "WritingPrompts_submissions.zst")}
    comments = _rows(dump / "WritingPrompts_comments.zst")
    for row in table.iter_rows(named=True):
        sub = submissions[row["submission_id"]]
        assert sub["title"].lstrip().startswith(("[WP]", "[ WP ]")) and sub["score"] >= 100 and not sub["over_18"]
        assert "[WP]" not in row["prompt"] and "&amp;" not in row["prompt"] and "& keeps" in row["prompt"]
        assert 800 <= len(row["response"]) <= 4096
        # independently: the best-scoring eligible top-level comment of this submission
        eligible = [c for c in comments if c["parent_id"] == f"t3_{sub['id']}" and c["author"] != "AutoModerator"
                    and not c["stickied"] and not c["distinguished"] and c["body"] not in ("[deleted]", "[removed]")
                    and c.get("score", 0) >= 20 and 800 <= len(c["body"].replace("&#39;", "'")) <= 4096
                    and not c["body"].startswith("Le gardien")]  # fmt: skip
        best = max(eligible, key=lambda c: (c.get("score", 0), -int(c["created_utc"])))
        assert row["comment_id"] == best["id"] or row["comment_score"] == best["score"]
        assert row["url"].startswith("https://www.reddit.com/r/WritingPrompts/comments/")
    funnel = read_manifest(version)["funnel"]
    dropped = {r for s in funnel["steps"] for r in s["dropped"]}
    assert {"automoderator", "deleted_or_removed", "title_not_tagged", "submission_score_below_100",
            "too_short", "too_long", "language_not_en", "not_top_comment", "duplicate_text", "nsfw"} <= dropped  # fmt: skip


def test_askreddit_test_split_holds_titles_only(shared_data, tmp_path):
    threads = shared_data / "reddit" / "askreddit_2016-05_threads"
    run = _cli("build", "reddit", "--recipe", "lima-askreddit-test", "--dump", str(threads), "--out",
               str(tmp_path / "out"), "--quiet", "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    version = tmp_path / "out" / "reddit-lima-askreddit-test" / "v1"
    assert read_manifest(version)["splits"].keys() == {"test"}
    table = datasets.load_dataset(str(version), split="test", cache_dir=str(tmp_path / "hf")).to_polars()
    raw = {json.loads(l)["id"]: json.loads(l) for l in (threads / "submissions.ndjson").read_text().splitlines()}
    assert 0 < table.height <= 70
    assert table["id"].str.starts_with("reddit/t3_").all()
    assert table["response"].is_null().all()
    for row in table.iter_rows(named=True):
        sub = raw[row["submission_id"]]
        assert row["prompt"] == sub["title"].strip() and not sub.get("selftext") and sub["score"] >= 100
        assert not sub.get("over_18")
        assert row["messages"] == [{"role": "user", "content": row["prompt"]}]
    scores = table.sort("submission_score", descending=True)["submission_score"].to_list()
    eligible = sorted((s["score"] for s in raw.values() if s["score"] >= 100 and not s.get("selftext")
                       and not s.get("over_18")), reverse=True)  # fmt: skip
    assert scores[0] == eligible[0]
