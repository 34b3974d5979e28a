"""Ablations: arms trained alike, report + results + plots, resume without retraining, config errors."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tiny_llama import build_tiny_llama, corpus, one_thread, write_version  # one_thread: autouse, per module

import curation.finetune.ablation as ablate_mod
import curation.finetune.training as train_mod
from curation.errors import CurationError
from curation.finetune import ablate
from curation.finetune.ablation import load_config

TRAIN = """
[train]
epochs = 2
batch_size = 8
micro_batch_size = 4
max_length = 48
learning_rate = 3e-3
final_learning_rate = 3e-4
"""


class Grader(BaseHTTPRequestHandler):
    """OpenAI-compatible judge: score from the answer's length; prefers the longer answer."""

    calls = 0

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls += 1
        user = body["messages"][1]["content"]
        if "Answer A:" in user:
            a, b = user.split("Answer A:\n", 1)[1].split("\n\nAnswer B:\n", 1)
            text = "Preference: " + ("A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie")
        else:
            text = f"Score: {1 + len(user.split('Assistant answer:', 1)[1]) % 6}"
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def judge_url():
    Grader.calls = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Grader)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A tiny model and two dataset versions: coherent pairs, and answers shuffled against prompts."""
    root = tmp_path_factory.mktemp("ablation")
    build_tiny_llama(root / "model", chat=True)
    lines = corpus(200, seed=9)
    write_version(
        root / "good" / "v1",
        [(lines[i], lines[i + 1]) for i in range(0, 96, 2)],
        test_prompts=lines[150:153],
        source="good",
    )
    write_version(root / "noisy" / "v1", [(lines[i], lines[(i * 37) % 200]) for i in range(1, 97, 2)], source="noisy")
    return root


def _config(root: Path, text: str, name: str = "quality.toml") -> Path:
    path = root / name
    path.write_text(text, encoding="utf-8")
    return path


def test_two_arms_report_judge_and_resume_without_retraining(workspace, tmp_path, judge_url, monkeypatch):
    config = _config(
        workspace,
        f"""
model = "model"
seed = 3
equal_size = true
update_cards = true
{TRAIN}
[eval]
heldout = 6
prompts = 2
samples = 2
max_new_tokens = 6

[judge]
url = "{judge_url}"
model = "judge"
pairwise = true

[[arms]]
name = "good"
dataset = "good/v1"

[[arms]]
name = "noisy"
dataset = "noisy/v1"
""",
    )
    out = tmp_path / "run"
    results = ablate(config, out)
    for name in ("report.md", "results.json", "loss_curves.png", "metrics.png"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "quantity.png").exists()  # no arm at two sizes
    good, noisy = results["arms"]
    # identical settings and equal size; the held-out rows of the first arm trained nobody
    assert good["examples"]["train"] == noisy["examples"]["train"] == 42  # 48 - 6 held out; noisy cut to match
    for arm in ("good", "noisy"):
        meta = json.loads((out / "arms" / arm / "train.json").read_text())
        assert meta["config"] == results["settings"]["train"] and meta["config"]["seed"] == 3
    assert good["curves"]["train"] and good["heldout"]["examples"] == 6
    # 2 test prompts x 2 samples graded per arm, and pairwise in both orders for the second arm
    assert good["judge"]["n"] == noisy["judge"]["n"] == 4
    assert noisy["pairwise"]["n"] == 2 and "pairwise" not in good
    assert Grader.calls == 4 + 4 + 2 * 2
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["arms"][1]["judge"] == noisy["judge"]
    report = (out / "report.md").read_text()
    assert "| good |" in report and "| noisy |" in report and "![loss curves](loss_curves.png)" in report
    assert "vs good: win / tie / loss" in report
    card = (workspace / "good" / "v1" / "README.md").read_text()
    assert card.count("## Fine-tuning ablation: quality") == 1 and "license: cc0-1.0" in card

    # resume: nothing is retrained, regenerated or re-graded; the card section is not duplicated
    def refuse(*args, **kwargs):
        raise AssertionError("finished arm retrained")

    monkeypatch.setattr(train_mod, "train_frames", refuse)
    monkeypatch.setattr(ablate_mod, "_generate", refuse)
    calls = Grader.calls
    again = ablate(config, out)
    assert Grader.calls == calls
    assert [a["heldout"] for a in again["arms"]] == [good["heldout"], noisy["heldout"]]
    assert (workspace / "good" / "v1" / "README.md").read_text().count("## Fine-tuning ablation: quality") == 1


def test_interrupted_arm_is_retrained_and_changed_settings_are_refused(workspace, tmp_path):
    text = f"""
model = "model"
{TRAIN}
[eval]
heldout = 4
prompts = 0

[[arms]]
name = "good"
dataset = "good/v1"
size = 12

[[arms]]
name = "good-24"
dataset = "good/v1"
size = 24
"""
    config = _config(workspace, text, "quantity.toml")
    out = tmp_path / "run"
    (out / "arms" / "good").mkdir(parents=True)
    (out / "arms" / "good" / "settings.json").write_text("{}")  # a run killed mid-training
    results = ablate(config, out)
    assert [a["examples"]["train"] for a in results["arms"]] == [12, 24]
    assert (out / "quantity.png").stat().st_size > 0  # one dataset at two sizes: the quantity curve
    assert "first_answer" not in results["arms"][0]  # prompts = 0: no generation

    _config(workspace, text.replace("epochs = 2", "epochs = 3"), "quantity.toml")
    with pytest.raises(CurationError, match="arm 'good' was trained with other settings"):
        ablate(config, out)


def test_prompts_from_an_eval_dataset_that_only_has_a_test_split(workspace, tmp_path):
    prompts = ["Why grind fresh?", "How hot should water be?", "What is a pour over?"]
    write_version(tmp_path / "asks" / "v1", [("unused", "unused")], test_prompts=prompts, source="asks")
    (tmp_path / "asks" / "v1" / "data" / "train-00000-of-00001.parquet").unlink()  # prompts only, like AskReddit
    config = _config(
        workspace,
        f"""
model = "model"
{TRAIN.replace("epochs = 2", "epochs = 1")}
[eval]
dataset = "{tmp_path / "asks" / "v1"}"
heldout = 4
prompts = 2
max_new_tokens = 4

[[arms]]
name = "good"
dataset = "good/v1"
size = 8
""",
        "asks.toml",
    )
    results = ablate(config, tmp_path / "run")
    assert results["heldout"] == {"source": str(workspace / "good" / "v1"), "examples": 4}
    assert results["samples"][0]["prompt"] in prompts
    answers = json.loads((tmp_path / "run" / "arms" / "good" / "generations.json").read_text())["answers"]
    assert len(answers) == 2 and all(len(a) == 1 for a in answers)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "m"\n[[arms]]\nname = "a"\ndataset = "x"\nsize = \n', r"\(line 5, column 8\): invalid TOML"),
        ('model = "m"\nepochs = 3\n[[arms]]\nname = "a"\ndataset = "x"\n', "unknown key.*epochs"),
        ('[[arms]]\nname = "a"\ndataset = "x"\n', "'model'"),
        ('model = "m"\n', r"\[\[arms\]\]"),
        ('model = "m"\n[[arms]]\nname = "a"\ndataset = "x"\n[[arms]]\nname = "a"\ndataset = "y"\n', r"#2.*used twice"),
        ('model = "m"\n[[arms]]\nname = "a b"\ndataset = "x"\n', r"#1.*'name'"),
        ('model = "m"\n[[arms]]\nname = "a"\ndataset = "x"\nsize = -2\n', "positive integer"),
        (
            'model = "m"\n[train]\nlernrate = 1\n[[arms]]\nname = "a"\ndataset = "x"\n',
            "unknown training setting.*lernrate",
        ),
        ('model = "m"\n[judge]\nmodel = "j"\n[[arms]]\nname = "a"\ndataset = "x"\n', r"\[judge\] needs 'url'"),
        ('model = "m"\n[eval]\nprompts = -1\n[[arms]]\nname = "a"\ndataset = "x"\n', r"\[eval\] prompts"),
    ],
)
def test_config_mistakes_are_one_line_naming_the_file(tmp_path, text, message):
    path = _config(tmp_path, text, "bad.toml")
    with pytest.raises(CurationError, match=message) as error:
        load_config(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_config_file_that_is_not_text_or_missing(tmp_path):
    with pytest.raises(CurationError, match="not found"):
        load_config(tmp_path / "absent.toml")
    (tmp_path / "binary.toml").write_bytes(b'model = "m"\n\xff\xfe\n')
    with pytest.raises(CurationError, match="not UTF-8"):
        load_config(tmp_path / "binary.toml")


def test_package_entry_points_stay_functions_after_submodules_load():
    import curation.finetune as finetune

    assert callable(finetune.ablate) and callable(finetune.train)  # not shadowed by a submodule


def test_paths_in_the_config_are_relative_to_it_and_defaults_are_filled(workspace):
    config = load_config(_config(workspace, 'model = "model"\n[[arms]]\nname = "g"\ndataset = "good/v1"\n', "rel.toml"))
    assert config.model == str(workspace / "model") and config.arms[0].dataset == str(workspace / "good" / "v1")
    assert config.name == "rel" and config.train.seed == 42 and config.train.epochs == 15
    assert config.eval == {"heldout": 50, "prompts": 10, "samples": 1, "max_new_tokens": 512}
