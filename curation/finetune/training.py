"""Fine-tune a causal LM on a dataset version: thin glue over transformers' Trainer and peft.

Read top to bottom: load rows -> hold out a dev split by id hash -> load the model and give its
tokenizer a chat format -> residual dropout hooks -> LoRA (or full) -> tokenise with
assistant-only labels -> Trainer with LIMA's optimiser and linear decay to 1e-6 -> held-out loss
-> save the model/adapter and ``train.json`` (settings, curves, metrics). ``train.json`` is
written last, so its presence means the run finished.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import torch

from curation.errors import CurationError
from curation.finetune import data as data_mod
from curation.finetune.batching import PadCollator, StepGroupedSampler
from curation.finetune.config import TrainConfig
from curation.finetune.dropout import add_residual_dropout
from curation.finetune.evaluate import heldout_loss
from curation.finetune.formatting import encode
from curation.finetune.model import cuda, load_base, new_token_targets, prepare, use_bf16


@dataclass(frozen=True)
class TrainResult:
    """Where the run went and what it measured (the same facts as ``out/train.json``)."""

    out: Path
    metrics: dict[str, Any]
    meta: dict[str, Any]

    def summary(self) -> str:
        """A few lines for the CLI to print."""
        m, ex = self.metrics, self.meta["examples"]
        lines = [
            f"trained {ex['train']} conversations ({ex['truncated']} cut at max_length) for {m['steps']} steps "
            f"({m['epochs']:g} epochs), {m['train_tokens']} tokens at {m['tokens_per_second']:.0f} tokens/s",
            f"final training loss {m['final_loss']:.4f}" if m["final_loss"] is not None else "no loss logged",
        ]
        if m["heldout"]:
            lines.append(
                f"held-out loss {m['heldout']['loss']:.4f}, perplexity {m['heldout']['perplexity']:.2f} "
                f"({ex['heldout']} conversations)"
            )
        lines.append(f"saved to {self.out / 'model'} (details in {self.out / 'train.json'})")
        return "\n".join(lines)


def lima_schedule(optimizer, total_steps: int, config: TrainConfig):
    """Linear decay from ``learning_rate`` to ``final_learning_rate`` (LIMA: 1e-5 -> 1e-6), optional warmup."""
    floor = config.final_learning_rate / config.learning_rate
    warmup = config.warmup_steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        span = max(1, total_steps - warmup)
        return 1.0 - (1.0 - floor) * min(1.0, (step - warmup) / span)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _trainer_class():
    from transformers import Trainer

    class LimaTrainer(Trainer):
        """Trainer with LIMA's learning-rate schedule and step-grouped batching."""

        def __init__(self, *args, lima_config: TrainConfig, lengths: list[int], **kwargs):
            super().__init__(*args, **kwargs)
            self.lima_config = lima_config
            self.lengths = lengths

        def create_scheduler(self, num_training_steps: int, optimizer=None):
            if self.lr_scheduler is None:
                self.lr_scheduler = lima_schedule(optimizer or self.optimizer, num_training_steps, self.lima_config)
                self._created_lr_scheduler = True
            return self.lr_scheduler

        def _get_train_sampler(self, train_dataset=None):
            if self.lima_config.batching == "grouped":
                step = self.args.train_batch_size * self.args.gradient_accumulation_steps
                return StepGroupedSampler(self.lengths, step, self.args.seed)
            return super()._get_train_sampler(train_dataset)

    return LimaTrainer


def library_versions() -> dict[str, str]:
    """Versions that decide the numbers (written beside every result)."""
    out = {"python": platform.python_version()}
    for name in ("curation", "torch", "transformers", "peft", "accelerate", "datasets", "polars", "tokenizers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _to_dataset(encoded):
    import datasets

    return datasets.Dataset.from_dict(
        {"input_ids": encoded.input_ids, "labels": encoded.labels, "length": encoded.lengths}
    )


def train_frames(
    train_frame: pl.DataFrame,
    eval_frame: pl.DataFrame | None,
    model_spec: str | Path,
    out: str | Path,
    config: TrainConfig,
    *,
    dataset_info: dict[str, Any] | None = None,
) -> TrainResult:
    """Train on already-loaded rows (``id``, ``messages``); the ablation calls this for each arm."""
    from peft import LoraConfig, get_peft_model
    from transformers import TrainingArguments, set_seed

    out = Path(out)
    if (out / "train.json").exists():
        raise CurationError("a finished run is already there; choose another --out", path=out)
    if train_frame.height == 0:
        raise CurationError("no training rows left", path=(dataset_info or {}).get("spec"))
    out.mkdir(parents=True, exist_ok=True)
    set_seed(config.seed)

    model, tokenizer = load_base(model_spec, config)
    fmt = prepare(model, tokenizer, config)
    n_params = sum(p.numel() for p in model.parameters())
    dropout_end = config.dropout_end_for(n_params)
    dropout_probs, _hooks = add_residual_dropout(model, config.residual_dropout_start, dropout_end)

    if config.method == "lora":
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=list(config.lora_target_modules)
            if isinstance(config.lora_target_modules, tuple)
            else config.lora_target_modules,
            task_type="CAUSAL_LM",
            trainable_token_indices=new_token_targets(model, tokenizer, fmt),
        )
        model = get_peft_model(model, lora)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        if config.method == "lora":
            model.enable_input_require_grads()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    train_enc = encode(
        tokenizer, data_mod.conversations(train_frame), max_length=config.max_length, loss_on=config.loss_on
    )
    eval_enc = (
        encode(tokenizer, data_mod.conversations(eval_frame), max_length=config.max_length, loss_on=config.loss_on)
        if eval_frame is not None and eval_frame.height
        else None
    )
    if not train_enc.input_ids:
        raise CurationError(
            "no training example has a target token within max_length", path=(dataset_info or {}).get("spec")
        )

    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=config.micro_batch_size,
        per_device_eval_batch_size=config.micro_batch_size,
        # the effective batch stays batch_size however many processes share it (torchrun sets WORLD_SIZE)
        gradient_accumulation_steps=max(
            1, config.gradient_accumulation_steps // int(os.environ.get("WORLD_SIZE", "1"))
        ),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        adam_beta1=config.adam_beta1,
        adam_beta2=config.adam_beta2,
        warmup_steps=config.warmup_steps,
        max_grad_norm=config.max_grad_norm,
        optim="adamw_torch",
        logging_steps=config.logging_steps,
        eval_strategy="epoch" if eval_enc and config.eval_every_epoch else "no",
        save_strategy="epoch" if config.save_every_epoch else "no",
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        bf16=use_bf16(config),
        use_cpu=not cuda(),
        remove_unused_columns=False,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        **config.extra,
    )
    trainer = _trainer_class()(
        model=model,
        args=args,
        data_collator=PadCollator(tokenizer.pad_token_id),
        train_dataset=_to_dataset(train_enc),
        eval_dataset=_to_dataset(eval_enc) if eval_enc else None,
        processing_class=tokenizer,
        lima_config=config,
        lengths=train_enc.lengths,
    )
    # the base model's held-out loss: where the curves start (no dropout, like every evaluation)
    before = heldout_loss(model, eval_enc, tokenizer.pad_token_id, config.micro_batch_size) if eval_enc else None
    started = time.perf_counter()
    output = trainer.train()
    seconds = time.perf_counter() - started

    history = trainer.state.log_history
    curve = [
        {"step": h["step"], "epoch": h.get("epoch"), "loss": h["loss"], "learning_rate": h.get("learning_rate")}
        for h in history
        if "loss" in h
    ]
    eval_curve = [
        {"step": h["step"], "epoch": h.get("epoch"), "loss": h["eval_loss"]} for h in history if "eval_loss" in h
    ]
    if before is not None:
        eval_curve.insert(0, {"step": 0, "epoch": 0.0, "loss": before["loss"]})
    heldout = heldout_loss(model, eval_enc, tokenizer.pad_token_id, config.micro_batch_size) if eval_enc else None
    tokens = int(trainer.state.num_input_tokens_seen)

    # the new EOT rows are in the adapter (trainable tokens); the rest is the deterministic resize
    checkpoints = out / "checkpoints"
    if checkpoints.is_dir() and not any(checkpoints.iterdir()):
        checkpoints.rmdir()
    model.save_pretrained(out / "model", **({"save_embedding_layers": False} if config.method == "lora" else {}))
    tokenizer.save_pretrained(out / "model")
    metrics = {
        "train_loss": output.training_loss,
        "final_loss": curve[-1]["loss"] if curve else None,
        "heldout": heldout,
        "heldout_before": before,
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_tokens": tokens,
        "train_seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds else None,
    }
    meta = {
        "model": str(model_spec),
        "config": config.to_dict(),
        "dataset": dict(dataset_info or {}),
        "examples": {
            "train": len(train_enc.input_ids),
            "heldout": len(eval_enc.input_ids) if eval_enc else 0,
            "truncated": train_enc.truncated,
            "dropped_no_target": train_enc.dropped_no_target,
            "heldout_ids": eval_frame["id"].to_list() if eval_frame is not None else [],
        },
        "chat_format": {
            "template": fmt.template,
            "eot_token": fmt.eot_token,
            "stop_token_ids": list(fmt.stop_token_ids),
            "added_tokens": fmt.added_tokens,
        },
        "residual_dropout": dropout_probs if dropout_probs is not None else "not supported by this architecture",
        "parameters": {"total": n_params, "trainable": trainable},
        "hardware": {
            "cuda": cuda(),
            "bf16": use_bf16(config),
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
        },
        "library_versions": library_versions(),
        "curves": {"train": curve, "eval": eval_curve},
        "metrics": metrics,
    }
    tmp = out / "train.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=_json_default) + "\n", encoding="utf-8")
    tmp.replace(out / "train.json")
    return TrainResult(out, metrics, meta)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dataset_info(spec: str | Path, source: Any) -> dict[str, Any]:
    """What identifies the data: the spec and, for a local version, its manifest's hashes."""
    info: dict[str, Any] = {"spec": str(spec)}
    if isinstance(source, Path) and (source / "curation.json").is_file():
        try:
            manifest = json.loads((source / "curation.json").read_text(encoding="utf-8"))
        except ValueError as error:
            raise CurationError(f"curation.json is not valid JSON: {error}", path=source / "curation.json") from error
        for key in ("name", "version", "content_hash", "recipe_hash"):
            if key in manifest:
                info[key] = manifest[key]
    return info


def train(
    dataset: str | Path, model: str | Path, out: str | Path, *, config: TrainConfig | None = None, **overrides: Any
) -> TrainResult:
    """``python -m curation train``: fine-tune ``model`` on a dataset version, write the run to ``out``.

    ``dataset`` is a version folder or ``owner/name@revision``; ``overrides`` are
    :class:`TrainConfig` fields (``epochs=3``, ``method="full"`` …). The held-out split is
    ``eval_size`` rows chosen by id hash (never trained on).
    """
    config = (config or TrainConfig()).replace(**{k: v for k, v in overrides.items() if v is not None})
    source = data_mod.resolve_arm(dataset)
    frame = data_mod.load_split(source, "train")
    train_rows, heldout_rows = data_mod.split_heldout(frame, config.eval_size, config.eval_fraction, config.seed)
    return train_frames(train_rows, heldout_rows, model, out, config, dataset_info=dataset_info(dataset, source))
