"""A tiny random Llama and a BPE tokenizer trained on the fly, saved to a folder: no downloads.

Fine-tuning tests need a real ``LlamaForCausalLM`` and a real fast tokenizer (offsets, special
tokens, chat templates) but must not fetch weights, so both are built here from code in well
under a second. ``chat=True`` gives the tokenizer a ChatML template (the chat-template path);
``chat=False`` leaves it without one (the plain template + EOT path).

Also here, shared by the test_finetune_* files: :func:`write_version` (a dataset version folder
in the docs/dataset-format.md layout, from generated pairs) and :func:`coffee_pairs` (real
question/answer pairs read from the coffee.stackexchange dump in ../shared/data).
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: A ChatML template like SmolLM2's, without the default system prompt.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_WORDS = (
    "the coffee bean grind water brew espresso milk roast temperature cup filter press "
    "how do i make a good strong light dark taste bitter sweet minutes seconds pour over "
    "why does my answer question because you should use fresh beans and clean equipment "
    "step one two three first then finally heat boil stir wait serve enjoy with sugar"
).split()


def corpus(n_lines: int = 400, seed: int = 0) -> list[str]:
    """Deterministic pseudo-English lines (a linear congruential walk over a small vocabulary)."""
    state, lines = seed * 7919 + 17, []
    for _ in range(n_lines):
        words = []
        for _ in range(6 + state % 9):
            state = (state * 1103515245 + 12345) % 2**31
            words.append(_WORDS[state % len(_WORDS)])
        lines.append(" ".join(words).capitalize() + ".")
    return lines


def build_tokenizer(texts: list[str] | None = None, vocab_size: int = 400, chat: bool = False):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts`` (default: :func:`corpus`)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>"] + (["<|im_start|>", "<|im_end|>"] if chat else [])
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts if texts is not None else corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    if chat:
        tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
        tokenizer.chat_template = CHATML
    return tokenizer


def build_tiny_llama(
    out: Path,
    *,
    chat: bool = False,
    hidden_size: int = 64,
    layers: int = 2,
    texts: list[str] | None = None,
    seed: int = 0,
) -> Path:
    """Save a random 2-layer Llama and its tokenizer to ``out``; returns ``out``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(texts, chat=chat)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out = Path(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def write_version(
    folder: Path, pairs: list[tuple[str, str]], *, test_prompts: list[str] | None = None, source: str = "synthetic"
) -> Path:
    """A dataset version folder as docs/dataset-format.md lays it out (train + optional test split)."""
    import datetime as dt
    import hashlib
    import json

    import polars as pl

    from curation.columns import CANONICAL

    def frame(rows: list[tuple[str, str | None]], split: str) -> pl.DataFrame:
        when = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
        return pl.DataFrame(
            {
                "id": [f"{source}/{split}/{i:05d}" for i in range(len(rows))],
                "source": [source] * len(rows),
                "group": [f"g{i % 3}" for i in range(len(rows))],
                "prompt": [p for p, _ in rows],
                "response": [r or "" for _, r in rows],
                "license": ["CC0-1.0"] * len(rows),
                "url": [f"https://example.org/{split}/{i}" for i in range(len(rows))],
                "created_at": [when] * len(rows),
                "messages": [
                    [{"role": "user", "content": p}] + ([{"role": "assistant", "content": r}] if r is not None else [])
                    for p, r in rows
                ],
            },
            schema_overrides={"created_at": CANONICAL["created_at"]},
        ).sort("id")

    data = Path(folder) / "data"
    data.mkdir(parents=True)
    frame(list(pairs), "train").write_parquet(
        data / "train-00000-of-00001.parquet", compression="zstd", compression_level=3
    )
    splits = {"train": len(pairs)}
    if test_prompts:
        frame([(p, None) for p in test_prompts], "test").write_parquet(data / "test-00000-of-00001.parquet")
        splits["test"] = len(test_prompts)
    files = {
        str(p.relative_to(folder)): "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data.glob("*.parquet"))
    }
    manifest = {
        "name": Path(folder).parent.name or "synthetic",
        "version": Path(folder).name,
        "source": source,
        "splits": splits,
        "files": files,
        "content_hash": "sha256:" + hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest(),
    }
    (Path(folder) / "curation.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (Path(folder) / "README.md").write_text("---\nlicense: cc0-1.0\n---\n# synthetic test dataset\n", encoding="utf-8")
    return Path(folder)


def coffee_pairs(shared_data: Path, n: int = 40) -> list[tuple[str, str]]:
    """(question title, highest-scored answer as text) from the real coffee.stackexchange dump."""
    from lxml import etree
    from lxml.html import fromstring

    titles, best = {}, {}
    for _, row in etree.iterparse(
        str(shared_data / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml"), tag="row"
    ):
        a = row.attrib
        if a.get("PostTypeId") == "1":
            titles[a["Id"]] = a.get("Title", "")
        elif a.get("PostTypeId") == "2" and (
            a.get("ParentId") not in best or int(a.get("Score", 0)) > best[a["ParentId"]][0]
        ):
            best[a["ParentId"]] = (
                int(a.get("Score", 0)),
                fromstring(a.get("Body") or "<p></p>").text_content().strip(),
            )
        row.clear()
    ids = sorted((q for q in titles if q in best and best[q][1]), key=int)[:n]
    return [(titles[q], best[q][1]) for q in ids]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run faster on one thread, and the 2 shared cores are not oversubscribed.

    Autouse: a test module that imports it runs on one torch thread.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
