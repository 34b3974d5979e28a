"""Command-line options for ``train`` generated from :class:`TrainConfig`, so the CLI never drifts
from the config: every field becomes ``--field-name`` with the field's type, default None (meaning
"keep the config default"). curation/cli.py only has to call these two functions.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from curation.finetune.config import TrainConfig

_CHOICES = {"loss_on": ("assistant", "all"), "method": ("lora", "full"), "batching": ("grouped", "random")}
_SKIP = {"extra", "lora_target_modules"}


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """``--dataset --model --out`` plus one option per TrainConfig field (defaults shown in --help)."""
    parser.add_argument("--dataset", required=True, help="dataset version folder, or owner/name@revision on the Hub")
    parser.add_argument("--model", required=True, help="model folder, Hub id, or .gguf file")
    parser.add_argument("--out", required=True, help="run folder to create (model/adapter, train.json)")
    group = parser.add_argument_group("training settings (LIMA's defaults)")
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        if field.name in _SKIP:
            continue
        default = getattr(defaults, field.name)
        kind: Any = type(default) if default is not None else float
        if field.name in ("bf16",):
            kind = _bool
        elif field.name == "device_map":
            kind = str
        elif isinstance(default, bool):
            kind = _bool
        group.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=kind,
            choices=_CHOICES.get(field.name),
            default=None,
            help=f"default: {default}",
        )
    group.add_argument(
        "--lora-target-modules",
        dest="lora_target_modules",
        default=None,
        help="comma-separated module names, or all-linear (default)",
    )


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields the user set on the command line (for ``train(..., **overrides)``)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"extra"}
    out = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if "lora_target_modules" in out and out["lora_target_modules"] != "all-linear":
        out["lora_target_modules"] = tuple(m.strip() for m in out["lora_target_modules"].split(",") if m.strip())
    return out
