"""Shared fixtures: a tiny tokenizer and a tiny random LLaMA built here, no hub, no downloads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

CORPUS = [
    "Patient: My father has lung cancer with liver metastasis. Can he be cured?",
    "OncoGPT: Small cell carcinoma of the lung is aggressive; chemotherapy is the mainstay.",
    "If you are a doctor, please answer the medical questions based on the patient's description.",
    "The CEA is 12.5 ng/mL after six cycles of FOLFOX. Is the tumor growing again?",
    "Osimertinib treats EGFR mutant non-small cell lung cancer; ALK fusions respond to alectinib.",
    "Breast cancer, stage IIIB, HER2 positive: trastuzumab with chemotherapy before surgery.",
    "Fever during chemotherapy needs urgent care now. Call your oncology team.",
]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tokenizer(chat_template: str | None = CHATML):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_tiny_llama(tokenizer, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def load_sharpened_tiny_llama(path: Path, seed: int):
    """The tiny model from `path` with larger random weights (std 0.2): at the default init it
    predicts nearly the same token everywhere, which would make token or loss checks weak."""
    import torch
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="session")
def plain_tokenizer():
    """A tokenizer without a chat template (like a base LLaMA)."""
    return build_tokenizer(chat_template=None)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A tiny random LLaMA saved as a safetensors folder, like any Hugging Face causal LM."""
    path = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_llama(tiny_tokenizer).save_pretrained(path, safe_serialization=True)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory):
    """Keep caches out of the user's home, but share converted models across tests."""
    home = os.environ.get("ONCOGPT_TEST_HOME") or str(tmp_path_factory.getbasetemp() / "home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONCOGPT_HOME", home)
        yield


def shared_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (real data lives in ../shared/data beside the repo)")
    return path
