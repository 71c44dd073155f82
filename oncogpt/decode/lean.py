"""The lean LLaMA forward: about 20 tensor ops a layer on the decoder's own copy of the weights.

Fused q/k/v and gate/up projections, residual adds fused into the matmul where the weight
format can, one RMSNorm op, a static KV cache written in place. Each linear layer's weight is
a `oncogpt.decode.weights.Linear` in the format asked for (dense, int8 or int4; the lm_head
too: it is a fifth of SmolLM2-135M's weights).

Imports `weights` and `runner` only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F

from oncogpt.decode.runner import StaticKV
from oncogpt.decode.weights import Linear, make_linear, rescore_top


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


@dataclasses.dataclass
class _LayerWeights:
    in_norm: torch.Tensor
    qkv: Linear
    o: Linear
    post_norm: torch.Tensor
    gate_up: Linear
    down: Linear


def is_lean_llama(model: Any) -> bool:
    """Models the lean forward reproduces exactly: plain LLaMA (SmolLM2, TinyLlama, Llama 2/3)."""
    cfg = getattr(model, "config", None)
    return (
        type(model).__name__ == "LlamaForCausalLM"
        and getattr(cfg, "hidden_act", "") == "silu"
        and not getattr(cfg, "attention_bias", False)
        and not getattr(cfg, "mlp_bias", False)
        and getattr(cfg, "pretraining_tp", 1) == 1
    )


class LeanLlama:
    """A LLaMA forward with about 20 tensor ops a layer, on its own copy of the weights."""

    def __init__(self, model: Any, dtype: torch.dtype, weights: str = "bf16") -> None:
        cfg = model.config
        self.n_heads, self.n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        self.hidden, self.inter, self.eps = cfg.hidden_size, cfg.intermediate_size, cfg.rms_norm_eps
        self.dtype, self.weights = dtype, weights
        self.rotary = model.model.rotary_emb  # computes cos/sin in fp32 for any rope scaling
        with torch.no_grad():
            self.embed = model.model.embed_tokens.weight.detach().to(dtype).clone()
            self.norm = model.model.norm.weight.detach().to(dtype).clone()
            self.lm_head = self._pack(model.lm_head.weight)
            self.layers = [self._layer_weights(layer) for layer in model.model.layers]

    def _pack(self, *weights: torch.Tensor) -> Linear:
        """The weights joined along the output dim, in the decoder's weight format."""
        return make_linear(torch.cat([w.detach() for w in weights]), self.weights, self.dtype)

    def _layer_weights(self, layer: Any) -> _LayerWeights:
        att, mlp = layer.self_attn, layer.mlp
        return _LayerWeights(
            in_norm=layer.input_layernorm.weight.detach().to(self.dtype).clone(),
            qkv=self._pack(att.q_proj.weight, att.k_proj.weight, att.v_proj.weight),
            o=self._pack(att.o_proj.weight),
            post_norm=layer.post_attention_layernorm.weight.detach().to(self.dtype).clone(),
            gate_up=self._pack(mlp.gate_proj.weight, mlp.up_proj.weight),
            down=self._pack(mlp.down_proj.weight),
        )

    def new_cache(self, batch: int, length: int) -> StaticKV:
        shape = (batch, self.n_kv, length, self.head_dim)
        n = len(self.layers)
        # Zeroed: padding slots are never written, and masked garbage (NaN) still poisons
        # attention (NaN times a zero weight is NaN).
        return StaticKV(
            [torch.zeros(shape, dtype=self.dtype) for _ in range(n)],
            [torch.zeros(shape, dtype=self.dtype) for _ in range(n)],
        )

    def prefill(
        self,
        cache: StaticKV,
        ids: torch.Tensor,
        positions: torch.Tensor,
        valid: torch.Tensor | None,
    ) -> torch.Tensor:
        """Logits after the prompts. Padded rows are run one by one, each written into its
        slots of the batch cache through a view: a prompt pass is compute-bound, so a padded
        batch would only add work (3x for the real questions of the benchmark)."""
        if valid is None:
            return self.forward(cache, ids, positions, None, 0)
        logits = []
        for row in range(len(ids)):
            pad = int((~valid[row, : ids.shape[1]]).sum())
            view = StaticKV(
                [k[row : row + 1, :, pad:] for k in cache.keys],
                [v[row : row + 1, :, pad:] for v in cache.values],
            )
            one = slice(row, row + 1)
            logits.append(self.forward(view, ids[one, pad:], positions[one, pad:], None, 0))
        return torch.cat(logits)

    def select_cache(self, cache: StaticKV, rows: torch.Tensor) -> StaticKV:
        return cache.select(rows)

    def forward(
        self,
        cache: StaticKV,
        ids: torch.Tensor,
        positions: torch.Tensor,
        valid: torch.Tensor | None,
        start: int,
    ) -> torch.Tensor:
        """Float32 logits of the last position of each row; ids and positions are (batch, n),
        written to the cache at [start, start + n); `valid` marks the cache's real tokens."""
        h = F.embedding(ids, self.embed)
        cos, sin = self.rotary(h, positions)
        cos, sin = cos.unsqueeze(2), sin.unsqueeze(2)  # broadcast over heads
        mask = attention_mask(valid, ids.shape[1], start)
        for w, k, v in zip(self.layers, cache.keys, cache.values, strict=True):
            h = self._layer(w, h, cos, sin, k, v, start, mask)
        last = F.rms_norm(h[:, -1], (self.hidden,), self.norm, self.eps)
        return rescore_top(self.lm_head, last, self.lm_head(last).float())

    def _layer(
        self,
        w: _LayerWeights,
        h: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        start: int,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        batch, n, _ = h.shape
        nh, nkv, end = self.n_heads, self.n_kv, start + h.shape[1]
        x = F.rms_norm(h, (self.hidden,), w.in_norm, self.eps)
        qkv = w.qkv(x).view(batch, n, nh + 2 * nkv, self.head_dim)
        qk = qkv[:, :, : nh + nkv]
        qk = qk * cos + _rotate_half(qk) * sin  # rope on queries and keys in one go
        k_cache[:, :, start:end] = qk[:, :, nh:].transpose(1, 2)
        v_cache[:, :, start:end] = qkv[:, :, nh + nkv :].transpose(1, 2)
        att = self._attend(qk[:, :, :nh], k_cache[:, :, :end], v_cache[:, :, :end], mask)
        h = w.o.add(att, h)
        x = F.rms_norm(h, (self.hidden,), w.post_norm, self.eps)
        gate, up = w.gate_up(x).split(self.inter, dim=-1)
        return w.down.add(F.silu(gate) * up, h)

    def _attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Attention of q (batch, n, heads, dim) over the cache; returns (batch, n, heads*dim)."""
        batch, n = q.shape[:2]
        if n == 1:
            # One query: the heads sharing a KV head become that head's queries, so grouped
            # attention needs neither a repeat of the cache nor a causal mask.
            q = q.reshape(batch, self.n_kv, self.n_heads // self.n_kv, self.head_dim)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            return out.reshape(batch, 1, self.n_heads * self.head_dim)
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k, v, attn_mask=mask, is_causal=mask is None, enable_gqa=True
        )
        return out.transpose(1, 2).reshape(batch, n, self.n_heads * self.head_dim)


def attention_mask(valid: torch.Tensor | None, n: int, start: int) -> torch.Tensor | None:
    """Bool mask (batch, 1, n, start + n) for n queries at [start, start + n), or None when
    no row is padded (then a prefill from 0 is plain causal and one query sees everything).

    Every query also sees itself, so a padding row never has all its keys masked: that would
    give NaN, and NaN keys poison the real rows through the attention matmul.
    """
    if valid is None:
        return None
    end = start + n
    keys = valid[:, None, None, :end]
    if n == 1:
        return keys
    query_pos = torch.arange(start, end)[:, None]
    key_pos = torch.arange(end)[None, :]
    return (keys & (key_pos <= query_pos)) | (key_pos == query_pos)
