"""Fast CPU decoding for the generation engine: same answers as `model.generate`, less time.

`model.generate` spends most of a CPU decode step where it need not: fp32 weights streamed from
memory for every token (the 49k-word output layer alone is a fifth of SmolLM2-135M), a generic
forward pass with many small ops and checks per layer, and logits processors that sort the
whole vocabulary for top-p. `FastDecoder` keeps the model's maths and changes how it runs:

* weights in bf16, prepacked once for oneDNN (AVX512-BF16 matmuls, half the memory traffic),
  or weight-only int8 / int4 (`weights=`, `oncogpt.decode.weights`), the lm_head included;
* for LLaMA models (LoRA adapters merged into a copy), a lean forward: fused q/k/v and
  gate/up projections, residual adds fused into the matmul, one RMSNorm op, a static KV cache
  written in place; other models run their own forward (prepacked) with a dynamic cache;
* sampling on the top-k candidates only, with the repetition penalty from a "seen" mask;
* batches with left padding, positions counted from the first real token (so a batched
  answer equals the answer alone), each prompt's pass run alone into its slots of the batch
  cache (no work on padding), and finished rows dropped from the batch as it runs.

This module holds the decode loop; the sampling rules, the weight formats, the runners'
interface (`Runner`) and the two runners live in `oncogpt.decode`.

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
from typing import Any

import torch

from oncogpt.decode.hf import HFRunner
from oncogpt.decode.lean import LeanLlama, is_lean_llama
from oncogpt.decode.runner import Runner
from oncogpt.decode.sampling import Sampling, pick_tokens
from oncogpt.decode.weights import WEIGHTS, onednn_bf16

__all__ = ["FastDecoder", "left_pad", "onednn_bf16"]

DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


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

    def select(self, keep: torch.Tensor, runner: Runner) -> _Batch:
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
        weights: str = "bf16",
    ) -> None:
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
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
        self.backend, self.weights = ("lean" if lean else "hf"), weights
        self.runner: Runner = (
            LeanLlama(merged, self.dtype, weights)
            if lean
            else HFRunner(merged, self.dtype, owned=merged is not model, weights=weights)
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
