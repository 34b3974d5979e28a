"""Training on a tiny random Llama: loss goes down, runs are reproducible, adapters reload exactly."""

from __future__ import annotations

import json

import polars as pl
import pytest
import torch
from tiny_llama import build_tiny_llama, coffee_pairs, corpus, one_thread, write_version  # one_thread: autouse, per module

from curation.errors import CurationError
from curation.finetune import data as data_mod
from curation.finetune.batching import PadCollator, StepGroupedSampler
from curation.finetune.config import TrainConfig
from curation.finetune.dropout import add_residual_dropout, schedule
from curation.finetune.evaluate import generate, heldout_loss
from curation.finetune.formatting import encode
from curation.finetune.model import load_base, load_trained, model_location, prepare, use_bf16
from curation.finetune.training import lima_schedule, train, train_frames

TINY = dict(
    epochs=3,
    batch_size=8,
    micro_batch_size=4,
    max_length=64,
    learning_rate=3e-3,
    final_learning_rate=3e-4,
    eval_size=6,
    eval_fraction=0.2,
)


def frame(pairs):
    return pl.DataFrame(
        {
            "id": [f"t/{i:04d}" for i in range(len(pairs))],
            "messages": [[{"role": "user", "content": q}, {"role": "assistant", "content": a}] for q, a in pairs],
        }
    )


def synthetic_pairs(n=40):
    lines = corpus(2 * n)
    return [(lines[i], lines[n + i]) for i in range(n)]


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("plain") / "m", chat=False)


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("chat") / "m", chat=True)


def _loss_on(model_dir, rows, config, run=None):
    """Held-out loss of the base model (run=None) or of a finished run on ``rows``."""
    if run is None:
        model, tok = load_base(model_dir, config)
        prepare(model, tok, config)
    else:
        model, tok, _ = load_trained(run)
    enc = encode(tok, data_mod.conversations(rows), max_length=config.max_length)
    return heldout_loss(model, enc, tok.pad_token_id)["loss"]


def test_a_few_steps_on_real_answers_lower_the_loss(tmp_path, shared_data):
    pairs = coffee_pairs(shared_data, 24)
    model_dir = build_tiny_llama(tmp_path / "m", texts=[q for q, _ in pairs] + [a for _, a in pairs])
    config = TrainConfig(**dict(TINY, method="full", epochs=4, max_length=96))
    rows = frame(pairs)
    before = _loss_on(model_dir, rows, config)
    result = train_frames(rows, None, model_dir, tmp_path / "run", config)
    after = _loss_on(model_dir, rows, config, run=tmp_path / "run")
    assert after < before - 0.3
    curve = [p["loss"] for p in result.meta["curves"]["train"]]
    assert len(curve) == result.metrics["steps"] == 12  # 24 rows / 8 per step * 4 epochs
    assert sum(curve[-3:]) < sum(curve[:3])
    assert result.metrics["train_tokens"] > 0 and result.metrics["tokens_per_second"] > 0


def test_same_seed_same_losses_and_another_seed_differs(tmp_path, plain_model):
    rows = frame(synthetic_pairs(24))
    config = TrainConfig(**dict(TINY, epochs=2))
    runs = [
        train_frames(rows, None, plain_model, tmp_path / f"r{i}", config.replace(seed=s))
        for i, s in enumerate((5, 5, 6))
    ]
    losses = [[p["loss"] for p in r.meta["curves"]["train"]] for r in runs]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_lora_adapter_with_new_eot_token_reloads_to_identical_outputs(tmp_path, plain_model):
    version = write_version(tmp_path / "ds" / "v1", synthetic_pairs(30))
    rows = data_mod.load_split(version)
    result = train(version, plain_model, tmp_path / "run", **TINY)
    meta = json.loads((tmp_path / "run" / "train.json").read_text())
    assert meta["chat_format"]["template"] == "plain" and meta["chat_format"]["added_tokens"] == 1
    assert meta["examples"]["heldout"] == 6 and len(meta["examples"]["heldout_ids"]) == 6
    assert meta["dataset"]["content_hash"].startswith("sha256:")
    assert meta["parameters"]["trainable"] < meta["parameters"]["total"] / 2  # LoRA, not everything
    assert (tmp_path / "run" / "model" / "adapter_config.json").exists()

    a, tok, _ = load_trained(tmp_path / "run")
    b, _, _ = load_trained(tmp_path / "run")
    enc = encode(tok, data_mod.conversations(rows[:6]), max_length=64)
    rows_in = [{"input_ids": ids, "labels": labels} for ids, labels in zip(enc.input_ids, enc.labels)]
    batch = PadCollator(tok.pad_token_id)(rows_in)
    with torch.no_grad():
        la = a(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        lb = b(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(la, lb)
    # and the reloaded model is the trained one: the held-out loss measured right after training
    held = rows.filter(pl.col("id").is_in(meta["examples"]["heldout_ids"]))
    again = heldout_loss(a, encode(tok, data_mod.conversations(held), max_length=64), tok.pad_token_id)
    assert again["loss"] == pytest.approx(result.metrics["heldout"]["loss"], abs=1e-5)
    prompts = data_mod.prompts(rows[:2])
    eot = tok.convert_tokens_to_ids("<|eot|>")
    assert generate(a, tok, prompts, max_new_tokens=8, seed=1) == generate(b, tok, prompts, max_new_tokens=8, seed=1)
    assert eot in meta["chat_format"]["stop_token_ids"]
    with pytest.raises(CurationError, match="already there"):
        train(tmp_path / "ds" / "v1", plain_model, tmp_path / "run", **TINY)


def test_reloaded_adapter_gives_the_heldout_loss_measured_after_training(tmp_path, chat_model):
    rows = frame(synthetic_pairs(30))
    train_rows, held = data_mod.split_heldout(rows, 6, 0.5, 42)
    result = train_frames(train_rows, held, chat_model, tmp_path / "run", TrainConfig(**TINY))
    model, tok, meta = load_trained(tmp_path / "run")
    enc = encode(tok, data_mod.conversations(held), max_length=64)
    assert heldout_loss(model, enc, tok.pad_token_id)["loss"] == pytest.approx(
        result.metrics["heldout"]["loss"], abs=1e-5
    )
    assert meta["chat_format"]["template"] == "model" and meta["chat_format"]["added_tokens"] == 0
    eval_curve = result.meta["curves"]["eval"]
    assert [p["epoch"] for p in eval_curve] == [0.0, 1.0, 2.0, 3.0]  # the base model, then each epoch
    assert eval_curve[0]["loss"] == pytest.approx(result.metrics["heldout_before"]["loss"])
    assert eval_curve[-1]["loss"] == pytest.approx(result.metrics["heldout"]["loss"], abs=1e-4)
    assert result.metrics["heldout"]["loss"] < result.metrics["heldout_before"]["loss"]


def test_full_fine_tuning_saves_a_whole_model(tmp_path, chat_model):
    rows = frame(synthetic_pairs(16))
    result = train_frames(rows, None, chat_model, tmp_path / "run", TrainConfig(**dict(TINY, method="full", epochs=1)))
    assert (tmp_path / "run" / "model" / "model.safetensors").exists()
    assert result.meta["parameters"]["trainable"] == result.meta["parameters"]["total"]
    model, _, _ = load_trained(tmp_path / "run")
    assert not model.training


def test_residual_dropout_rises_over_layers_and_only_acts_in_training(tmp_path):
    model_dir = build_tiny_llama(tmp_path / "m", layers=4)
    config = TrainConfig()
    model, tok = load_base(model_dir, config)
    assert schedule(4, 0.0, 0.3) == pytest.approx([0.0, 0.1, 0.2, 0.3])
    probs, handles = add_residual_dropout(model, 0.0, config.dropout_end_for(10**6))
    assert probs == pytest.approx([0.0, 0.2 / 3, 0.4 / 3, 0.2], abs=1e-6)
    assert len(handles) == 6  # attention and MLP of the three layers with p > 0
    ids = torch.tensor([tok("the coffee bean grind water")["input_ids"]])
    model.train()
    torch.manual_seed(0)
    first = model(input_ids=ids).logits
    second = model(input_ids=ids).logits
    assert not torch.equal(first, second)
    model.eval()
    assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
    for handle in handles:
        handle.remove()
    model.train()
    assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)  # Llama has no dropout of its own
    assert add_residual_dropout(torch.nn.Sequential(torch.nn.Linear(2, 2)), 0.0, 0.2) == (None, [])


def test_learning_rate_decays_linearly_to_the_floor_without_warmup():
    config = TrainConfig()
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=config.learning_rate)
    scheduler = lima_schedule(optimizer, 10, config)
    rates = []
    for _ in range(11):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(1e-5)
    assert rates[5] == pytest.approx(5.5e-6)
    assert rates[10] == pytest.approx(1e-6)


def test_step_grouping_keeps_each_steps_examples_and_sorts_them_by_length():
    lengths = [(i * 37) % 101 + 1 for i in range(50)]
    sampler = StepGroupedSampler(lengths, step_size=8, seed=3)
    sampler.set_epoch(0)
    order = list(sampler)
    plain = torch.randperm(50, generator=torch.Generator().manual_seed(3 * 1_000_003)).tolist()
    assert sorted(order) == list(range(50))
    for start in range(0, 50, 8):
        step = order[start : start + 8]
        assert set(step) == set(plain[start : start + 8])  # same examples in the same optimiser step
        assert [lengths[i] for i in step] == sorted((lengths[i] for i in step), reverse=True)
    sampler.set_epoch(1)
    assert list(sampler) != order
    sampler.set_epoch(0)
    assert list(sampler) == order


def test_gpu_only_paths_stay_off_on_cpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the CPU guard is not exercised")
    assert use_bf16(TrainConfig()) is False and use_bf16(TrainConfig(bf16=True)) is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_on_a_gpu_that_supports_it():
    assert use_bf16(TrainConfig()) is torch.cuda.is_bf16_supported()
    assert use_bf16(TrainConfig(bf16=False)) is False


def test_model_location_errors_are_one_line(tmp_path):
    with pytest.raises(CurationError, match="GGUF model file not found"):
        model_location(tmp_path / "x.gguf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurationError, match="no config.json"):
        model_location(tmp_path / "empty")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "m.gguf").write_bytes(b"GGUF")
    assert model_location(tmp_path / "one") == (str(tmp_path / "one"), "m.gguf")


def test_corrupted_model_weights_are_a_clear_error(tmp_path, plain_model):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(plain_model, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CurationError, match="cannot load model") as error:
        load_base(broken, TrainConfig())
    assert str(broken) in str(error.value)


def test_prompt_longer_than_max_length_everywhere_is_refused(tmp_path, plain_model):
    rows = frame([(" ".join(corpus(30)), "Yes.")] * 4)
    with pytest.raises(CurationError, match="no training example has a target token"):
        train_frames(rows, None, plain_model, tmp_path / "run", TrainConfig(**TINY))
