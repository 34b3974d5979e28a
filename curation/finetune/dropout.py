"""LIMA's residual dropout: dropout on each sublayer's output before it joins the residual stream,
rising linearly over the layers (0.0 at the bottom to 0.3, or 0.2 for smaller models, at the top).

Hugging Face decoders (Llama, Mistral, Qwen, Gemma, SmolLM, GPT-2 …) have no per-layer residual
dropout setting, but every one computes ``residual + attention(x)`` and ``residual + mlp(x)``, so
a forward hook on the attention and MLP submodules of each decoder layer is exactly that dropout.
Architectures where no decoder layer list with such submodules is found are left unchanged.
"""

from __future__ import annotations

from typing import Any

from torch import nn

_ATTENTION = ("self_attn", "attn", "attention", "self_attention")
_MLP = ("mlp", "feed_forward", "ffn")


def decoder_layers(model: nn.Module) -> list[nn.Module] | None:
    """The model's decoder layers (a ModuleList of ``num_hidden_layers`` blocks), if recognisable."""
    config = getattr(model, "config", None)
    n = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) and (n is None or len(module) == n):
            first = module[0]
            if any(hasattr(first, a) for a in _ATTENTION) and any(hasattr(first, m) for m in _MLP):
                return list(module)
    return None


def schedule(n_layers: int, start: float, end: float) -> list[float]:
    """Dropout probability per layer, linear from ``start`` (first layer) to ``end`` (last)."""
    if n_layers == 1:
        return [end]
    return [start + (end - start) * i / (n_layers - 1) for i in range(n_layers)]


def _hook(p: float):
    def drop(module: nn.Module, args: Any, output: Any) -> Any:
        if not module.training or p == 0.0:
            return output
        if isinstance(output, tuple):
            return (nn.functional.dropout(output[0], p, training=True),) + output[1:]
        return nn.functional.dropout(output, p, training=True)

    return drop


def add_residual_dropout(model: nn.Module, start: float, end: float) -> tuple[list[float] | None, list]:
    """Hook residual dropout into ``model``; returns (per-layer p or None if unsupported, handles).

    Only active in training mode, so evaluation and generation are unaffected; hooks are not
    part of the saved weights.
    """
    layers = decoder_layers(model)
    if layers is None:
        return None, []
    probs = schedule(len(layers), start, end)
    handles = []
    for layer, p in zip(layers, probs):
        if p <= 0:
            continue
        for name in (*_ATTENTION, *_MLP):
            sub = getattr(layer, name, None)
            if isinstance(sub, nn.Module):
                handles.append(sub.register_forward_hook(_hook(p)))
    return [round(p, 6) for p in probs], handles


def remove(handles: list) -> None:
    """Detach the hooks (e.g. before exporting the model for inference elsewhere)."""
    for handle in handles:
        handle.remove()
