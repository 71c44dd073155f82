"""FastDecoder against transformers' generate, on the tiny random LLaMA (fast, no timing)."""

from __future__ import annotations

import copy
import threading

import pytest
import torch

from oncogpt.decode.lean import attention_mask
from oncogpt.decode.sampling import apply_repetition_penalty, pick_tokens, top_k_top_p
from oncogpt.fastdecode import FastDecoder, left_pad
from oncogpt.generate import SamplingConfig

GREEDY = SamplingConfig(greedy=True, max_new_tokens=24)
TEXTS = [
    "Patient: My father has lung cancer with liver metastasis.",
    "Fever during chemotherapy needs urgent care now. Call your",
    "CEA",
]


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    """Larger random weights, so "same tokens as generate" is a strong check."""
    from tests.conftest import load_sharpened_tiny_llama

    return load_sharpened_tiny_llama(tiny_model_dir, seed=1)


@pytest.fixture(scope="module")
def prompts(tiny_tokenizer):
    return [tiny_tokenizer(t, add_special_tokens=False).input_ids for t in TEXTS]


def hf_greedy(model, tokenizer, prompt: list[int], n: int) -> list[int]:
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=n,
            do_sample=False,
            repetition_penalty=1.1,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    return out[0, len(prompt) :].tolist()


@pytest.mark.parametrize("backend", ["lean", "hf"])
def test_greedy_fp32_equals_generate(model, tiny_tokenizer, prompts, backend):
    decoder = FastDecoder(model, tiny_tokenizer, dtype="float32", backend=backend)
    for prompt in prompts:
        expected = hf_greedy(model, tiny_tokenizer, prompt, GREEDY.max_new_tokens)
        assert len(set(expected)) > 3  # the check is only worth something on varied tokens
        assert list(decoder.stream(prompt, GREEDY)) == expected


@pytest.mark.parametrize("backend", ["lean", "hf"])
def test_batch_equals_one_by_one_greedy(model, tiny_tokenizer, prompts, backend):
    decoder = FastDecoder(model, tiny_tokenizer, dtype="float32", backend=backend)
    alone = [list(decoder.stream(p, GREEDY)) for p in prompts]
    assert decoder.generate_batch(prompts, GREEDY) == alone
    assert decoder.generate_many(prompts, GREEDY, batch_size=2) == alone


@pytest.mark.parametrize("backend", ["lean", "hf"])
def test_rows_ending_early_leave_the_batch_intact(model, tiny_tokenizer, prompts, backend):
    """An end token that one row meets early: that row stops, the others go on unchanged
    (the ended row is dropped from the batch and its cache mid-way)."""
    free = FastDecoder(model, tiny_tokenizer, dtype="float32", eos_token_ids=[])
    full = [list(free.stream(p, GREEDY)) for p in prompts]
    end = full[0][3]
    decoder = FastDecoder(
        model, tiny_tokenizer, dtype="float32", backend=backend, eos_token_ids=[end]
    )
    expected = [row[: row.index(end)] if end in row else row for row in full]
    assert len(expected[0]) <= 3 and any(len(row) > 3 for row in expected)
    assert decoder.generate_batch(prompts, GREEDY) == expected
    assert list(decoder.stream(prompts[0], GREEDY)) == expected[0]


def test_bf16_decodes_valid_tokens_and_leaves_the_model_alone(model, tiny_tokenizer, prompts):
    for backend in ("lean", "hf"):
        decoder = FastDecoder(model, tiny_tokenizer, dtype="bfloat16", backend=backend)
        answers = decoder.generate_batch(prompts, GREEDY)
        assert all(len(a) == GREEDY.max_new_tokens for a in answers)
        assert all(0 <= t < model.config.vocab_size for a in answers for t in a)
    assert next(model.parameters()).dtype == torch.float32


@pytest.mark.filterwarnings("ignore::FutureWarning")  # peft calls a deprecated transformers API
def test_lora_model_decodes_as_generate_without_being_changed(model, tiny_tokenizer, prompts):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    wrapped = get_peft_model(copy.deepcopy(model), config).eval()
    expected = hf_greedy(wrapped, tiny_tokenizer, prompts[0], GREEDY.max_new_tokens)
    assert expected != hf_greedy(model, tiny_tokenizer, prompts[0], GREEDY.max_new_tokens)
    decoder = FastDecoder(wrapped, tiny_tokenizer, dtype="float32")
    assert decoder.backend == "lean"  # the adapter is merged into a copy
    assert list(decoder.stream(prompts[0], GREEDY)) == expected
    assert type(wrapped).__name__ == "PeftModel"


def test_seeded_sampling_is_reproducible(model, tiny_tokenizer, prompts):
    decoder = FastDecoder(model, tiny_tokenizer)
    sampling = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=16, seed=3)
    first = list(decoder.stream(prompts[0], sampling))
    assert list(decoder.stream(prompts[0], sampling)) == first
    other = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=16, seed=4)
    assert list(decoder.stream(prompts[0], other)) != first
    batch = decoder.generate_batch(prompts, sampling)
    assert decoder.generate_batch(prompts, sampling) == batch


def test_stop_event_ends_the_stream(model, tiny_tokenizer, prompts):
    decoder = FastDecoder(model, tiny_tokenizer, eos_token_ids=[])
    stop = threading.Event()
    got = []
    for token in decoder.stream(prompts[0], GREEDY, stop):
        got.append(token)
        stop.set()
    assert len(got) == 1
    assert list(decoder.stream(prompts[0], GREEDY, stop)) == []


def test_end_token_stops_and_is_not_yielded(model, tiny_tokenizer, prompts):
    decoder = FastDecoder(model, tiny_tokenizer, dtype="float32", eos_token_ids=[])
    full = list(decoder.stream(prompts[1], GREEDY))
    end = full[5]
    stopped = FastDecoder(model, tiny_tokenizer, dtype="float32", eos_token_ids=[end])
    assert list(stopped.stream(prompts[1], GREEDY)) == full[: full.index(end)]


def test_stream_text_is_the_decoded_answer(model, tiny_tokenizer, prompts):
    decoder = FastDecoder(model, tiny_tokenizer)
    ids = list(decoder.stream(prompts[0], GREEDY))
    text = "".join(decoder.stream_text(prompts[0], GREEDY))
    assert text == tiny_tokenizer.decode(ids, skip_special_tokens=True)


def test_bad_arguments(model, tiny_tokenizer):
    with pytest.raises(ValueError, match="dtype"):
        FastDecoder(model, tiny_tokenizer, dtype="float16")
    with pytest.raises(ValueError, match="at least one token"):
        FastDecoder(model, tiny_tokenizer).generate_batch([[]], GREEDY)


# --- the logits processors against transformers' own ---------------------------------------


def test_repetition_penalty_matches_transformers():
    from transformers import RepetitionPenaltyLogitsProcessor

    logits = torch.randn(2, 50)
    ids = torch.tensor([[3, 7, 7, 49], [0, 1, 2, 3]])
    seen = torch.zeros(2, 50, dtype=torch.bool).scatter_(1, ids, True)
    expected = RepetitionPenaltyLogitsProcessor(1.3)(ids, logits.clone())
    torch.testing.assert_close(apply_repetition_penalty(logits, seen, 1.3), expected)
    assert apply_repetition_penalty(logits, seen, 1.0) is logits


@pytest.mark.parametrize(("top_k", "top_p"), [(5, 1.0), (0, 0.6), (8, 0.75), (0, 1.0)])
def test_top_k_top_p_keep_what_transformers_keeps(top_k, top_p):
    from transformers import TopKLogitsWarper, TopPLogitsWarper

    logits = torch.randn(3, 40, generator=torch.Generator().manual_seed(0)) * 3
    expected = logits.clone()
    if top_k:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p < 1:
        expected = TopPLogitsWarper(top_p)(None, expected)
    values, ids = top_k_top_p(logits, top_k, top_p)
    for row in range(3):
        kept = set(ids[row][values[row] > float("-inf")].tolist())
        assert kept == set(torch.nonzero(expected[row] > float("-inf")).flatten().tolist())
    assert (values[:, :-1] >= values[:, 1:]).all()  # best first


def test_sampling_draws_only_allowed_tokens_and_greedy_is_argmax():
    logits = torch.tensor([[4.0, 3.9, 3.0, 1.0, 0.0, -1.0]]).repeat(200, 1)
    seen = torch.zeros_like(logits, dtype=torch.bool)
    sampling = SamplingConfig(temperature=1.0, top_k=3, top_p=0.9, repetition_penalty=1.0)
    drawn = pick_tokens(logits, seen, sampling, torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) <= {0, 1, 2} and len(set(drawn.tolist())) > 1
    nucleus = SamplingConfig(temperature=1.0, top_k=0, top_p=0.5, repetition_penalty=1.0)
    assert set(pick_tokens(logits, seen, nucleus).tolist()) <= {0, 1}
    seen[:, 0] = True  # the penalty turns the best token into the second best
    greedy = SamplingConfig(greedy=True, repetition_penalty=1.1)
    assert pick_tokens(logits, seen, greedy).unique().tolist() == [1]


def test_left_padding_positions_and_mask():
    ids, positions, valid = left_pad([[5, 6, 7], [8]], pad=0, extra=2)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert positions.tolist() == [[0, 1, 2], [0, 0, 0]]
    assert valid.tolist() == [[True] * 5, [False, False, True, True, True]]
    mask = attention_mask(valid, 3, 0)
    assert mask[1, 0].tolist() == [[True, False, False], [False, True, False], [False, False, True]]
    assert mask[0, 0].tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert attention_mask(valid, 1, 3)[1, 0, 0].tolist() == [False, False, True, True]
    assert left_pad([[1, 2], [3, 4]], pad=0, extra=2)[2] is None
