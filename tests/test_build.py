"""The main job end to end: `python -m curation build stackexchange` on the real dumps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import polars as pl
import pytest
from huggingface_hub import DatasetCard

from curation.build import build
from curation.errors import CurationError
from curation.recipes.stackexchange import LIMA, UNFILTERED, load
from curation.store import read_manifest, verify


def _cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "curation", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})}, cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def dumps(shared_data) -> list[str]:
    se = shared_data / "stackexchange"
    return [str(se / "beer.stackexchange.com.7z"), str(se / "cardano.stackexchange.com"),
            str(se / "coffee.stackexchange.com")]  # fmt: skip


@pytest.fixture(scope="module")
def built(dumps, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("build")
    args = ["build", "stackexchange", "--out", str(root / "out"), "--cache-dir", str(root / "cache"), "--keep-rejects"]
    for dump in dumps:
        args += ["--dump", dump]
    run = _cli(*args, env={"CURATION_WORKERS": "2"})  # a helper process converts part of the rows
    assert run.returncode == 0, run.stderr
    assert "kept:" in run.stdout and "wrote " in run.stdout
    return root / "out" / "stackexchange-lima" / "v1"


def test_cli_build_writes_a_hub_shaped_version_that_datasets_loads(built):
    assert (built / "README.md").is_file() and (built / "curation.json").is_file()
    assert (built / "data" / "train-00000-of-00001.parquet").is_file()
    manifest = verify(built)
    loaded = datasets.load_dataset(str(built), split="train")
    table = pl.read_parquet(built / "data" / "train-00000-of-00001.parquet")
    assert loaded.num_rows == table.height == manifest["splits"]["train"] == manifest["funnel"]["kept"]
    assert table.height > 0
    for column in ["id", "source", "group", "prompt", "response", "license", "url", "created_at", "messages"]:
        assert column in loaded.column_names
    first = loaded[0]
    assert first["messages"] == [{"role": "user", "content": first["prompt"]},
                                 {"role": "assistant", "content": first["response"]}]  # fmt: skip
    assert table["id"].is_sorted() and table["id"].n_unique() == table.height


def test_kept_rows_obey_every_lima_rule(built):
    table = pl.read_parquet(built / "data" / "train-00000-of-00001.parquet")
    assert (table["answer_score"] >= 10).all()
    assert (table["answer_rank"] == 1).all()
    lengths = table["response"].str.len_chars()
    assert ((lengths >= 1200) & (lengths <= 4096)).all()
    prose = table["response"].str.replace_all(r"(?s)```.*?```", "").str.replace_all(r"`[^`\n]*`", "")
    assert not prose.str.contains(r"\bI\b|(?i:\b(my|me|mine|myself)\b)").any()
    assert not prose.str.contains(r"(?i)https?://|!\[").any()
    assert not table["response"].str.contains("<p>|<a href|<img").any()
    assert set(table["license"]) <= {"CC BY-SA 3.0", "CC BY-SA 4.0"}
    assert set(table["prompt_from"]) <= {"title", "body"}


def test_funnel_adds_up(built):
    funnel = read_manifest(built)["funnel"]
    previous = funnel["candidates"]
    for step in funnel["steps"]:
        assert step["rows_in"] == previous
        assert step["rows_in"] - step["rows_out"] == sum(step["dropped"].values())
        previous = step["rows_out"]
    assert previous == funnel["kept"]
    assert funnel["alone"]["answer_score_below_10"] >= funnel["steps"][2]["dropped"].get("answer_score_below_10", 0)
    rejects = pl.read_parquet(built / "rejects" / "rejected-00000-of-00001.parquet")
    assert rejects.height == funnel["candidates"] - funnel["kept"]
    by_reason = dict(rejects.group_by("reason").len().iter_rows())
    expected = {}
    for step in funnel["steps"]:
        for reason, n in step["dropped"].items():
            expected[reason] = expected.get(reason, 0) + n
    assert by_reason == expected
    (walk,) = funnel["sampled_while_filtering"]  # the costly checks ran on the rows the sampler reached only
    names = [step["name"] for step in funnel["steps"]]
    assert names.index("exact_dedup") < names.index("stratified_sample") < names.index("html_to_markdown_answer_html")
    converted = funnel["steps"][names.index("html_to_markdown_answer_html")]["rows_in"]
    assert converted == walk["reached"] <= walk["checked"]["length_response"] <= walk["eligible"]
    skipped = walk["skipped"]["html_to_markdown_answer_html"]  # too short already by their HTML's bound
    assert walk["checked"]["html_to_markdown_answer_html"] + skipped == walk["checked"]["length_response"]


def test_card_yaml_and_body(built):
    card = DatasetCard.load(built / "README.md")
    meta = card.data.to_dict()
    assert meta["license"] in ("cc-by-sa-4.0", "cc-by-sa-3.0") or set(meta["license"]) <= {"cc-by-sa-4.0", "cc-by-sa-3.0"}
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["language"] == ["en"]
    assert meta["pretty_name"]
    assert meta["configs"][0]["data_files"][0]["split"] == "train"
    assert "source_datasets" in meta
    text = (built / "README.md").read_text()
    manifest = read_manifest(built)
    assert manifest["content_hash"] in text and manifest["recipe_hash"] in text
    for step in manifest["funnel"]["steps"]:
        assert step["name"].replace("_", "\\_") in text or step["name"] in text
    table = pl.read_parquet(built / "data" / "train-00000-of-00001.parquet")
    for url in table["url"].head(10):
        assert url in text
    assert "2305.11206" in text  # the LIMA citation
    assert "ran only on the rows the sampler reached" in text  # lima samples while filtering
    for png in (built / "figures").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((built / "figures").glob("*.png"))


def test_building_twice_is_byte_identical_on_any_thread_or_process_count(built, dumps, tmp_path):
    args = ["build", "stackexchange", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"),
            "--quiet", "--keep-rejects"]  # fmt: skip
    for dump in dumps:
        args += ["--dump", dump]
    run = _cli(*args, env={"POLARS_MAX_THREADS": "1", "CURATION_WORKERS": "1"})  # one thread, one process
    assert run.returncode == 0, run.stderr
    again = tmp_path / "out" / "stackexchange-lima" / "v1"
    for relative in ["data/train-00000-of-00001.parquet", "curation.json", "README.md",
                     "rejects/rejected-00000-of-00001.parquet"]:  # fmt: skip
        assert (again / relative).read_bytes() == (built / relative).read_bytes(), relative
    for png in (built / "figures").glob("*.png"):
        assert (again / "figures" / png.name).read_bytes() == png.read_bytes()
    assert read_manifest(again)["content_hash"] == read_manifest(built)["content_hash"]


def test_existing_version_is_refused_and_next_version_is_written(built, dumps, tmp_path):
    out = built.parent.parent
    run = _cli("build", "stackexchange", "--dump", dumps[2], "--out", str(out), "--version", "v1", "--quiet",
               "--cache-dir", str(tmp_path))  # fmt: skip
    assert run.returncode == 2 and "exists already" in run.stderr and run.stderr.count("\n") == 1
    before = (built / "curation.json").read_bytes()
    assert before == (built / "curation.json").read_bytes()


def test_unfiltered_recipe_has_the_same_size_and_only_structural_filters(dumps, tmp_path):
    lima = build(LIMA, dumps, out=tmp_path, scan_options={"cache_dir": tmp_path / "cache"})
    size = lima.manifest["splits"]["train"]
    unfiltered = build(UNFILTERED.replace(size=size), dumps, out=tmp_path, scan_options={"cache_dir": tmp_path / "cache"})
    table = pl.read_parquet(unfiltered.path / "data" / "train-00000-of-00001.parquet")
    assert table.height == size
    assert (table["answer_score"] < 10).any()  # not filtered by score
    kinds = {s["name"] for s in unfiltered.manifest["funnel"]["steps"] if s["kind"] == "filter"}
    assert kinds == {"structure", "non_empty_pair"}
    assert table.group_by("site", "question_id").len()["len"].max() == 1  # one answer per question


def test_recipe_files_load_and_bad_ones_are_refused(tmp_path, dumps):
    good = tmp_path / "small.toml"
    good.write_text('recipe = "lima"\nname = "lima-small"\nsize = 5\nmin_answer_score = 5\nshares = {STEM = 1.0}\n')
    recipe = load(good)
    assert recipe.size == 5 and recipe.min_answer_score == 5 and recipe.shares == {"STEM": 1.0}
    assert recipe.hash() != LIMA.hash() and recipe.hash() == load(good).hash()
    yaml_file = tmp_path / "r.yaml"
    yaml_file.write_text("recipe: unfiltered\nsize: 7\n")
    assert load(yaml_file).size == 7 and load(yaml_file).answer == "random"
    assert json.loads(recipe.to_json())["size"] == 5
    for text, message in [
        ('recipe = "lima"\nsize = "big"\n', "option 'size'"),
        ('recipe = "lima"\nmin_answer_scor = 3\n', "unknown recipe option 'min_answer_scor'"),
        ('recipe = "nope"\n', "unknown recipe 'nope'"),
        ('size = 3\n', "say which recipe"),
        ('recipe = "lima"\nsize = \n', "cannot parse recipe"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(CurationError, match=message):
            load(bad)
        run = _cli("build", "stackexchange", "--dump", dumps[2], "--recipe", str(bad), "--out", str(tmp_path / "o"))
        assert run.returncode == 2 and run.stderr.startswith("error: ") and str(bad) in run.stderr
    built = _cli("build", "stackexchange", "--dump", dumps[2], "--recipe", str(good), "--out", str(tmp_path / "o"),
                 "--quiet", "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert read_manifest(tmp_path / "o" / "stackexchange-lima-small" / "v1")["recipe"]["size"] == 5


def test_build_without_dump_uses_the_sample_and_says_so(tmp_path):
    run = _cli("build", "stackexchange", "--out", str(tmp_path / "out"), env={"CURATION_CACHE_DIR": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    assert "synthetic sample dump" in run.stderr
    version = tmp_path / "out" / "stackexchange-lima" / "v1"
    funnel = read_manifest(version)["funnel"]
    dropped = {reason for step in funnel["steps"] for reason in step["dropped"]}
    # the sample exercises every filter of the lima recipe
    assert {"not_top_answer", "answer_score_below_10", "title_not_self_contained", "too_short", "too_long",
            "first_person", "refers_to_other_answers", "leftover_link_or_image", "language_not_en",
            "duplicate_text"} <= dropped  # fmt: skip
    show = _cli("show", str(version))
    assert show.returncode == 0 and "content hash" in show.stdout and "first_person" in show.stdout


def test_help_explains_every_command():
    run = _cli("--help")
    assert run.returncode == 0 and "build" in run.stdout and "show" in run.stdout
    build_help = _cli("build", "--help").stdout
    for option in ["--dump", "--recipe", "--size", "--seed", "--out", "--name", "--version", "--keep-rejects"]:
        assert option in build_help


def test_two_different_v1_folders_load_their_own_rows_through_one_datasets_cache(built, tmp_path):
    """datasets keys a local folder's cache by its base name and YAML; the card's dataset_info keeps them apart."""
    sample = _cli("build", "stackexchange", "--out", str(tmp_path / "o"), "--quiet", "--size", "9",
                  "--cache-dir", str(tmp_path / "c"))  # fmt: skip
    assert sample.returncode == 0, sample.stderr
    second = tmp_path / "o" / "stackexchange-lima" / "v1"
    cache = str(tmp_path / "hf-cache")
    for folder in (built, second, built):
        loaded = datasets.load_dataset(str(folder), split="train", cache_dir=cache).to_polars()
        local = pl.read_parquet(folder / "data" / "train-00000-of-00001.parquet")
        assert loaded["id"].to_list() == local["id"].to_list()
