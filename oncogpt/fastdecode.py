"""Fast CPU decoding for the generation engine: same answers as `model.generate`, less time.

`model.generate` spends most of a CPU decode step where it need not: fp32 weights streamed from
memory for every token (the 49k-word output layer alone is a fifth of SmolLM2-135M), a generic
forward pass with many small ops and checks per layer, and logits processors that sort the
whole vocabulary for top-p. `FastDecoder` keeps the model's maths and changes how it runs:

* weights in bf16, prepacked once for oneDNN (AVX512-BF16 matmuls, half the memory traffic);
* for LLaMA models (LoRA adapters merged into a copy), a lean forward: fused q/k/v and
  gate/up projections, residual adds fused into the matmul, one RMSNorm op, a static KV cache
  written in place; other models run their own forward (prepacked) with a dynamic cache;
* sampling on the top-k candidates only, with the repetition penalty from a "seen" mask;
* batches with left padding, positions counted from the first real token (so a batched
  answer equals the answer alone), each prompt's pass run alone into its slots of the batch
  cache (no work on padding), and finished rows dropped from the batch as it runs.

Greedy decoding in float32 gives the tokens `model.generate` gives (tests/test_fastdecode.py).
`benchmarks/generate_throughput.py` measures it against the plain baseline.

Measured and left out: torch.compile. transformers' own route (bf16, static cache, compile)
spent 65 s compiling and then decoded slower than plain fp32 (5.8 vs 7.4 tokens/s); compiling
the lean forward with inductor's weight freezing gained 5-15% per token for 90-130 s of
compiling per batch size and cache length, which a chat or an evaluation run never earns back.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import torch
import torch.nn.functional as F

DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


class Sampling(Protocol):
    """What `FastDecoder` reads from a sampling config (`oncogpt.generate.SamplingConfig`)."""

    temperature: float
    top_k: int
    top_p: float
    repetition_penalty: float
    max_new_tokens: int
    greedy: bool
    seed: int | None


# --- logits processors (the rules of transformers' processors, on fewer tokens) -------------


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


# --- model runners: a forward pass over (batch, new tokens) that fills a KV cache ----------


def onednn_bf16() -> bool:
    """Whether oneDNN has bf16 matmuls on this CPU (AVX512-BF16 or AMX)."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


@dataclasses.dataclass
class _LayerWeights:
    in_norm: torch.Tensor
    qkv: torch.Tensor
    o: torch.Tensor
    post_norm: torch.Tensor
    gate_up: torch.Tensor
    down: torch.Tensor


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

    def __init__(self, model: Any, dtype: torch.dtype) -> None:
        cfg = model.config
        self.n_heads, self.n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads
        self.hidden, self.inter, self.eps = cfg.hidden_size, cfg.intermediate_size, cfg.rms_norm_eps
        self.dtype = dtype
        self.packed = dtype == torch.bfloat16 and onednn_bf16()
        self.rotary = model.model.rotary_emb  # computes cos/sin in fp32 for any rope scaling
        with torch.no_grad():
            self.embed = model.model.embed_tokens.weight.detach().to(dtype).clone()
            self.norm = model.model.norm.weight.detach().to(dtype).clone()
            self.lm_head = self._pack(model.lm_head.weight)
            self.layers = [self._layer_weights(layer) for layer in model.model.layers]

    def _pack(self, *weights: torch.Tensor) -> torch.Tensor:
        """The weights joined along the output dim; prepacked once so oneDNN never reorders
        them per call (that reorder is most of the time of an unpacked bf16 matmul)."""
        w = torch.cat([x.detach().to(self.dtype) for x in weights]).contiguous()
        return torch.ops.mkldnn._reorder_linear_weight(w) if self.packed else w

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

    def _linear(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.packed:
            return torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "")
        return F.linear(x, w)

    def _linear_add(self, x: torch.Tensor, w: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        if self.packed:  # the residual add happens inside the matmul kernel
            return torch.ops.mkldnn._linear_pointwise.binary(x, residual, w, None, "add")
        return residual + F.linear(x, w)

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
        return self._linear(last, self.lm_head).float()

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
        qkv = self._linear(x, w.qkv).view(batch, n, nh + 2 * nkv, self.head_dim)
        qk = qkv[:, :, : nh + nkv]
        qk = qk * cos + _rotate_half(qk) * sin  # rope on queries and keys in one go
        k_cache[:, :, start:end] = qk[:, :, nh:].transpose(1, 2)
        v_cache[:, :, start:end] = qkv[:, :, nh + nkv :].transpose(1, 2)
        att = self._attend(qk[:, :, :nh], k_cache[:, :, :end], v_cache[:, :, :end], mask)
        h = self._linear_add(att, w.o, h)
        x = F.rms_norm(h, (self.hidden,), w.post_norm, self.eps)
        gate, up = self._linear(x, w.gate_up).split(self.inter, dim=-1)
        return self._linear_add(F.silu(gate) * up, w.down, h)

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


class PackedLinear(torch.nn.Module):
    """An `nn.Linear` whose bf16 weight is prepacked for oneDNN, as in `LeanLlama._pack`."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach())
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")


class HFRunner:
    """Any causal LM (Gemma, ...) through its own forward and a dynamic cache, on a copy of
    the model in the compute dtype with its linear layers prepacked (bf16 unpacked is slower
    than fp32 on CPU: oneDNN reorders the weight at every call)."""

    def __init__(self, model: Any, dtype: torch.dtype, owned: bool = False) -> None:
        pack = dtype == torch.bfloat16 and onednn_bf16()
        if not owned and (pack or next(model.parameters()).dtype != dtype):
            model = copy.deepcopy(model)
        model = model.to(dtype)
        for module in list(model.modules()) if pack else []:
            for name, child in list(module.named_children()):
                if type(child) is torch.nn.Linear:
                    setattr(module, name, PackedLinear(child))
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


# --- the decode loop ------------------------------------------------------------------------


@dataclasses.dataclass
class _Batch:
    """The rows being decoded, all of the same length (prompts left-padded)."""

    rows: torch.Tensor
    """Each row's index in the caller's list of prompts."""
    cache: Any
    seen: torch.Tensor
    """(rows, vocab) bool: tokens in the prompt or answer, for the repetition penalty."""
    valid: torch.Tensor | None
    """(rows, prompt + max new) bool: False on padding; None when nothing is padded."""
    next_pos: torch.Tensor
    """(rows,) the position of each row's next token."""
    done: torch.Tensor
    """(rows,) bool: the row has ended but is still in the batch."""
    length: int
    """Tokens in the cache (padding included)."""

    def select(self, keep: torch.Tensor, runner: Any) -> _Batch:
        return _Batch(
            rows=self.rows[keep],
            cache=runner.select_cache(self.cache, keep),
            seen=self.seen[keep],
            valid=None if self.valid is None else self.valid[keep],
            next_pos=self.next_pos[keep],
            done=self.done[keep],
            length=self.length,
        )


def left_pad(
    prompts: Sequence[Sequence[int]], pad: int, extra: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(ids, positions, valid) for left-padded prompts; `valid` has room for `extra` tokens.

    Positions count from each row's first real token, as transformers' generate does, so a
    padded row computes what it would alone.
    """
    longest = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (longest - len(p)) + list(p) for p in prompts])
    if all(len(p) == longest for p in prompts):
        return ids, torch.arange(longest).expand(len(prompts), longest), None
    valid = torch.ones(len(prompts), longest + extra, dtype=torch.bool)
    for row, p in enumerate(prompts):
        valid[row, : longest - len(p)] = False
    positions = (valid[:, :longest].cumsum(-1) - 1).clamp(min=0)
    return ids, positions, valid


class FastDecoder:
    """Decodes prompts (token ids) with a model; see the module docstring for what is faster.

    `dtype` is the compute precision: "bfloat16" (fast; greedy answers may differ from fp32
    after a few dozen tokens, as any bf16 run would) or "float32" (generate's own tokens).
    The decoder keeps its own copy of the weights in that dtype and never changes `model`.
    `num_threads`, when given, sets torch's (process-wide) thread count. `backend` "auto"
    takes the lean forward for plain LLaMA models and the model's own forward otherwise.
    `eos_token_ids` replaces the end tokens (default: the tokenizer's and the generation
    config's); an empty list decodes exactly `max_new_tokens`, as benchmarks need.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        dtype: str = "bfloat16",
        num_threads: int | None = None,
        backend: str = "auto",
        eos_token_ids: Sequence[int] | None = None,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if backend not in ("auto", "lean", "hf"):
            raise ValueError(f"backend must be auto, lean or hf, got {backend!r}")
        if num_threads:
            torch.set_num_threads(num_threads)
        self.tokenizer = tokenizer
        self.dtype = DTYPES[dtype]
        eos = _eos_ids(model, tokenizer) if eos_token_ids is None else set(eos_token_ids)
        self.eos = torch.tensor(sorted(eos), dtype=torch.long)
        pad = tokenizer.pad_token_id  # any id will do: padding is masked out everywhere
        self.pad = pad if pad is not None else int(self.eos[0]) if len(self.eos) else 0
        merged = _merge_adapter(model)
        lean = backend == "lean" or (backend == "auto" and is_lean_llama(merged))
        self.backend = "lean" if lean else "hf"
        self.runner: Any = (
            LeanLlama(merged, self.dtype)
            if lean
            else HFRunner(merged, self.dtype, owned=merged is not model)
        )

    def stream(
        self,
        prompt_ids: Sequence[int],
        sampling: Sampling,
        stop_event: threading.Event | None = None,
    ) -> Iterator[int]:
        """The answer's token ids as they are decoded (the end token is not yielded)."""
        for _, tokens in self._decode([prompt_ids], sampling, stop_event):
            yield from tokens

    def stream_text(
        self,
        prompt_ids: Sequence[int],
        sampling: Sampling,
        stop_event: threading.Event | None = None,
    ) -> Iterator[str]:
        """The answer's text as it is decoded, never splitting a character across pieces."""
        ids: list[int] = []
        prefix = read = 0  # decode from `prefix` so a word's leading space is kept
        for token in self.stream(prompt_ids, sampling, stop_event):
            ids.append(token)
            before = self.tokenizer.decode(ids[prefix:read], skip_special_tokens=True)
            text = self.tokenizer.decode(ids[prefix:], skip_special_tokens=True)
            if len(text) > len(before) and not text.endswith("\ufffd"):
                yield text[len(before) :]
                prefix, read = read, len(ids)

    def generate_batch(
        self,
        prompts: Sequence[Sequence[int]],
        sampling: Sampling,
        stop_event: threading.Event | None = None,
    ) -> list[list[int]]:
        """Each prompt's answer ids (without the end token), decoded as one left-padded batch."""
        answers: list[list[int]] = [[] for _ in prompts]
        for rows, tokens in self._decode(prompts, sampling, stop_event):
            for row, token in zip(rows, tokens, strict=True):
                answers[row].append(token)
        return answers

    def generate_many(
        self, prompts: Sequence[Sequence[int]], sampling: Sampling, batch_size: int = 16
    ) -> list[list[int]]:
        """Answers for any number of prompts, in batches of similar length (less padding)."""
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        answers: list[list[int]] = [[] for _ in prompts]
        for first in range(0, len(order), batch_size):
            chunk = order[first : first + batch_size]
            batch = self.generate_batch([prompts[i] for i in chunk], sampling)
            for i, answer in zip(chunk, batch, strict=True):
                answers[i] = answer
        return answers

    @torch.inference_mode()
    def _decode(
        self,
        prompts: Sequence[Sequence[int]],
        sampling: Sampling,
        stop_event: threading.Event | None,
    ) -> Iterator[tuple[list[int], list[int]]]:
        """Per step, (rows, tokens) of the rows still answering; a row ends at an end token.

        The decorator enters inference mode at each resume and leaves it at each yield, so the
        caller's code between tokens runs in its own mode.
        """
        if not prompts or not all(len(p) for p in prompts):
            raise ValueError("every prompt needs at least one token")
        generator = None if sampling.seed is None else torch.Generator().manual_seed(sampling.seed)
        batch, logits = self._prefill(prompts, sampling.max_new_tokens)
        for step in range(sampling.max_new_tokens):
            if stop_event is not None and stop_event.is_set():
                return
            tokens = pick_tokens(logits, batch.seen, sampling, generator)
            ended = torch.isin(tokens, self.eos)
            alive = ~(batch.done | ended)
            yield batch.rows[alive].tolist(), tokens[alive].tolist()
            if step + 1 == sampling.max_new_tokens or not alive.any():
                return
            batch.done |= ended
            batch.seen[torch.arange(len(tokens)), tokens] = True
            tokens, batch = self._drop_finished(batch, tokens)
            logits = self.runner.forward(
                batch.cache, tokens[:, None], batch.next_pos[:, None], batch.valid, batch.length
            )
            batch.next_pos += 1
            batch.length += 1

    def _prefill(
        self, prompts: Sequence[Sequence[int]], max_new_tokens: int
    ) -> tuple[_Batch, torch.Tensor]:
        ids, positions, valid = left_pad(prompts, self.pad, max_new_tokens)
        rows, length = ids.shape
        cache = self.runner.new_cache(rows, length + max_new_tokens)
        logits = self.runner.prefill(cache, ids, positions, valid)
        # One spare column takes the padding's writes, so padding never counts as seen.
        seen = torch.zeros(rows, logits.shape[-1] + 1, dtype=torch.bool)
        pad_col = logits.shape[-1]
        seen.scatter_(1, ids if valid is None else ids.where(valid[:, :length], pad_col), True)
        batch = _Batch(
            rows=torch.arange(rows),
            cache=cache,
            seen=seen[:, :pad_col],
            valid=valid,
            next_pos=positions[:, -1] + 1,
            done=torch.zeros(rows, dtype=torch.bool),
            length=length,
        )
        return batch, logits

    def _drop_finished(self, batch: _Batch, tokens: torch.Tensor) -> tuple[torch.Tensor, _Batch]:
        """Drop ended rows from the batch once an eighth of it has ended: copying the cache
        costs about what a few steps of a dead row cost, so rows are dropped in groups."""
        n_done = int(batch.done.sum())
        if n_done == 0 or n_done * 8 < len(tokens):
            return tokens, batch
        keep = (~batch.done).nonzero().squeeze(1)
        return tokens[keep], batch.select(keep, self.runner)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The tokenizer's end token and any the model's generation config adds (Llama 3 has two)."""
    ids = {tokenizer.eos_token_id}
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(config_eos if isinstance(config_eos, list) else [config_eos])
    ids.discard(None)
    if not ids:
        raise ValueError("the tokenizer has no end token")
    return ids


def _merge_adapter(model: Any) -> Any:
    """A PEFT (LoRA) model as a plain one: a copy with the adapter merged into its weights,
    so it decodes at the base model's speed. Other models are returned as they are."""
    if hasattr(model, "peft_config") and hasattr(model, "merge_and_unload"):
        return copy.deepcopy(model).merge_and_unload()
    return model
