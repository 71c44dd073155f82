"""Choosing the next token: transformers' logits processors, applied to fewer tokens.

Imports nothing of OncoGPT's (the sampling settings are read through the `Sampling` protocol).
"""

from __future__ import annotations

from typing import Protocol

import torch


class Sampling(Protocol):
    """What the decoder reads from a sampling config (`oncogpt.generate.SamplingConfig`)."""

    temperature: float
    top_k: int
    top_p: float
    repetition_penalty: float
    max_new_tokens: int
    greedy: bool
    seed: int | None


def apply_repetition_penalty(
    logits: torch.Tensor, seen: torch.Tensor, penalty: float
) -> torch.Tensor:
    """transformers' rule for tokens already in the prompt or answer (`seen`, a bool mask):
    positive logits are divided by the penalty, negative ones multiplied."""
    if penalty == 1.0:
        return logits
    penalized = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalized, logits)


def top_k_top_p(
    logits: torch.Tensor, top_k: int, top_p: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(candidate logits, their token ids), best first; candidates outside top-p are -inf.

    Top-k first, so top-p sorts k values, not the vocabulary: tokens outside the top k get
    no probability in transformers either. A token is cut when the tokens ranked above it
    already hold `top_p` of the mass, which is transformers' `cumsum <= 1 - top_p` rule
    seen from the other end; the best token is always kept.
    """
    if 0 < top_k < logits.shape[-1]:
        values, ids = logits.topk(top_k, dim=-1)
    else:
        values, ids = logits.sort(dim=-1, descending=True)
    if top_p < 1.0:
        probs = values.softmax(dim=-1)
        mass_above = probs.cumsum(dim=-1) - probs
        values = values.masked_fill(mass_above >= top_p, float("-inf"))
    return values, ids


def pick_tokens(
    logits: torch.Tensor,
    seen: torch.Tensor,
    sampling: Sampling,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The next token of each row, by transformers' order: repetition penalty, then (when
    sampling) temperature, top-k, top-p and a draw."""
    logits = apply_repetition_penalty(logits.float(), seen, sampling.repetition_penalty)
    if sampling.greedy or sampling.temperature == 0:
        return logits.argmax(dim=-1)
    values, ids = top_k_top_p(logits / sampling.temperature, sampling.top_k, sampling.top_p)
    choice = torch.multinomial(values.softmax(dim=-1), 1, generator=generator)
    return ids.gather(-1, choice).squeeze(-1)
