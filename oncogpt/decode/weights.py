"""Weight formats for the decoder's linear layers: dense (bf16 or fp32), int8 and int4.

Decoding one stream reads every weight once a token, so its speed is bytes per token. The
quantized formats are weight-only (activations stay in the compute dtype, cast to bf16 for the
kernel) and use torch's own CPU kernels:

* `int8`: symmetric, one scale per output channel, `aten._weight_int8pack_mm`;
* `int4`: asymmetric (scale and zero) per group of 32 inputs along each output channel, the
  tinygemm layout of `aten._weight_int4pack_mm_for_cpu` (and the layout of the GGUF Q4_1 the
  default model ships as). A layer whose shape the kernel refuses (outputs not a multiple of
  16, inputs not of 32) is stored as int8.

Measured on a 1-thread AVX2 CPU (no bf16 matmuls; `/tmp` micro-benchmark, best of 7):
the 49152x576 lm_head takes 19.1 ms in fp32, 9.0 ms in int8 and 6.2 ms in int4; the
1536x576 MLP matmul 148 us in fp32, 128 in int8 and 186 in int4 for one row. The kernels lose
to a dense matmul from about 8 rows up (1536x576 at 16 rows: fp32 724 us, int8 1165), and a
500-row prompt takes them 3x the fp32 time; so above `KERNEL_MAX_ROWS` rows a quantized
layer is dequantized to the compute dtype for that call (at 500 rows that costs 4% over fp32).

Greedy agreement with fp32 (the default base model, the first 32 questions of
../shared/data/oncogpt_qa_public.json, 64 greedy tokens, fp32 compute, /tmp probe run as
benchmarks/generate_throughput.py's (d) does it): mean tokens shared before the first
difference, and questions identical over all 64:

    int8   17.4 / 64, 2 of 32 identical, 29 of 32 share the first token
           (13.0 and 0 of 32 before the lm_head's top logits were rescored in float32)
    int4    4.1 / 64, 0 of 32 identical, 28 of 32 share the first token
    bf16   25.6 / 64, 7 of 32 identical (unquantized weights, bf16 compute)

The bar for `auto`: a quantized format becomes the default only when its agreement is at
least the bf16 path's (the engine's path on CPUs with bf16 matmuls, which drifts from fp32
itself). int8 (17.4) and int4 (4.1) are below it, so `auto` stays unquantized and both are
choices. (The eval metrics' CIs, the issue's other bar, were not measured for them.)

Speed, benchmarks/generate_throughput.py's single-stream turns (`--child single --weights
bf16,int8,int4 --new-tokens 64 --repeat 2 --threads 1`) on this AVX2 CPU, fp32 compute, a
heavily shared machine (plain generate ran at 2.4 tokens/s): decode tokens/s over the bf16
path (fp32 here) 1.31x for int8 (4.56/3.37, 4.16/3.26) and 1.64x for int4 (6.15/3.37,
4.74/3.26), medians of paired turns; time to first token for the 499-token prompt 1.3x
longer with int8 and 1.6x with int4 (the prompt pass runs on weights dequantized per call).

Imports nothing of OncoGPT's.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

WEIGHTS = ("bf16", "int8", "int4")
"""The formats `--weights` offers; "bf16" is the unquantized path (bf16 prepacked where the
CPU has bf16 matmuls, the compute dtype, float32, elsewhere)."""

DEFAULT_WEIGHTS = "bf16"
"""What `--weights auto` takes: the fastest format whose greedy agreement with fp32 holds
(see the module docstring for the measurement and the bar)."""

KERNEL_MAX_ROWS = 8
"""Up to this many rows a quantized matmul runs in its kernel; above, on dequantized weights."""

INT4_GROUP = 32


def onednn_bf16() -> bool:
    """Whether oneDNN has bf16 matmuls on this CPU (AVX512-BF16 or AMX)."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


class Linear(Protocol):
    """A bias-free linear layer's weight in some format; `x` has any leading dims."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def add(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """residual + self(x) (fused where the format can)."""
        ...


class DenseLinear:
    """The weight in the compute dtype; bf16 is prepacked once for oneDNN, so it is never
    reordered per call (that reorder is most of the time of an unpacked bf16 matmul)."""

    def __init__(self, weight: torch.Tensor, dtype: torch.dtype) -> None:
        self.packed = dtype == torch.bfloat16 and onednn_bf16()
        w = weight.detach().to(dtype).contiguous()
        self.weight = torch.ops.mkldnn._reorder_linear_weight(w) if self.packed else w

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, None, "none", [], "")
        return F.linear(x, self.weight)

    def add(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        if self.packed:  # the residual add happens inside the matmul kernel
            return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.weight, None, "add")
        return residual + F.linear(x, self.weight)


class _Quantized:
    """Shared by the quantized formats: the kernel for few rows, dequantized weights for many."""

    def _kernel(self, x2d: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        """The weight (out, in) as the kernel sees it, in `dtype`."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1]
        x16 = x.to(torch.bfloat16)
        if rows > KERNEL_MAX_ROWS:
            # Rounded as the kernel's bf16 input and output are, so that a prompt's pass (many
            # rows) and its decode steps (few) compute one layer, alone or in a batch.
            out = F.linear(x16.to(x.dtype), self.dequantized(x.dtype))
            return out.to(torch.bfloat16).to(x.dtype)
        out = self._kernel(x16.reshape(rows, x.shape[-1]))
        return out.to(x.dtype).reshape(*x.shape[:-1], out.shape[-1])

    def add(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return residual + self(x)

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """The dequantized float32 weight rows (outputs) `index`, shape (*index.shape, in)."""
        raise NotImplementedError


class Int8Linear(_Quantized):
    """Symmetric int8 with one bf16 scale per output channel."""

    def __init__(self, weight: torch.Tensor) -> None:
        w = weight.detach().float()
        scales = (w.abs().amax(dim=1) / 127).clamp(min=1e-12).to(torch.bfloat16)
        self.q = torch.round(w / scales.float()[:, None]).clamp(-127, 127).to(torch.int8)
        self.scales = scales

    def _kernel(self, x2d: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int8pack_mm(x2d, self.q, self.scales)

    def dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        return (self.q.to(dtype) * self.scales.to(dtype)[:, None]).contiguous()

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        return self.q[index].float() * self.scales[index].float()[..., None]


class Int4Linear(_Quantized):
    """Asymmetric int4 per group of `INT4_GROUP` inputs: w = (q - 8) * scale + zero."""

    def __init__(self, weight: torch.Tensor) -> None:
        w = weight.detach().float()
        out, inp = w.shape
        groups = w.view(out, inp // INT4_GROUP, INT4_GROUP)
        low, high = groups.amin(dim=-1), groups.amax(dim=-1)
        scale = ((high - low) / 15).clamp(min=1e-12).to(torch.bfloat16).float()
        q = torch.round((groups - low[..., None]) / scale[..., None]).clamp(0, 15)
        zero = (low + 8 * scale).to(torch.bfloat16)
        # (in / group, out, 2): the kernel's layout of scales and zeros
        self.scale_zero = torch.stack([scale.to(torch.bfloat16), zero], dim=-1).transpose(0, 1)
        self.scale_zero = self.scale_zero.contiguous()
        self.q4 = q.to(torch.uint8).view(out, inp)  # kept for `dequantized`
        self.packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(self.q4.to(torch.int32), 1)

    @staticmethod
    def fits(weight: torch.Tensor) -> bool:
        """Whether the kernel takes this shape."""
        out, inp = weight.shape
        return out % 16 == 0 and inp % INT4_GROUP == 0

    def _kernel(self, x2d: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(
            x2d, self.packed, INT4_GROUP, self.scale_zero
        )

    def dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        out, inp = self.q4.shape
        scale, zero = self.scale_zero.transpose(0, 1).to(dtype).unbind(-1)
        q = self.q4.view(out, inp // INT4_GROUP, INT4_GROUP).to(dtype) - 8
        return (q * scale[..., None] + zero[..., None]).view(out, inp)

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        out, inp = self.q4.shape
        q = self.q4[index].float().view(*index.shape, inp // INT4_GROUP, INT4_GROUP) - 8
        scale, zero = self.scale_zero[:, index].float().movedim(0, -2).unbind(-1)
        return (q * scale[..., None] + zero[..., None]).view(*index.shape, inp)


RESCORED = 64
"""Output logits recomputed in float32 after a quantized lm_head (see `rescore_top`)."""


def rescore_top(linear: Linear, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """`logits` = linear(x) (rows, vocab) with its top RESCORED recomputed in float32.

    The kernels return bf16: at a logit of 30 its step is 0.125, so the greedy choice between
    two close candidates was a coin toss. Measured on the default model (first real question,
    fp32 reference logits): the int8 lm_head's top logits came back as 29.75, 28.75, 28.375
    for 29.84, 28.97, 28.48. The best RESCORED candidates by the rounded logits hold the best
    ones by the exact logits unless 64 tokens crowd within a step of the top; recomputing them
    reads 64 weight rows, nothing next to the matmul. Dense weights are returned as they are.
    """
    if not isinstance(linear, _Quantized) or logits.shape[-1] <= RESCORED:
        return logits
    top = logits.topk(RESCORED, dim=-1).indices
    exact = torch.einsum("rki,ri->rk", linear.rows(top), x.float())
    return logits.scatter(-1, top, exact)


def resolve_weights(weights: str) -> str:
    """`auto` as DEFAULT_WEIGHTS; a known format as it is; anything else is an error."""
    if weights == "auto":
        return DEFAULT_WEIGHTS
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be auto or one of {', '.join(WEIGHTS)}, got {weights!r}")
    return weights


def make_linear(weight: torch.Tensor, weights: str, dtype: torch.dtype) -> Linear:
    """`weight` (out, in) in the format `weights` names (one of WEIGHTS), computing in `dtype`."""
    if weights == "bf16":
        return DenseLinear(weight, dtype)
    if weights == "int4" and Int4Linear.fits(weight):
        return Int4Linear(weight)
    if weights in ("int8", "int4"):
        return Int8Linear(weight)
    raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
