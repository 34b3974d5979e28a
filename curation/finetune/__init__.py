"""Fine-tuning and ablations on dataset versions (thin glue over transformers + peft).

Entry points for the CLI: :func:`train` (``python -m curation train``) and :func:`ablate`
(``python -m curation ablate CONFIG.toml``). torch/transformers load only when one is called,
so ``import curation.finetune`` stays cheap for the rest of the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curation.finetune.config import LIMA_SAMPLING, TrainConfig


def train(dataset: str | Path, model: str | Path, out: str | Path, **overrides: Any):
    """Fine-tune ``model`` on ``dataset`` (folder or ``repo@rev``) into ``out``; see training.train."""
    from curation.finetune.training import train as _train

    return _train(dataset, model, out, **overrides)


def ablate(config_path: str | Path, out: str | Path | None = None, **options: Any):
    """Run (or resume) the ablation described by a TOML file; see ablation.ablate."""
    from curation.finetune.ablation import ablate as _ablate

    return _ablate(config_path, out, **options)


__all__ = ["LIMA_SAMPLING", "TrainConfig", "ablate", "train"]
