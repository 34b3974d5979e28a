"""Training settings with LIMA's numbers as the visible defaults (LIMA §3, docs/finetune.md).

One frozen dataclass, so every arm of an ablation is trained from the same value and the value
can be written beside the results. ``TrainConfig().replace(epochs=3)`` gives a changed copy;
unknown or mistyped keys are a :class:`~curation.errors.CurationError`, not a silent default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from curation.errors import CurationError

#: LIMA's sampling for evaluation (§3): nucleus 0.9, temperature 0.7, repetition penalty 1.2.
LIMA_SAMPLING = {"top_p": 0.9, "temperature": 0.7, "repetition_penalty": 1.2}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is fine-tuned; equal configs give equal runs."""

    # --- formatting ---------------------------------------------------------------
    max_length: int = 2048  # LIMA: sequences cut at 2,048 tokens
    loss_on: Literal["assistant", "all"] = "assistant"  # loss on assistant tokens only by default
    eot_token: str = "<|eot|>"  # LIMA's end-of-turn token, added when the model has no chat template

    # --- optimisation (LIMA §3) ---------------------------------------------------
    epochs: float = 15.0
    learning_rate: float = 1e-5
    final_learning_rate: float = 1e-6  # linear decay from learning_rate to this, no warmup
    warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    weight_decay: float = 0.1
    batch_size: int = 32  # effective batch (LIMA: 32; 64 for its smaller models)
    micro_batch_size: int = 4  # per forward pass; batch_size / micro_batch_size = accumulation
    max_steps: int = -1  # > 0 stops early (tests, smoke runs)
    max_grad_norm: float = 1.0

    # --- residual dropout: rises linearly over layers (LIMA: 0.0 -> 0.3; 0.2 for smaller models)
    residual_dropout_start: float = 0.0
    residual_dropout_end: float | None = None  # None: 0.3 above 30B parameters, else 0.2

    # --- method ----------------------------------------------------------------------
    method: Literal["lora", "full"] = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str | tuple[str, ...] = "all-linear"

    # --- batching ---------------------------------------------------------------------
    # "grouped": each optimiser step draws the same random examples as plain random sampling,
    # sorted by length inside the step so micro-batches pad little (the gradient is unchanged).
    # "random": plain random order, pad to the longest in each micro-batch (transformers' default).
    batching: Literal["grouped", "random"] = "grouped"

    # --- held-out split, seeds, checkpoints -------------------------------------------------
    eval_size: int = 50  # LIMA's dev set had 50 examples; capped at eval_fraction of the rows
    eval_fraction: float = 0.1
    eval_every_epoch: bool = True
    save_every_epoch: bool = False  # LIMA picked a checkpoint between epochs 5 and 10 by hand
    seed: int = 42
    logging_steps: int = 1

    # --- hardware (GPU-only paths are used only when a GPU is there) --------------------------
    bf16: bool | None = None  # None: bf16 when a CUDA GPU supports it
    device_map: str | None = None  # e.g. "auto"; ignored without CUDA
    gradient_checkpointing: bool = False

    extra: dict[str, Any] = field(default_factory=dict, compare=True)  # passed to TrainingArguments

    def __post_init__(self) -> None:
        problems = []
        if self.max_length < 8:
            problems.append(f"max_length must be >= 8, got {self.max_length}")
        if self.loss_on not in ("assistant", "all"):
            problems.append(f"loss_on must be 'assistant' or 'all', got {self.loss_on!r}")
        if self.method not in ("lora", "full"):
            problems.append(f"method must be 'lora' or 'full', got {self.method!r}")
        if self.batching not in ("grouped", "random"):
            problems.append(f"batching must be 'grouped' or 'random', got {self.batching!r}")
        if self.batch_size < 1 or self.micro_batch_size < 1 or self.batch_size % self.micro_batch_size:
            problems.append(
                f"batch_size ({self.batch_size}) must be a positive multiple of micro_batch_size "
                f"({self.micro_batch_size})"
            )
        if not (self.learning_rate > 0 and 0 <= self.final_learning_rate <= self.learning_rate):
            problems.append("need learning_rate > 0 and 0 <= final_learning_rate <= learning_rate")
        if not self.epochs > 0:
            problems.append(f"epochs must be > 0, got {self.epochs}")
        for name in ("residual_dropout_start", "residual_dropout_end", "lora_dropout", "eval_fraction"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                problems.append(f"{name} must be in [0, 1), got {value}")
        if problems:
            raise CurationError("invalid training settings: " + "; ".join(problems))

    @property
    def gradient_accumulation_steps(self) -> int:
        """Micro-batches per optimiser step on one device."""
        return self.batch_size // self.micro_batch_size

    def dropout_end_for(self, n_parameters: int) -> float:
        """LIMA's top-layer residual dropout: 0.3 for its 65B model, 0.2 for smaller ones."""
        if self.residual_dropout_end is not None:
            return self.residual_dropout_end
        return 0.3 if n_parameters > 30e9 else 0.2

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes``; unknown names are a CurationError (typos must not pass)."""
        return from_mapping(changes, base=self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        if isinstance(out["lora_target_modules"], tuple):
            out["lora_target_modules"] = list(out["lora_target_modules"])
        return out


_FIELDS = {f.name: f for f in fields(TrainConfig)}


def from_mapping(values: dict[str, Any], base: TrainConfig | None = None, *, where: str = "") -> TrainConfig:
    """Build a config from user values (TOML table, CLI overrides), checking names and types."""
    base = base or TrainConfig()
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise CurationError(
            f"unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}",
            path=where or None,
        )
    clean: dict[str, Any] = {}
    for name, value in values.items():
        current = getattr(base, name)
        if value is None:
            clean[name] = None
        elif isinstance(current, bool) or name in ("bf16",):
            if not isinstance(value, bool):
                raise CurationError(f"setting {name} must be true or false, got {value!r}", path=where or None)
            clean[name] = value
        elif isinstance(current, int) and not isinstance(current, bool) and name != "epochs":
            if isinstance(value, bool) or not (
                isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            ):
                raise CurationError(f"setting {name} must be an integer, got {value!r}", path=where or None)
            clean[name] = int(value)
        elif isinstance(current, float) or name in ("epochs", "residual_dropout_end"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise CurationError(f"setting {name} must be a number, got {value!r}", path=where or None)
            clean[name] = float(value)
        elif name == "lora_target_modules" and isinstance(value, list):
            clean[name] = tuple(str(v) for v in value)
        else:
            clean[name] = value
    return dataclasses.replace(base, **clean)
