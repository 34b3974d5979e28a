"""`python -m curation build wikihow` on the real pages: category first, then an article in it."""

from __future__ import annotations

import subprocess
import sys

import datasets
import polars as pl

from curation.store import read_manifest


def _build(shared_data, out, *extra):
    run = subprocess.run([sys.executable, "-m", "curation", "build", "wikihow", "--dump", str(shared_data / "wikihow"),
                          "--out", str(out), "--quiet", *extra], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return out


def test_category_first_sampling_and_markdown_answers(shared_data, tmp_path):
    _build(shared_data, tmp_path / "a", "--set", "size=3")
    version = tmp_path / "a" / "wikihow-lima-wikihow" / "v1"
    table = datasets.load_dataset(str(version), split="train", cache_dir=str(tmp_path / "hf")).to_polars()
    # 7 real pages: 5 Food and Entertaining, 1 Health, 1 Sports and Fitness. Category first, uniformly:
    # one article from each category, not three food articles as proportional sampling would give.
    assert sorted(table["group"]) == ["Food and Entertaining", "Health", "Sports and Fitness"]
    for row in table.iter_rows(named=True):
        assert row["prompt"].startswith("How to ") and row["prompt"].endswith("?")
        assert "<" not in row["response"] and "wikiHow" not in row["response"].split("\n")[0]
        assert "\n1. " in row["response"]  # numbered steps
        assert row["license"] == "CC BY-NC-SA 3.0" and row["url"].startswith("https://www.wikihow.com/")
    again = _build(shared_data, tmp_path / "b", "--set", "size=3")
    assert (again / "wikihow-lima-wikihow" / "v1" / "data" / "train-00000-of-00001.parquet").read_bytes() == (
        version / "data" / "train-00000-of-00001.parquet").read_bytes()  # fmt: skip
    manifest = read_manifest(version)
    assert manifest["funnel"]["candidates"] == 7 and manifest["splits"] == {"train": 3}


def test_sections_option_changes_the_response(shared_data, tmp_path):
    _build(shared_data, tmp_path / "all", "--set", 'sections=["ingredients","tips","warnings","things_youll_need","references"]')
    _build(shared_data, tmp_path / "few", "--set", "sections=[]")
    full = pl.read_parquet(tmp_path / "all" / "wikihow-lima-wikihow" / "v1" / "data" / "train-00000-of-00001.parquet")
    bare = pl.read_parquet(tmp_path / "few" / "wikihow-lima-wikihow" / "v1" / "data" / "train-00000-of-00001.parquet")
    assert full["id"].to_list() == bare["id"].to_list()
    assert (full["response"].str.len_chars() > bare["response"].str.len_chars()).any()
    assert not bare["response"].str.contains("(?i)#+ (tips|warnings)").any()
