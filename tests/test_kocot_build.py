"""`python -m curation build kocot` on real Korean CoT text, both formats, and the ablation's pairing."""

from __future__ import annotations

import json
import subprocess
import sys

import datasets
import polars as pl
from huggingface_hub import DatasetCard

from curation.store import read_manifest

MAPPING = "source=question,rationale=reason,target=answer,task=class"


def _build(shared_data, out, recipe):
    data = shared_data / "korean" / "public_mwp_data_v2_reasoning-test.jsonl"
    run = subprocess.run([sys.executable, "-m", "curation", "build", "kocot", "--dump", str(data), "--columns", MAPPING,
                          "--recipe", recipe, "--set", "size=300", "--out", str(out), "--quiet"],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return out / f"kocot-{recipe}" / "v1"


def test_both_formats_on_real_rows_hold_the_same_items(shared_data, tmp_path):
    cot = _build(shared_data, tmp_path, "kocot")
    nocot = _build(shared_data, tmp_path, "kocot-nocot")
    raw = {json.loads(line)["question"]: json.loads(line) for line in
           (shared_data / "korean" / "public_mwp_data_v2_reasoning-test.jsonl").read_text().splitlines()}  # fmt: skip
    with_cot = datasets.load_dataset(str(cot), split="train", cache_dir=str(tmp_path / "hf")).to_polars()
    without = datasets.load_dataset(str(nocot), split="train", cache_dir=str(tmp_path / "hf")).to_polars()
    assert with_cot.height == without.height == 300
    assert with_cot["id"].to_list() == without["id"].to_list()  # the same items in both arms
    for row in with_cot.head(40).iter_rows(named=True):
        item = raw[row["prompt"]]
        assert row["response"].startswith(item["reason"].strip())
        assert row["messages"][1]["content"] == row["response"]
        if row["response"] != item["reason"].strip():
            assert row["response"].endswith(f"정답: {item['answer']}")
    for row in without.head(40).iter_rows(named=True):
        assert row["response"] == str(raw[row["prompt"]]["answer"]).strip()
    assert read_manifest(cot)["format"]["cot"] is True and read_manifest(nocot)["format"]["cot"] is False
    assert DatasetCard.load(cot / "README.md").data.to_dict()["language"] == ["ko"]
    # sampled across tasks with a temperature: every task present in the data is represented
    assert set(with_cot["group"]) == {item["class"] for item in raw.values()}


def test_first_person_rules_do_not_run_on_korean_text():
    from curation.filters.style import FirstPerson

    frame = pl.DataFrame({"response": ["나는 I 라고 말했다. 내 생각에는 이렇게 풀면 됩니다.", "I think so."]})
    step = FirstPerson()
    assert frame.select(step.reason(step.score()).alias("r"))["r"].to_list() == [None, "first_person"]
