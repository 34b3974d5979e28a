"""Held-out loss, LIMA-style sampling, and the judge against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from tiny_llama import build_tiny_llama, corpus, one_thread  # one_thread: autouse, per module

from curation.errors import CurationError
from curation.finetune.config import LIMA_SAMPLING, TrainConfig
from curation.finetune.evaluate import generate, heldout_loss
from curation.finetune.formatting import IGNORE, encode
from curation.finetune.judge import Judge, compare_all, grade_all, mean_ci, t975
from curation.finetune.model import load_base, prepare


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = build_tiny_llama(tmp_path_factory.mktemp("m") / "m", chat=True)
    model, tok = load_base(folder, TrainConfig())
    prepare(model, tok, TrainConfig())
    model.eval()
    return model, tok


def convs(n):
    lines = corpus(2 * n, seed=4)
    return [[{"role": "user", "content": lines[i]}, {"role": "assistant", "content": lines[n + i]}] for i in range(n)]


def test_heldout_loss_is_the_mean_over_target_tokens_whatever_the_batch(tiny):
    model, tok = tiny
    enc = encode(tok, convs(7), max_length=64)
    expected_sum, expected_count = 0.0, 0
    with torch.no_grad():
        for ids, labels in zip(enc.input_ids, enc.labels):
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
            target = torch.tensor(labels[1:])
            keep = target != IGNORE
            expected_sum += torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum").item()
            expected_count += int(keep.sum())
    one = heldout_loss(model, enc, tok.pad_token_id, batch_size=1)
    three = heldout_loss(model, enc, tok.pad_token_id, batch_size=3)
    assert one["tokens"] == three["tokens"] == expected_count and one["examples"] == 7
    assert one["loss"] == pytest.approx(expected_sum / expected_count, rel=1e-5)
    assert three["loss"] == pytest.approx(one["loss"], rel=1e-5)
    assert three["perplexity"] == pytest.approx(math.exp(three["loss"]))
    # a random model is close to uniform over the vocabulary
    assert abs(one["loss"] - math.log(len(tok))) < 1.0


def test_generation_is_seeded_per_prompt_and_uses_lima_sampling(tiny, monkeypatch):
    model, tok = tiny
    prompts = [c[:1] for c in convs(3)]
    a = generate(model, tok, prompts, samples=2, max_new_tokens=6, seed=3)
    assert len(a) == 3 and all(len(group) == 2 for group in a)
    assert generate(model, tok, prompts, samples=2, max_new_tokens=6, seed=3) == a
    assert generate(model, tok, prompts[::-1], samples=2, max_new_tokens=6, seed=3) == a[::-1]  # order-free
    assert generate(model, tok, prompts, samples=2, max_new_tokens=6, seed=4) != a
    seen = {}
    real = model.generate

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    generate(model, tok, prompts[:1], max_new_tokens=4)
    assert LIMA_SAMPLING == {"top_p": 0.9, "temperature": 0.7, "repetition_penalty": 1.2}
    assert {k: seen[k] for k in LIMA_SAMPLING} == LIMA_SAMPLING and seen["do_sample"] is True


# --- statistics --------------------------------------------------------------------------


def test_mean_and_95_percent_interval():
    out = mean_ci([1, 2, 3, 4, 5])
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)
    assert (
        out["mean"] == 3 and out["ci95_low"] == pytest.approx(3 - half) and out["ci95_high"] == pytest.approx(3 + half)
    )
    assert mean_ci([4])["ci95_low"] is None and mean_ci([])["mean"] is None
    assert t975(60) == pytest.approx(2.000, abs=1e-3) and t975(120) == pytest.approx(1.980, abs=1e-3)
    assert t975(31) == pytest.approx(2.040, abs=1e-3)


# --- the judge, over HTTP ------------------------------------------------------------------


class FakeJudge(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint: grades by answer length, prefers the longer answer."""

    mode = "ok"
    requests: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        user = body["messages"][1]["content"]
        if self.mode == "garbage":
            payload = b"<html>not json</html>"
        else:
            if "Answer A:" in user:
                a = user.split("Answer A:\n", 1)[1].split("\n\nAnswer B:\n", 1)[0]
                b = user.split("\n\nAnswer B:\n", 1)[1]
                verdict = (
                    "A" if self.mode == "position" else ("A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie")
                )
                text = f"Reasoning.\nPreference: {verdict}"
            else:
                answer = user.split("Assistant answer:\n", 1)[1]
                text = (
                    "It is quite good." if self.mode == "mumble" else f"Fine.\nScore: {min(6, 1 + len(answer) // 10)}"
                )
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    FakeJudge.mode, FakeJudge.requests = "ok", []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeJudge)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_grades_parse_and_summarise(server, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-test")
    judge = Judge(server, "judge-model", api_key_env="JUDGE_KEY")
    result = grade_all(judge, ["q1", "q2"], [["x" * 15, "x" * 35], ["x" * 55, "x" * 200]])
    assert result["grades"] == [[2, 4], [6, 6]]
    assert result["n"] == 4 and result["mean"] == 4.5 and result["ci95_low"] < 4.5 < result["ci95_high"]
    sent = FakeJudge.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["body"]["model"] == "judge-model" and sent["body"]["temperature"] == 0.0
    assert re.search(r"1 to 6", sent["body"]["messages"][0]["content"])
    assert all(str(level) + " - " in sent["body"]["messages"][0]["content"] for level in range(1, 7))


def test_pairwise_asks_both_orders_and_position_bias_becomes_a_tie(server):
    judge = Judge(server, "m")
    result = compare_all(
        judge, ["p1", "p2", "p3"], [["long answer"], ["s"], ["same"]], [["short"], ["longer one"], ["same"]]
    )
    assert (result["wins"], result["losses"], result["ties"]) == (1, 1, 1) and result["win_rate"] == pytest.approx(
        1 / 3
    )
    assert len(FakeJudge.requests) == 6  # two orders per prompt
    FakeJudge.mode = "position"
    assert compare_all(judge, ["p1"], [["long answer"]], [["short"]])["ties"] == 1


def test_judge_failures_are_clear_errors(server, monkeypatch):
    FakeJudge.mode = "error"
    with pytest.raises(CurationError, match="judge request failed: HTTP 500") as error:
        Judge(server, "m", retries=1).grade("q", "a")
    assert "/v1/chat/completions" in str(error.value) and len(FakeJudge.requests) == 2  # one retry, bounded
    FakeJudge.mode = "garbage"
    with pytest.raises(CurationError, match="not an OpenAI chat completion"):
        Judge(server, "m").grade("q", "a")
    FakeJudge.mode = "mumble"
    with pytest.raises(CurationError, match="no 'Score: 1-6' line"):
        Judge(server, "m").grade("q", "a")
    monkeypatch.delenv("NO_SUCH_JUDGE_KEY", raising=False)
    with pytest.raises(CurationError, match="NO_SUCH_JUDGE_KEY is not set"):
        Judge(server, "m", api_key_env="NO_SUCH_JUDGE_KEY").grade("q", "a")


def test_unreachable_judge_is_a_clear_error():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CurationError, match="unreachable"):
        Judge(f"http://127.0.0.1:{port}/v1", "m", retries=0, timeout=2).grade("q", "a")
