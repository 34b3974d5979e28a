"""The CLI's push/pull and `build --push` with real built versions, against the local test Hub."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl

from curation.store import read_manifest
from test_hub import load_with_datasets, local_hub  # noqa: F401  (the fixture)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "curation", *args], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ))  # fmt: skip


def test_build_push_then_push_pull_and_load_each_version_by_tag(local_hub, shared_data, tmp_path):  # noqa: F811
    beer = str(shared_data / "stackexchange" / "beer.stackexchange.com.7z")
    out, cache = str(tmp_path / "out"), str(tmp_path / "cache")
    first = _cli("build", "stackexchange", "--dump", beer, "--recipe", "unfiltered", "--size", "40", "--out", out,
                 "--cache-dir", cache, "--quiet", "--push", "alice/beer")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "pushed v1" in first.stdout
    second = _cli("build", "stackexchange", "--dump", beer, "--recipe", "unfiltered", "--size", "60", "--seed", "3",
                  "--out", out, "--cache-dir", cache, "--quiet")  # fmt: skip
    assert second.returncode == 0, second.stderr
    v1, v2 = tmp_path / "out" / "stackexchange-unfiltered" / "v1", tmp_path / "out" / "stackexchange-unfiltered" / "v2"
    pushed = _cli("push", str(v2), "--repo", "alice/beer")
    assert pushed.returncode == 0 and "pushed v2" in pushed.stdout, pushed.stderr
    again = _cli("push", str(v2), "--repo", "alice/beer")
    assert again.returncode == 0 and "nothing sent" in again.stdout

    loaded = load_with_datasets("alice/beer", ["v1", "v2"], tmp_path / "loaded")
    for tag, folder in (("v1", v1), ("v2", v2)):
        local = pl.read_parquet(folder / "data" / "train-00000-of-00001.parquet")
        assert loaded[tag].select(local.columns).equals(local)
    assert loaded["v1"].height == 40 and loaded["v2"].height == 60

    pulled = _cli("pull", "alice/beer", "--revision", "v1", "--out", str(tmp_path / "pulled"))
    assert pulled.returncode == 0, pulled.stderr
    assert read_manifest(tmp_path / "pulled")["content_hash"] == read_manifest(v1)["content_hash"]
    assert (tmp_path / "pulled" / "data" / "train-00000-of-00001.parquet").read_bytes() == (
        v1 / "data" / "train-00000-of-00001.parquet").read_bytes()  # fmt: skip
    token = local_hub.token
    for run in (first, second, pushed, again, pulled):
        assert token not in run.stdout + run.stderr


def test_push_errors_are_one_line(local_hub, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.delenv("HF_DEBUG")  # the fixture turns on huggingface_hub's request log
    missing = _cli("push", str(tmp_path / "nope"), "--repo", "alice/x")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_0000")
    version = tmp_path / "v"
    assert _cli("build", "stackexchange", "--out", str(version), "--quiet", "--cache-dir", str(tmp_path / "c")).returncode == 0
    denied = _cli("push", str(version / "stackexchange-lima" / "v1"), "--repo", "alice/x")
    assert denied.returncode == 2 and denied.stderr.count("\n") == 1
    assert "hf_wrong_token_0000" not in denied.stderr
