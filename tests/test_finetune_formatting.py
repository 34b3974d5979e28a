"""Chat formatting, assistant-only labels, truncation, dataset-version loading and the config."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from tiny_llama import build_tokenizer, coffee_pairs, corpus, write_version

from curation.errors import CurationError
from curation.finetune import data as data_mod
from curation.finetune.config import TrainConfig
from curation.finetune.formatting import IGNORE, assistant_spans, encode, encode_prompt, prepare_tokenizer

CONV = [
    {"role": "user", "content": "How do I brew coffee?"},
    {"role": "assistant", "content": "Use fresh beans and clean water."},
    {"role": "user", "content": "Why?"},
    {"role": "assistant", "content": "Because the taste is better."},
]


@pytest.fixture(params=["plain", "chat"])
def tokenizer(request):
    tok = build_tokenizer(chat=request.param == "chat")
    prepare_tokenizer(tok)
    return tok


def test_plain_template_adds_eot_as_one_special_token_distinct_from_eos():
    tok = build_tokenizer(chat=False)
    before = len(tok)
    fmt = prepare_tokenizer(tok, "<|eot|>")
    assert fmt.template == "plain" and fmt.added_tokens == 1 and len(tok) == before + 1
    eot = tok.convert_tokens_to_ids("<|eot|>")
    assert eot != tok.eos_token_id and eot in fmt.stop_token_ids
    text = assistant_spans(tok, CONV)[0]
    assert text.count("<|eot|>") == 4  # after every utterance, user and assistant alike
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids.count(eot) == 4  # never split into pieces
    assert tok.decode(encode_prompt(tok, CONV[:1])).endswith("Assistant:\n")
    # preparing twice adds nothing more
    assert prepare_tokenizer(tok, "<|eot|>").added_tokens == 0


def test_model_chat_template_is_kept_and_its_turn_end_stops_generation():
    tok = build_tokenizer(chat=True)
    fmt = prepare_tokenizer(tok)
    assert fmt.template == "model" and fmt.added_tokens == 0
    assert tok.convert_tokens_to_ids("<|im_end|>") in fmt.stop_token_ids


def test_assistant_only_labels_token_by_token(tokenizer):
    text, spans = assistant_spans(tokenizer, CONV)
    enc = encode(tokenizer, [CONV], max_length=512)
    ids, labels = enc.input_ids[0], enc.labels[0]
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert len(ids) == len(labels) == len(offsets)
    for token, label, (start, _) in zip(ids, labels, offsets):
        inside = any(a <= start < b for a, b in spans)
        assert label == (token if inside else IGNORE)
    trained = tokenizer.decode([t for t, label in zip(ids, labels) if label != IGNORE])
    eot = "<|eot|>" if "<|eot|>" in text else "<|im_end|>"
    # both answers, each with its end-of-turn marker, and nothing of the user turns
    assert trained == f"Use fresh beans and clean water.{eot}\nBecause the taste is better.{eot}\n"


def test_loss_on_all_tokens_labels_everything(tokenizer):
    enc = encode(tokenizer, [CONV], max_length=512, loss_on="all")
    assert enc.labels[0] == enc.input_ids[0]


def test_truncation_at_max_length_and_prompts_too_long_to_train_on(tokenizer):
    long_answer = [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": " ".join(corpus(20))}]
    long_prompt = [{"role": "user", "content": " ".join(corpus(20))}, {"role": "assistant", "content": "Yes."}]
    full = encode(tokenizer, [long_answer, CONV, long_prompt], max_length=10_000)
    limit = len(full.input_ids[1]) - 3  # cuts the end of CONV's second answer, keeps its first
    enc = encode(tokenizer, [long_answer, CONV, long_prompt], max_length=limit)
    assert enc.kept == [0, 1] and enc.dropped_no_target == 1 and enc.truncated == 3
    assert [len(ids) for ids in enc.input_ids] == [limit, limit]
    assert enc.input_ids[1] == full.input_ids[1][:limit] and enc.labels[1] == full.labels[1][:limit]
    assert all(any(label != IGNORE for label in labels[1:]) for labels in enc.labels)


def test_template_that_rewrites_earlier_turns_is_refused():
    tok = build_tokenizer(chat=True)
    # numbering that depends on the conversation's length is not prefix-stable
    tok.chat_template = "{% for m in messages %}{{ messages|length }}{{ m['content'] }}{% endfor %}"
    with pytest.raises(CurationError, match="growing string"):
        assistant_spans(tok, CONV)


def test_real_answers_labelled_only_inside_the_answer(shared_data):
    pairs = coffee_pairs(shared_data, 30)
    texts = [p for p, _ in pairs] + [a for _, a in pairs]
    tok = build_tokenizer(texts, vocab_size=500)
    prepare_tokenizer(tok)
    convs = [[{"role": "user", "content": q}, {"role": "assistant", "content": a}] for q, a in pairs]
    enc = encode(tok, convs, max_length=128)
    assert len(enc.kept) == len(pairs)
    assert enc.truncated >= 10  # real answers run to thousands of characters
    for i, labels in zip(enc.kept, enc.labels):
        trained = tok.decode([t for t in labels if t != IGNORE], skip_special_tokens=False)
        answer = pairs[i][1]
        assert answer.startswith(trained.replace("<|eot|>\n", "").replace("<|eot|>", "")[:60])
        assert pairs[i][0] not in trained


# --- dataset versions ----------------------------------------------------------------------


def _pairs(n):
    lines = corpus(2 * n)
    return [(lines[2 * i], lines[2 * i + 1]) for i in range(n)]


def test_version_folder_loads_train_and_optional_test(tmp_path):
    folder = write_version(tmp_path / "ds" / "v1", _pairs(12), test_prompts=["Why coffee?", "How tea?"])
    source = data_mod.resolve_arm(folder)
    train = data_mod.load_split(source, "train")
    assert train.columns == ["id", "messages"] and train.height == 12
    test = data_mod.load_split(source, "test", required=False)
    assert test.height == 2 and data_mod.conversations(test)[0] == [{"role": "user", "content": "Why coffee?"}]
    assert data_mod.load_split(write_version(tmp_path / "ds" / "v2", _pairs(3)), "test", required=False) is None
    assert data_mod.prompts(train)[0] == [data_mod.conversations(train)[0][0]]


def test_heldout_split_and_subsample_depend_on_ids_not_row_order(tmp_path):
    frame = data_mod.load_split(write_version(tmp_path / "v1", _pairs(40)), "train")
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    a_train, a_held = data_mod.split_heldout(frame, 5, 0.5, seed=1)
    b_train, b_held = data_mod.split_heldout(shuffled, 5, 0.5, seed=1)
    assert a_held["id"].to_list() == b_held["id"].to_list() and a_held.height == 5
    assert a_train.height == 35 and not set(a_train["id"]) & set(a_held["id"])
    assert data_mod.split_heldout(frame, 5, 0.5, seed=2)[1]["id"].to_list() != a_held["id"].to_list()
    assert data_mod.split_heldout(frame, 50, 0.1, seed=1)[1].height == 4  # capped by the fraction
    small, large = data_mod.subsample(frame, 10, 7), data_mod.subsample(frame, 20, 7)
    assert set(small["id"]) < set(large["id"])  # nested: the 2K arm is inside the 4K arm
    assert data_mod.subsample(shuffled, 10, 7)["id"].to_list() == small["id"].to_list()


def test_missing_folder_and_missing_split_are_one_line_errors(tmp_path):
    with pytest.raises(CurationError, match="not found") as error:
        data_mod.resolve_arm(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(error.value)
    (tmp_path / "empty" / "data").mkdir(parents=True)
    with pytest.raises(CurationError, match=r"no data/train-\*\.parquet"):
        data_mod.load_split(data_mod.resolve_arm(tmp_path / "empty"))


def test_truncated_parquet_names_the_file(tmp_path):
    folder = write_version(tmp_path / "v1", _pairs(20))
    file = folder / "data" / "train-00000-of-00001.parquet"
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with pytest.raises(CurationError) as error:
        data_mod.load_split(folder)
    assert "train-00000-of-00001.parquet" in str(error.value) and "\n" not in str(error.value)


def test_malformed_messages_name_the_row(tmp_path):
    folder = write_version(tmp_path / "v1", _pairs(6))
    file = folder / "data" / "train-00000-of-00001.parquet"
    frame = pl.read_parquet(file)
    bad = frame["messages"].to_list()
    bad[4] = [{"role": "user", "content": "hi"}, {"role": "bot", "content": "hello"}]
    frame.with_columns(pl.Series("messages", bad)).write_parquet(file)
    with pytest.raises(CurationError, match=r"train row 4, id 'synthetic/train/00004'.*'bot'"):
        data_mod.load_split(folder)
    frame.with_columns(pl.col("prompt").alias("messages")).write_parquet(file)
    with pytest.raises(CurationError, match=r"list\[struct"):
        data_mod.load_split(folder)
    frame.drop("messages").write_parquet(file)
    with pytest.raises(CurationError, match="no 'messages' column"):
        data_mod.load_split(folder)


def test_hub_spec_that_cannot_load_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # so "owner/name" is not a local folder
    with pytest.raises(CurationError, match="cannot load Hub dataset 'no-such-owner/no-such-set' at revision v9"):
        data_mod.resolve_arm("no-such-owner/no-such-set@v9")


def test_a_copied_version_folder_loads_like_the_original(tmp_path):
    folder = write_version(tmp_path / "a" / "v1", _pairs(5))
    shutil.copytree(folder, tmp_path / "b")
    assert data_mod.load_split(tmp_path / "b").equals(data_mod.load_split(folder))


# --- config ---------------------------------------------------------------------------------


def test_lima_defaults_are_the_visible_defaults():
    c = TrainConfig()
    assert (c.learning_rate, c.final_learning_rate, c.warmup_steps) == (1e-5, 1e-6, 0)
    assert (c.adam_beta1, c.adam_beta2, c.weight_decay) == (0.9, 0.95, 0.1)
    assert (c.epochs, c.batch_size, c.max_length, c.loss_on, c.method) == (15, 32, 2048, "assistant", "lora")
    assert c.gradient_accumulation_steps == 8
    assert c.dropout_end_for(7_000_000_000) == 0.2 and c.dropout_end_for(65_000_000_000) == 0.3


def test_config_rejects_unknown_names_and_bad_values():
    with pytest.raises(CurationError, match="unknown training setting.*learnig_rate"):
        TrainConfig().replace(learnig_rate=1e-4)
    with pytest.raises(CurationError, match="multiple of micro_batch_size"):
        TrainConfig(batch_size=30, micro_batch_size=4)
    with pytest.raises(CurationError, match="must be an integer"):
        TrainConfig().replace(max_length="long")
    with pytest.raises(CurationError, match="loss_on"):
        TrainConfig().replace(loss_on="user")
    assert TrainConfig().replace(epochs=3, lora_target_modules=["q_proj"]).lora_target_modules == ("q_proj",)


def test_cli_options_mirror_the_config():
    import argparse

    from curation.finetune.options import add_train_options, overrides_from

    parser = argparse.ArgumentParser()
    add_train_options(parser)
    args = parser.parse_args(
        "--dataset d --model m --out o --epochs 2.5 --method full --bf16 false "
        "--lora-target-modules q_proj,v_proj".split()
    )
    overrides = overrides_from(args)
    assert overrides == {"epochs": 2.5, "method": "full", "bf16": False, "lora_target_modules": ("q_proj", "v_proj")}
    assert TrainConfig().replace(**overrides).epochs == 2.5  # every option is a valid config field
    assert overrides_from(parser.parse_args("--dataset d --model m --out o".split())) == {}
    with pytest.raises(SystemExit):
        parser.parse_args("--dataset d --model m --out o --method qlora".split())
