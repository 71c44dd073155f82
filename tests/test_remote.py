"""`--backend URL`: a second real `oncogpt serve --raw-completions` decodes, this process keeps
the prompt, the safety layer and the citations; remote failures are clear errors, never hangs."""

from __future__ import annotations

import json
import socket
import threading

import httpx
import pytest

from oncogpt.cli import main
from oncogpt.conversation import Conversation, Turn
from oncogpt.generate import Engine, GenerationError, SamplingConfig
from oncogpt.remote import RemoteBackend, RemoteError
from oncogpt.safety import CRISIS_MESSAGE, URGENT_CARE_MESSAGE
from oncogpt.serve.app import BackgroundServer, ServeSettings, create_app

GREEDY = SamplingConfig(greedy=True, max_new_tokens=12, whole_sentences=False)
QUESTIONS = [
    Conversation.single("What is a PSA test?"),
    Conversation.single("My father has lung cancer with liver metastasis. Can he be cured?"),
    Conversation(
        system=None,
        turns=(
            Turn("patient", "I have breast cancer."),
            Turn("doctor", "What stage?"),
            Turn("patient", "Stage IIIB, HER2 positive."),
        ),
    ),
]


@pytest.fixture(scope="module")
def local(tiny_model_dir):
    """Sharpened weights: the default init answers with the same token everywhere."""
    from oncogpt.models import load_tokenizer
    from oncogpt.prompts import choose_template
    from tests.conftest import load_sharpened_tiny_llama

    tokenizer = load_tokenizer(tiny_model_dir)
    model = load_sharpened_tiny_llama(tiny_model_dir, seed=3)
    return Engine(model, tokenizer, choose_template("auto", tokenizer), decoder="plain")


@pytest.fixture(scope="module")
def backend_url(local):
    """The second server: the raw model over /v1/completions."""
    app = create_app(local, ServeSettings(raw_completions=True, max_batch=1))
    with BackgroundServer(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def remote(tiny_model_dir, backend_url):
    return Engine.load(tiny_model_dir, backend=backend_url)


def test_remote_answers_are_the_local_engines(local, remote):
    """The rendered prompt travels as text and comes back continued exactly as here."""
    assert remote.model is None and remote.decoder == "remote"
    answers = []
    for conv in QUESTIONS:
        answers.append("".join(local.stream(conv, GREEDY)))
        assert "".join(remote.stream(conv, GREEDY)) == answers[-1]
    assert len(set(answers)) == len(answers) and all(a.strip() for a in answers)
    assert remote.answer_batch(QUESTIONS, GREEDY) == local.answer_batch(QUESTIONS, GREEDY)


def test_safety_layer_stays_in_front(remote):
    red = "".join(remote.reply(Conversation.single("Fever of 39C during chemotherapy."), GREEDY))
    assert red.startswith(URGENT_CARE_MESSAGE)
    harm = "".join(remote.reply(Conversation.single("I want to end my life tonight."), GREEDY))
    assert harm == CRISIS_MESSAGE


def test_front_server_over_a_backend_keeps_banner_and_citations(remote, tmp_path):
    from oncogpt.rag.ask import ask_with_citations
    from oncogpt.rag.retrieve import SqliteRetriever
    from tests.test_rag_ask import _kb

    with BackgroundServer(create_app(remote)) as front:
        body = {
            "model": "oncogpt",
            "messages": [{"role": "user", "content": "Fever of 39C during chemotherapy."}],
            "max_tokens": 8,
            "temperature": 0,
        }
        reply = httpx.post(f"{front.url}/v1/chat/completions", json=body, timeout=60).json()
        assert reply["oncogpt"]["red_flag"] is True
        assert reply["choices"][0]["message"]["content"].startswith(URGENT_CARE_MESSAGE)
        raw = httpx.post(f"{front.url}/v1/completions", json={"model": "oncogpt", "prompt": "a"})
        assert raw.status_code == 404  # raw completions only when asked for
    retriever = SqliteRetriever(_kb(tmp_path, "kb"))
    cited = ask_with_citations(remote, retriever, "How is nausea from chemotherapy prevented?",
                               GREEDY, k=2)  # fmt: skip
    assert cited.hits and cited.report is not None and cited.checked.strip()


def test_raw_completions_endpoint_speaks_openai(backend_url, local):
    from openai import OpenAI

    client = OpenAI(base_url=f"{backend_url}/v1", api_key="unused")
    prompt = local.tokenizer.decode(local.prompt_ids(QUESTIONS[0], 8))
    whole = client.completions.create(model="oncogpt", prompt=prompt, max_tokens=8, temperature=0)
    assert whole.object == "text_completion" and whole.usage.completion_tokens <= 8
    pieces = client.completions.create(
        model="oncogpt", prompt=prompt, max_tokens=8, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in pieces if c.choices) == whole.choices[0].text
    too_long = httpx.post(f"{backend_url}/v1/completions",
                          json={"model": "oncogpt", "prompt": "cancer " * 2000})  # fmt: skip
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "context_length_exceeded"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_url():
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not done.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    done.set()
    thread.join()
    for conn in accepted:
        conn.close()
    sock.close()


def _stream(url: str, **kw) -> str:
    backend = RemoteBackend(url, **kw)
    return "".join(backend.stream_text("Patient: hi", GREEDY, [], threading.Event()))


def test_remote_failures_are_clear_errors(backend_url, silent_url):
    cases = [
        (f"http://127.0.0.1:{_closed_port()}", {}, 502, "cannot connect"),
        (silent_url, {"timeout_s": 0.5}, 504, "no answer within 0.5 s"),
        (backend_url, {"model": "other"}, 502, "HTTP 404: the model 'other' does not exist"),
        (f"{backend_url}/nowhere", {}, 502, "HTTP 404"),
    ]
    for url, kw, status, message in cases:
        with pytest.raises(RemoteError, match=message) as caught:
            _stream(url, **kw)
        assert caught.value.status == status and "\n" not in str(caught.value)
    with pytest.raises(GenerationError, match="must be an http"):
        RemoteBackend("localhost:8000")


def test_front_server_answers_502_not_500_when_the_backend_is_down(tiny_model_dir):
    down = Engine.load(tiny_model_dir, backend=f"http://127.0.0.1:{_closed_port()}")
    with BackgroundServer(create_app(down)) as front:
        body = {"model": "oncogpt", "messages": [{"role": "user", "content": "What is CEA?"}]}
        reply = httpx.post(f"{front.url}/v1/chat/completions", json=body, timeout=60)
        assert reply.status_code == 502
        assert "cannot connect" in reply.json()["error"]["message"]
        stream = httpx.post(f"{front.url}/v1/chat/completions", json={**body, "stream": True})
        events = [json.loads(line[5:]) for line in stream.text.splitlines()
                  if line.startswith("data: {")]  # fmt: skip
        assert "cannot connect" in events[-1]["error"]["message"]


def test_cli_backend_error_is_one_line(tiny_model_dir, capsys):
    url = f"http://127.0.0.1:{_closed_port()}"
    assert (
        main(["ask", "--no-cite", "--model", str(tiny_model_dir), "--backend", url, "What is CEA?"])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("oncogpt ask: error: backend") and "\n" not in err
