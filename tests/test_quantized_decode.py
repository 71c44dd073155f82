"""Weight-only int8 / int4 decoding (oncogpt.decode.weights) on the tiny random LLaMA, and the
`--weights` choice from the CLI to the decoder. The real model: tests/test_default_model.py."""

from __future__ import annotations

import argparse

import pytest
import torch

from oncogpt.decode.weights import (
    DEFAULT_WEIGHTS,
    KERNEL_MAX_ROWS,
    DenseLinear,
    Int4Linear,
    Int8Linear,
    make_linear,
    resolve_weights,
)
from oncogpt.fastdecode import FastDecoder
from oncogpt.generate import Engine, GenerationError, SamplingConfig
from tests.test_fastdecode import TEXTS

GREEDY = SamplingConfig(greedy=True, max_new_tokens=16)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from tests.conftest import load_sharpened_tiny_llama

    return load_sharpened_tiny_llama(tiny_model_dir, seed=1)


@pytest.fixture(scope="module")
def q4_model(model):
    """The model with weights already on an int4 grid, as the default model's are (it ships as
    GGUF Q4_1, the same grid of 32-weight groups): int4 should reproduce it closely."""
    import copy

    q4 = copy.deepcopy(model)
    with torch.no_grad():
        for module in q4.modules():
            if isinstance(module, torch.nn.Linear) and Int4Linear.fits(module.weight):
                module.weight.copy_(Int4Linear(module.weight).dequantized(torch.float32))
    return q4


@pytest.fixture(scope="module")
def prompts(tiny_tokenizer):
    return [tiny_tokenizer(t, add_special_tokens=False).input_ids for t in TEXTS]


@pytest.fixture(scope="module")
def weight():
    return torch.randn(64, 96, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("cls", "levels"), [(Int8Linear, 127), (Int4Linear, 7.5)], ids=["int8", "int4"]
)
def test_dequantized_weight_is_within_half_a_step(weight, cls, levels):
    """Round-to-nearest: no weight moves more than half a quantization step (+ bf16 scales)."""
    linear = cls(weight)
    error = (linear.dequantized(torch.float32) - weight).abs()
    if cls is Int8Linear:
        step = weight.abs().amax(dim=1, keepdim=True) / levels
    else:
        groups = weight.view(64, -1, 32)
        step = (groups.amax(-1) - groups.amin(-1)).repeat_interleave(32, dim=1) / 15
    assert (error <= step * 0.5 * 1.02 + 1e-6).all()
    assert error.max() > 0  # it really is quantized


@pytest.mark.parametrize("cls", [Int8Linear, Int4Linear], ids=["int8", "int4"])
@pytest.mark.parametrize("rows", [1, KERNEL_MAX_ROWS, KERNEL_MAX_ROWS + 1, 40])
def test_kernel_and_dequantized_paths_compute_the_same(weight, cls, rows):
    """Few rows run in torch's kernel, many on dequantized weights: both are the same layer."""
    linear = cls(weight)
    x = torch.randn(rows, 96, generator=torch.Generator().manual_seed(rows))
    exact = x.to(torch.bfloat16).float() @ linear.dequantized(torch.float32).T
    got = linear(x)
    assert got.dtype == torch.float32 and got.shape == (rows, 64)
    torch.testing.assert_close(got, exact, rtol=0.02, atol=0.05)
    torch.testing.assert_close(linear.add(x, got), 2 * got)


def test_make_linear_formats_and_int4_fallback(weight):
    assert isinstance(make_linear(weight, "bf16", torch.float32), DenseLinear)
    assert isinstance(make_linear(weight, "int8", torch.float32), Int8Linear)
    assert isinstance(make_linear(weight, "int4", torch.float32), Int4Linear)
    # 100 outputs are not a multiple of 16: torch's int4 kernel refuses them, int8 takes over
    assert isinstance(make_linear(torch.randn(100, 64), "int4", torch.float32), Int8Linear)
    with pytest.raises(ValueError, match="weights must be"):
        make_linear(weight, "int3", torch.float32)
    assert resolve_weights("auto") == DEFAULT_WEIGHTS
    assert resolve_weights("int4") == "int4"


def _prefill_logits(decoder, prompt):
    cache = decoder.runner.new_cache(1, len(prompt) + 1)
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        return decoder.runner.prefill(cache, ids, torch.arange(len(prompt))[None], None)[0]


@pytest.mark.parametrize(
    ("weights", "on_grid", "min_cos", "same_first"),
    [("int8", False, 0.999, 4), ("int4", True, 0.999, 4), ("int4", False, 0.9, 0)],
    ids=["int8", "int4-on-int4-grid", "int4-random"],
)
@pytest.mark.parametrize("backend", ["lean", "hf"])
def test_quantized_decoder_agrees_with_fp32(
    model, q4_model, tiny_tokenizer, prompts, weights, on_grid, min_cos, same_first, backend
):
    """Random weights are the hard case for int4 (a group of 32 spans a whole row of this
    model); on an int4 grid, like the real model's, it must agree as int8 does."""
    base = q4_model if on_grid else model
    reference = FastDecoder(base, tiny_tokenizer, dtype="float32", backend=backend)
    quantized = FastDecoder(base, tiny_tokenizer, dtype="float32", backend=backend, weights=weights)
    for prompt in prompts:
        a, b = _prefill_logits(reference, prompt), _prefill_logits(quantized, prompt)
        assert torch.cosine_similarity(a, b, dim=0) > min_cos
        assert not torch.equal(a, b)  # the quantized weights are really used
    want = reference.generate_batch(prompts, GREEDY)
    got = quantized.generate_batch(prompts, GREEDY)
    assert [g[:same_first] for g in got] == [w[:same_first] for w in want]
    assert got == [list(quantized.stream(p, GREEDY)) for p in prompts]  # batch = alone


@pytest.mark.parametrize("weights", ["int8", "int4"])
def test_lm_head_and_every_layer_are_quantized(model, tiny_tokenizer, weights):
    runner = FastDecoder(model, tiny_tokenizer, dtype="float32", weights=weights).runner
    layers = [runner.lm_head] + [
        getattr(w, name) for w in runner.layers for name in ("qkv", "o", "gate_up", "down")
    ]
    expected = Int8Linear if weights == "int8" else Int4Linear
    assert all(isinstance(layer, expected) for layer in layers)


def test_cli_weights_flag_reaches_the_decoder(tiny_model_dir):
    from oncogpt.cli import add_model_flags, load_engine

    parser = argparse.ArgumentParser()
    add_model_flags(parser)
    args = parser.parse_args(["--model", str(tiny_model_dir), "--weights", "int4"])
    engine = load_engine(args)
    assert engine.decoder == "fast" and engine.fast_decoder.weights == "int4"
    with pytest.raises(SystemExit):
        parser.parse_args(["--weights", "fp8"])
    assert parser.parse_args([]).weights == "auto"


def test_engine_weights_auto_and_bad(model, tiny_tokenizer):
    from oncogpt.prompts import choose_template

    template = choose_template("auto", tiny_tokenizer)
    engine = Engine(model, tiny_tokenizer, template, decoder="fast")
    assert engine.fast_decoder.weights == DEFAULT_WEIGHTS
    with pytest.raises(GenerationError, match="weights must be"):
        Engine(model, tiny_tokenizer, template, weights="int2")


@pytest.mark.parametrize("cls", [Int8Linear, Int4Linear], ids=["int8", "int4"])
def test_rescored_top_logits_are_exact_for_the_quantized_weights(cls):
    from oncogpt.decode.weights import RESCORED, rescore_top

    gen = torch.Generator().manual_seed(3)
    linear = cls(torch.randn(256, 64, generator=gen))
    x = torch.randn(2, 64, generator=gen)
    rounded = linear(x)  # bf16 steps
    exact = x @ linear.dequantized(torch.float32).T
    rescored = rescore_top(linear, x, rounded)
    top = rescored.topk(RESCORED, dim=-1).indices
    torch.testing.assert_close(rescored.gather(-1, top), exact.gather(-1, top))
    assert torch.equal(rescored.argmax(-1), exact.argmax(-1))
    assert not torch.equal(rounded.gather(-1, top), exact.gather(-1, top))
