"""`python -m curation train` and `ablate` on versions written by `build` (the real store), tiny Llama."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tiny_llama import build_tiny_llama


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "curation", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})  # fmt: skip


def test_train_and_ablate_from_the_command_line(tmp_path):
    cache = {"CURATION_CACHE_DIR": str(tmp_path / "cache")}
    for recipe in ("lima", "unfiltered"):
        built = _cli("build", "stackexchange", "--recipe", recipe, "--size", "24", "--out", str(tmp_path / "data"),
                     "--quiet", env=cache)  # fmt: skip
        assert built.returncode == 0, built.stderr
    model = build_tiny_llama(tmp_path / "model", chat=True)
    lima = tmp_path / "data" / "stackexchange-lima" / "v1"
    run = _cli("train", "--dataset", str(lima), "--model", str(model), "--out", str(tmp_path / "run"),
               "--max-steps", "2", "--max-length", "64", "--batch-size", "4", "--micro-batch-size", "2",
               "--eval-size", "4")  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    meta = json.loads((tmp_path / "run" / "train.json").read_text())
    assert meta["config"]["max_steps"] == 2 and meta["config"]["adam_beta2"] == 0.95  # LIMA's default kept
    assert (tmp_path / "run" / "model").is_dir()

    config = tmp_path / "ablation.toml"
    config.write_text(f"""
model = "{model}"
seed = 1
equal_size = true
[train]
max_steps = 2
max_length = 64
batch_size = 4
micro_batch_size = 2
[eval]
heldout = 4
prompts = 0
[[arms]]
name = "lima"
dataset = "{lima}"
[[arms]]
name = "unfiltered"
dataset = "{tmp_path / 'data' / 'stackexchange-unfiltered' / 'v1'}"
""")
    first = _cli("ablate", str(config), "--out", str(tmp_path / "ablation"))
    assert first.returncode == 0, first.stderr[-2000:]
    results = json.loads((tmp_path / "ablation" / "results.json").read_text())
    assert [arm["name"] for arm in results["arms"]] == ["lima", "unfiltered"]
    assert (tmp_path / "ablation" / "report.md").read_text().count("unfiltered") >= 1
    trained = (tmp_path / "ablation" / "arms" / "lima" / "train.json").stat().st_mtime_ns
    again = _cli("ablate", str(config), "--out", str(tmp_path / "ablation"))  # resumes: nothing retrained
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "ablation" / "arms" / "lima" / "train.json").stat().st_mtime_ns == trained
    bad = _cli("ablate", str(tmp_path / "missing.toml"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
