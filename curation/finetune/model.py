"""Loading a base model (folder, Hub id or GGUF file) and a finished run (LoRA adapter or full).

GPU-only choices (bf16, device maps) are made only when CUDA is present, so the same call
trains on a laptop CPU and on a GPU box. New vocabulary rows (the EOT token) start at the mean
of the existing rows, not at random, so a LoRA adapter reloads onto a freshly resized base and
gives the same outputs it gave after training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from curation.errors import CurationError
from curation.finetune.config import TrainConfig
from curation.finetune.formatting import ChatFormat, prepare_tokenizer


def cuda() -> bool:
    """True when a CUDA device is usable (the guard for every GPU-only path)."""
    return torch.cuda.is_available()


def use_bf16(config: TrainConfig) -> bool:
    """bf16 only on a GPU that supports it; CPUs train in float32."""
    if config.bf16 is False or not cuda():
        return False
    return torch.cuda.is_bf16_supported()


def model_location(spec: str | Path) -> tuple[str, str | None]:
    """(folder or Hub id, GGUF file name or None): ``x.gguf`` or a folder holding one GGUF only."""
    path = Path(str(spec)).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise CurationError("GGUF model file not found", path=path)
        return str(path.parent), path.name
    if path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(path), ggufs[0].name
        raise CurationError("model folder has no config.json (and not exactly one .gguf file)", path=path)
    return str(spec), None


def load_base(spec: str | Path, config: TrainConfig):
    """(model, tokenizer) of a base model, on the right device and dtype, in train mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, gguf = model_location(spec)
    kwargs: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
    dtype = torch.bfloat16 if use_bf16(config) else torch.float32
    model_kwargs: dict[str, Any] = dict(kwargs, dtype=dtype)
    if gguf:  # unpack GGUF blocks into a plain float model: trainable, and saved like any other
        from transformers import GgufConfig

        model_kwargs["quantization_config"] = GgufConfig(gguf_file=gguf, dequantize=True)
    if cuda() and config.device_map:
        model_kwargs["device_map"] = config.device_map
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(where, **model_kwargs)
    except Exception as error:  # OSError, ValueError, SafetensorError, …: the user needs one line
        first = (str(error).splitlines() or [""])[0]
        raise CurationError(f"cannot load model ({type(error).__name__}: {first})", path=where) from error
    if not getattr(tokenizer, "is_fast", False):
        raise CurationError("a fast (Rust) tokenizer is needed for token offsets", path=where)
    return model, tokenizer


def add_vocabulary_rows(model, new_size: int) -> None:
    """Resize embeddings to ``new_size``; new rows are the mean of the old ones (deterministic)."""
    old = model.get_input_embeddings().weight.shape[0]
    if new_size <= old:
        return
    model.resize_token_embeddings(new_size, mean_resizing=False)
    with torch.no_grad():
        for layer in {
            id(m): m for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None
        }.values():
            weight = layer.weight
            weight[old:] = weight[:old].mean(dim=0, keepdim=True)


def prepare(model, tokenizer, config: TrainConfig) -> ChatFormat:
    """Chat template / EOT on the tokenizer, matching vocabulary rows and stop ids on the model."""
    fmt = prepare_tokenizer(tokenizer, config.eot_token)
    add_vocabulary_rows(model, len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = list(fmt.stop_token_ids)
    return fmt


def new_token_targets(model, tokenizer, fmt: ChatFormat) -> dict[str, list[int]] | None:
    """peft ``trainable_token_indices`` for the tokens we added (input and, if untied, output rows)."""
    if not fmt.added_tokens or fmt.eot_token is None:
        return None
    ids = [tokenizer.convert_tokens_to_ids(fmt.eot_token)]
    names = {id(m): n for n, m in model.named_modules()}
    targets = {names[id(model.get_input_embeddings())].split(".")[-1]: ids}
    out = model.get_output_embeddings()
    if out is not None and out.weight is not model.get_input_embeddings().weight:
        targets[names[id(out)].split(".")[-1]] = ids
    return targets


def load_trained(run: str | Path):
    """(model, tokenizer, train.json dict) of a finished run, in eval mode, ready to generate."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = Path(run)
    meta_path = run / "train.json"
    if not meta_path.is_file():
        raise CurationError("not a finished training run (no train.json)", path=run)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    config = TrainConfig().replace(**meta["config"])
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    if meta["config"]["method"] == "full":
        model = AutoModelForCausalLM.from_pretrained(
            run / "model", dtype=torch.bfloat16 if use_bf16(config) else torch.float32
        )
    else:
        from peft import PeftModel

        base, _ = load_base(meta["model"], config)
        add_vocabulary_rows(base, len(tokenizer))
        model = PeftModel.from_pretrained(base, run / "model")
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = meta["chat_format"]["stop_token_ids"]
    model.eval()
    return model, tokenizer, meta
