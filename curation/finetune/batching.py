"""Batching that pads little without changing what each optimiser step learns from.

Plain random sampling pads every micro-batch to its longest example. Here each optimiser step
still draws the same random set of examples as a plain random permutation would (same seed ->
same sets), but the examples inside a step are sorted by length before being cut into
micro-batches. Gradient accumulation sums over the whole step and the Trainer normalises the
loss by the step's target-token count, so the update is the same; only the padding shrinks.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from curation.finetune.formatting import IGNORE


class StepGroupedSampler(Sampler[int]):
    """Per epoch: a seeded permutation, cut into optimiser steps, each step sorted by length."""

    def __init__(self, lengths: list[int], step_size: int, seed: int):
        self.lengths = list(lengths)
        self.step_size = step_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the Trainer before each epoch, so each epoch has its own order."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        self.epoch += 1  # a fresh order next time even if set_epoch is never called
        for start in range(0, len(order), self.step_size):
            step = order[start : start + self.step_size]
            yield from sorted(step, key=lambda i: (-self.lengths[i], i))


class PadCollator:
    """Right-pads ``input_ids`` (pad id), ``labels`` (-100) and builds ``attention_mask``."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None):
        self.pad_token_id = pad_token_id
        self.multiple = pad_to_multiple_of

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        if self.multiple:
            width = -(-width // self.multiple) * self.multiple
        ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            ids[row, :n] = torch.as_tensor(feature["input_ids"])
            labels[row, :n] = torch.as_tensor(feature["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
