"""Conversations -> token ids and labels: chat template (or a plain one with LIMA's EOT token),
assistant-only loss masking, truncation.

The assistant spans are found by rendering prefixes of the conversation: the text of
``messages[:i]`` plus the generation prompt ends where assistant turn ``i`` starts, and the text
of ``messages[:i+1]`` ends where it (and its end-of-turn marker) stops. This works with any
template that renders a conversation as a growing string, needs no ``{% generation %}`` markers,
and the token offsets of one fast-tokenizer call then map the spans onto tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.errors import CurationError

IGNORE = -100  # label value the loss skips (transformers' convention)


def plain_template(eot: str) -> str:
    """A chat template for models without one: role line, text, EOT after every utterance."""
    eot = eot.replace("'", "\\'")
    return (
        "{{ bos_token if bos_token else '' }}"
        "{% for message in messages %}"
        "{{ message['role'] | capitalize }}:\n{{ message['content'] }}" + f"{{{{ '{eot}' }}}}" + "\n"
        "{% endfor %}"
        "{% if add_generation_prompt %}Assistant:\n{% endif %}"
    )


@dataclass(frozen=True)
class ChatFormat:
    """How a tokenizer formats conversations, and which tokens end an assistant turn."""

    template: str  # "model" (the tokenizer's own chat template) or "plain" (ours + EOT)
    eot_token: str | None  # the end-of-turn token we added, when plain
    stop_token_ids: tuple[int, ...]  # generation stops on any of these
    added_tokens: int  # tokens added to the vocabulary (the model must be resized)


def prepare_tokenizer(tokenizer, eot_token: str = "<|eot|>") -> ChatFormat:
    """Give ``tokenizer`` a chat template and a pad token if it lacks them (mutates it, once).

    With no chat template, LIMA's end-of-turn token is added as a special token (distinct from
    EOS) and the plain template puts it after every utterance. Call before tokenising and resize
    the model's embeddings by ``added_tokens``.
    """
    added = 0
    if tokenizer.chat_template:
        kind, eot = "model", None
        stops = {tokenizer.eos_token_id}
        # ChatML-style templates end turns with a token that may differ from EOS
        for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"):
            if marker in tokenizer.get_vocab():
                stops.add(tokenizer.convert_tokens_to_ids(marker))
    else:
        kind, eot = "plain", eot_token
        if eot_token not in tokenizer.get_vocab():
            from tokenizers import AddedToken

            added += tokenizer.add_tokens([AddedToken(eot_token, special=True, normalized=False)], special_tokens=True)
        tokenizer.chat_template = plain_template(eot_token)
        stops = {tokenizer.convert_tokens_to_ids(eot_token), tokenizer.eos_token_id}
    if tokenizer.pad_token is None:
        # padded positions are masked out of attention and loss, so reusing EOS is safe
        tokenizer.pad_token = tokenizer.eos_token
    return ChatFormat(kind, eot, tuple(sorted(s for s in stops if s is not None)), added)


def render(tokenizer, messages: list[dict[str, str]], *, generation_prompt: bool = False) -> str:
    """The template's text for ``messages`` (no tokenisation)."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character spans of each assistant turn (with its end marker)."""
    text = render(tokenizer, messages)
    spans = []
    for i, turn in enumerate(messages):
        if turn["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:i], generation_prompt=True) if i else ""
        through = render(tokenizer, messages[: i + 1])
        if not (text.startswith(through) and through.startswith(before)):
            raise CurationError(
                "the chat template does not render conversations as a growing string, so assistant "
                "tokens cannot be located; use --loss-on all or a model with a prefix-stable template"
            )
        spans.append((len(before), len(through)))
    return text, spans


@dataclass(frozen=True)
class Encoded:
    """Token ids and labels per kept conversation, plus what truncation did."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    kept: list[int]  # index into the input of each kept conversation
    truncated: int  # conversations cut at max_length
    dropped_no_target: int  # conversations with no trained token left (prompt >= max_length)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def encode(
    tokenizer,
    convs: list[list[dict[str, str]]],
    *,
    max_length: int = 2048,
    loss_on: str = "assistant",
) -> Encoded:
    """Tokenise conversations; labels are the ids on assistant tokens (or all) and -100 elsewhere."""
    if not convs:
        return Encoded([], [], [], 0, 0)
    texts, spans = zip(*(assistant_spans(tokenizer, c) for c in convs))
    batch = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False)
    out_ids, out_labels, kept = [], [], []
    truncated = dropped = 0
    for index, (ids, offsets, turn_spans) in enumerate(zip(batch["input_ids"], batch["offset_mapping"], spans)):
        ids = np.asarray(ids, dtype=np.int64)
        if loss_on == "all":
            trained = np.ones(len(ids), dtype=bool)
        else:
            starts = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)[:, 0]
            trained = np.zeros(len(ids), dtype=bool)
            for start, end in turn_spans:
                trained |= (starts >= start) & (starts < end)
        if len(ids) > max_length:
            truncated += 1
            ids, trained = ids[:max_length], trained[:max_length]
        # the first token is never predicted (no context), so it cannot carry the only target
        if not trained[1:].any():
            dropped += 1
            continue
        out_ids.append(ids.tolist())
        out_labels.append(np.where(trained, ids, IGNORE).tolist())
        kept.append(index)
    return Encoded(out_ids, out_labels, kept, truncated, dropped)


def encode_prompt(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """Ids of a prompt ready for generation (template + generation prompt)."""
    text = render(tokenizer, messages, generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]
