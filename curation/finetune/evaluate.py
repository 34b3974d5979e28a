"""Held-out loss and perplexity, and sampled answers with LIMA's settings.

The loss is the mean negative log-likelihood per *target* token (assistant tokens by default),
summed over the whole held-out set before dividing, so long and short examples weigh by their
tokens and the number is independent of the batch size. Perplexity is ``exp(loss)``. LIMA notes
that held-out perplexity is not a quality signal on its own (it rose while answers improved).
"""

from __future__ import annotations

import hashlib
import math

import torch

from curation.finetune.batching import PadCollator
from curation.finetune.config import LIMA_SAMPLING
from curation.finetune.formatting import IGNORE, Encoded, encode_prompt


@torch.no_grad()
def heldout_loss(model, encoded: Encoded, pad_token_id: int, batch_size: int = 4) -> dict[str, float]:
    """``{"loss", "perplexity", "tokens", "examples"}`` over the encoded held-out conversations."""
    if not encoded.input_ids:
        return {"loss": float("nan"), "perplexity": float("nan"), "tokens": 0, "examples": 0}
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    collate = PadCollator(pad_token_id)
    order = sorted(range(len(encoded.input_ids)), key=lambda i: -len(encoded.input_ids[i]))
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        rows = [
            {"input_ids": encoded.input_ids[i], "labels": encoded.labels[i]} for i in order[start : start + batch_size]
        ]
        batch = {k: v.to(device) for k, v in collate(rows).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        targets = batch["labels"][:, 1:]
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
        )
        total += nll.item()
        count += int((targets != IGNORE).sum())
    if was_training:
        model.train()
    loss = total / count
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "tokens": count, "examples": len(order)}


def _prompt_seed(seed: int, messages: list[dict[str, str]]) -> int:
    """A sampling seed from (seed, the prompt's text): independent of the other prompts and their order."""
    text = "\x1e".join(f"{t['role']}\x1f{t['content']}" for t in messages)
    digest = hashlib.blake2b(f"generate:{seed}:".encode() + text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 2**63


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: list[list[dict[str, str]]],
    *,
    samples: int = 1,
    max_new_tokens: int = 2048,
    seed: int = 42,
    stop_token_ids: list[int] | tuple[int, ...] | None = None,
    sampling: dict[str, float] | None = None,
) -> list[list[str]]:
    """``samples`` answers per prompt, sampled with LIMA's settings (top-p 0.9, T 0.7, rep. 1.2).

    Each prompt is seeded from (seed, its text), so its answers do not depend on which other
    prompts are generated or in what order.
    """
    params = dict(LIMA_SAMPLING, **(sampling or {}))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    stops = list(stop_token_ids or model.generation_config.eos_token_id or [tokenizer.eos_token_id])
    answers = []
    for messages in prompts:
        ids = torch.tensor([encode_prompt(tokenizer, messages)], device=device)
        torch.manual_seed(_prompt_seed(seed, messages))
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            num_return_sequences=samples,
            max_new_tokens=max_new_tokens,
            eos_token_id=stops,
            pad_token_id=tokenizer.pad_token_id,
            **params,
        )
        answers.append([tokenizer.decode(row[ids.shape[1] :], skip_special_tokens=True).strip() for row in out])
    if was_training:
        model.train()
    return answers
