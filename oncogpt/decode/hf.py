"""Any causal LM (Gemma, ...) through its own forward and a dynamic cache.

Imports `weights` only (and transformers' cache, when a cache is made).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from oncogpt.decode.weights import make_linear, onednn_bf16


class LinearModule(torch.nn.Module):
    """An `nn.Linear` with its weight in a decoder format (`oncogpt.decode.weights`)."""

    def __init__(self, linear: torch.nn.Linear, weights: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.linear = make_linear(linear.weight, weights, dtype)
        self.bias = None if linear.bias is None else linear.bias.detach().to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        return out if self.bias is None else out + self.bias


class HFRunner:
    """Any causal LM (Gemma, ...) through its own forward and a dynamic cache, on a copy of
    the model in the compute dtype with its linear layers in the decoder's weight format
    (bf16 prepacked: bf16 unpacked is slower than fp32 on CPU, as oneDNN reorders the weight
    at every call)."""

    def __init__(
        self, model: Any, dtype: torch.dtype, owned: bool = False, weights: str = "bf16"
    ) -> None:
        swap = weights != "bf16" or (dtype == torch.bfloat16 and onednn_bf16())
        if not owned and (swap or next(model.parameters()).dtype != dtype):
            model = copy.deepcopy(model)
        model = model.to(dtype)
        for module in list(model.modules()) if swap else []:
            for name, child in list(module.named_children()):
                if type(child) is torch.nn.Linear:
                    setattr(module, name, LinearModule(child, weights, dtype))
        self.model = model

    def new_cache(self, batch: int, length: int) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def forward(
        self,
        cache: Any,
        ids: torch.Tensor,
        positions: torch.Tensor,
        valid: torch.Tensor | None,
        start: int,
    ) -> torch.Tensor:
        end = start + ids.shape[1]
        mask = valid[:, :end].long() if valid is not None else torch.ones(len(ids), end, dtype=int)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[:, -1].float()

    def prefill(
        self, cache: Any, ids: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor | None
    ) -> torch.Tensor:
        return self.forward(cache, ids, positions, valid, 0)

    def select_cache(self, cache: Any, rows: torch.Tensor) -> Any:
        cache.batch_select_indices(rows)
        return cache
