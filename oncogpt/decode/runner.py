"""The interface of the decoder's model runners, and the static KV cache the lean one fills.

A runner is a forward pass over (batch, new tokens) that fills a KV cache and returns the
float32 logits of each row's last position. Imports nothing of OncoGPT's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import torch


class Runner(Protocol):
    """What `FastDecoder` calls; `decode.lean.LeanLlama` and `decode.hf.HFRunner` follow it."""

    def new_cache(self, batch: int, length: int) -> Any:
        """An empty cache for `batch` rows of up to `length` tokens."""
        ...

    def prefill(
        self, cache: Any, ids: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor | None
    ) -> torch.Tensor:
        """Logits (batch, vocab) after the left-padded prompts `ids` (valid: False on padding)."""
        ...

    def forward(
        self,
        cache: Any,
        ids: torch.Tensor,
        positions: torch.Tensor,
        valid: torch.Tensor | None,
        start: int,
    ) -> torch.Tensor:
        """Logits of the last of `ids` (batch, n), written to the cache at [start, start + n)."""
        ...

    def select_cache(self, cache: Any, rows: torch.Tensor) -> Any:
        """The cache of the given rows only."""
        ...


@dataclasses.dataclass
class StaticKV:
    """Per layer, keys and values of shape (batch, kv heads, max length, head dim)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    def select(self, rows: torch.Tensor) -> StaticKV:
        """The cache of the given rows (a copy: dropping finished rows is worth one)."""
        return StaticKV(
            [k.index_select(0, rows) for k in self.keys],
            [v.index_select(0, rows) for v in self.values],
        )
