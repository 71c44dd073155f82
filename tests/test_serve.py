"""The OpenAI-compatible server: the official client, errors, auth, the queue under load."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from oncogpt.conversation import Conversation, Turn
from oncogpt.generate import Engine, SamplingConfig
from oncogpt.safety import CRISIS_MESSAGE, DISCLAIMER, THOUGHTS_MESSAGE, URGENT_CARE_MESSAGE
from oncogpt.serve import BackgroundServer, ServeSettings, create_app
from oncogpt.serve.app import STATIC_DIR
from oncogpt.serve.queue import StopMatcher
from oncogpt.serve.schemas import APIError, ChatMessage, to_conversation

QUESTION = "What is a PSA test?"
RED_FLAG = "I have a fever of 39C during chemotherapy and chills."
USER = [{"role": "user", "content": QUESTION}]


class ScriptedEngine(Engine):
    """The tiny model's engine with a scripted answer: lets tests control what the "model"
    says (markup, stop sequences), how slowly, and hold it until released (`gate`)."""

    def __init__(self, base: Engine, pieces=("Hello", " world."), delay=0.0, gated=False):
        super().__init__(base.model, base.tokenizer, base.template)
        self.pieces, self.delay = tuple(pieces), delay
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.started = threading.Event()
        self.stopped = threading.Event()
        """Set when a generation ended because the server set its stop Event."""

    def stream(self, conv, sampling=None, stop=None) -> Iterator[str]:
        self.started.set()
        for piece in self.pieces:
            while not self.gate.wait(0.02):
                if stop is not None and stop.is_set():
                    break
            time.sleep(self.delay)
            if stop is not None and stop.is_set():
                self.stopped.set()
                return
            yield piece


@pytest.fixture(scope="module")
def engine(tiny_model_dir) -> Engine:
    return Engine.load(tiny_model_dir)


def run_server(engine: Engine, **settings) -> BackgroundServer:
    return BackgroundServer(create_app(engine, ServeSettings(model_id="tiny", **settings)))


@pytest.fixture(scope="module")
def server(engine) -> Iterator[BackgroundServer]:
    with run_server(engine, default_max_tokens=8) as running:
        yield running


def client_for(srv: BackgroundServer, key: str = "unused", timeout: float = 30) -> openai.OpenAI:
    # max_retries=0: the client would otherwise retry 429s and timeouts behind our back.
    return openai.OpenAI(base_url=f"{srv.url}/v1", api_key=key, max_retries=0, timeout=timeout)


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return client_for(server)


def assert_error_shape(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def post(srv: BackgroundServer, body, **kwargs) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(f"{srv.url}/v1/chat/completions", content=content, headers=headers, **kwargs)


# ------------------------------------------------------------------ the official client


def test_health_models_and_page(server, client):
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["model"] == "tiny"
    assert [m.id for m in client.models.list()] == ["tiny"]
    assert client.models.retrieve("tiny").id == "tiny"
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200 and "Research only" in page.text
    assert "content-security-policy" in page.headers
    assert httpx.get(f"{server.url}/docs").status_code == 404  # Swagger UI would need a CDN
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert "/v1/chat/completions" in schema["paths"]


def test_page_loads_nothing_from_elsewhere_and_never_injects_html():
    for path in STATIC_DIR.iterdir():
        text = path.read_text()
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), path.name
        assert "http://" not in text and "https://" not in text, path.name
        assert not re.search(
            r"innerHTML\s*[+]?=|outerHTML|insertAdjacentHTML|document\.write", text
        )


def test_non_streaming_answer_with_usage(engine, client):
    reply = client.chat.completions.create(
        model="tiny", messages=USER, temperature=1.0, seed=3, max_tokens=6
    )
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    prompt = engine.prompt_ids(Conversation.single(QUESTION), 6)
    assert reply.usage.prompt_tokens == len(prompt)
    content_tokens = engine.tokenizer(choice.message.content, add_special_tokens=False).input_ids
    # Re-tokenized, capped at max_tokens: decoded random tokens can re-tokenize longer.
    assert reply.usage.completion_tokens == min(len(content_tokens), 6)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    info = reply.model_extra["oncogpt"]
    assert info["red_flag"] is False and info["disclaimer"] == DISCLAIMER


def test_completion_tokens_never_exceed_max_tokens(client):
    for seed in range(6):
        reply = client.chat.completions.create(
            model="tiny", messages=USER, temperature=1.0, seed=seed, max_tokens=2
        )
        assert reply.usage.completion_tokens <= 2


def test_streaming_matches_non_streaming_and_reports_usage(client):
    kwargs = dict(model="tiny", messages=USER, temperature=1.0, seed=7, max_tokens=8)
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    chunks = list(
        client.chat.completions.create(
            **kwargs, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].model_extra["oncogpt"]["red_flag"] is False
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == whole  # seeded: the same answer, streamed or not
    assert chunks[-2].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_sse_wire_format(server):
    with httpx.stream(
        "POST",
        f"{server.url}/v1/chat/completions",
        json={"model": "tiny", "messages": USER, "stream": True, "max_tokens": 3},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = raw.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: ") for e in events[:-1])


def test_red_flag_answer_starts_with_urgent_care(client):
    messages = [{"role": "user", "content": RED_FLAG}]
    reply = client.chat.completions.create(model="tiny", messages=messages, max_tokens=4)
    assert reply.choices[0].message.content.startswith(URGENT_CARE_MESSAGE)
    info = reply.model_extra["oncogpt"]
    assert info["red_flag"] is True and "neutropenic_fever" in info["red_flag_reasons"]
    stream = client.chat.completions.create(
        model="oncogpt", messages=messages, max_tokens=4, stream=True
    )
    chunks = list(stream)
    assert chunks[0].model_extra["oncogpt"]["red_flag"] is True
    assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith(URGENT_CARE_MESSAGE)


def test_tiny_temperatures_are_greedy(client):
    # 1e-300 is 0 in float32: the sampler would divide by zero and its thread would die.
    kwargs = dict(model="tiny", messages=USER, max_tokens=4)
    tiny = client.chat.completions.create(**kwargs, temperature=1e-300)
    greedy = client.chat.completions.create(**kwargs, temperature=0)
    assert tiny.choices[0].message.content == greedy.choices[0].message.content


def test_harm_gets_the_crisis_answer(client):
    messages = [{"role": "user", "content": "I want to end my life tonight."}]
    reply = client.chat.completions.create(model="tiny", messages=messages, stop=["help"])
    assert reply.choices[0].message.content == CRISIS_MESSAGE  # stop never cuts safety text
    assert reply.model_extra["oncogpt"]["crisis"] is True


def test_thoughts_of_death_keep_the_answer_after_the_help_message(client):
    content = "Dad keeps saying he is a burden and wishes he wouldn't wake up. What can we do?"
    messages = [{"role": "user", "content": content}]
    # seeded, so that the tiny model's answer does not depend on the tests run before
    reply = client.chat.completions.create(
        model="tiny", messages=messages, temperature=1.0, seed=7, max_tokens=8
    )
    text = reply.choices[0].message.content
    assert text.startswith(THOUGHTS_MESSAGE) and len(text) > len(THOUGHTS_MESSAGE)
    assert reply.model_extra["oncogpt"]["harm"] == "thoughts"


def test_multi_turn_history_and_system_prompt(engine, client):
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "A blood test for prostate cancer."},
        {"role": "user", "content": [{"type": "text", "text": "And a CEA?"}]},
    ]
    reply = client.chat.completions.create(model="tiny", messages=messages, max_tokens=2)
    conv = Conversation(
        turns=(
            Turn("patient", QUESTION),
            Turn("doctor", "A blood test for prostate cancer."),
            Turn("patient", "And a CEA?"),
        ),
        system="Answer briefly.",
    )
    assert reply.usage.prompt_tokens == len(engine.prompt_ids(conv, 2))


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "tiny", "messages": USER, "n": 2}, "n"),
        ({"model": "tiny", "messages": USER, "temperature": -1}, "temperature"),
        ({"model": "tiny", "messages": USER, "top_p": 0}, "top_p"),
        ({"model": "tiny", "messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"model": "tiny", "messages": USER, "logprobs": True}, "logprobs"),
        ({"model": "tiny", "messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"model": "tiny", "messages": [{"role": "tool", "content": "x"}]}, None),
        ({"model": "tiny", "messages": []}, "messages"),
        ({"model": "tiny"}, "messages"),
        ([1, 2], None),
        ({"model": "tiny", "messages": [{"role": "assistant", "content": "Hi"}]}, "messages"),
        ({"model": "tiny", "messages": [{"role": "user", "content": "  "}]}, "messages"),
        ({"model": "tiny", "messages": [{"role": "user", "content": "cancer " * 3000}]}, None),
        ({"model": "tiny", "messages": USER, "max_tokens": 5000}, "messages"),
    ],
)
def test_bad_requests_are_400_in_openai_shape(server, body, param):
    error = assert_error_shape(post(server, body), 400)
    assert error["type"] == "invalid_request_error"
    if param:
        assert error["param"].startswith(param)


def test_context_overflow_through_the_client(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "cancer " * 3000}]
        )
    assert info.value.code == "context_length_exceeded"
    assert "too long" in info.value.message


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"\xff\xfe", b"null", b"NaN"])
def test_malformed_bodies_are_400(server, raw):
    assert_error_shape(post(server, raw), 400)


def test_nan_is_rejected(server):
    raw = b'{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "top_p": NaN}'
    assert assert_error_shape(post(server, raw), 400)["param"] == "top_p"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert info.value.code == "model_not_found"


def test_unknown_route_and_method_in_openai_shape(server):
    assert_error_shape(httpx.get(f"{server.url}/v1/nothing"), 404)
    assert_error_shape(httpx.get(f"{server.url}/v1/chat/completions"), 405)


def test_body_size_limit(engine):
    with run_server(engine, max_body_bytes=4000) as srv:
        big = {"model": "tiny", "messages": [{"role": "user", "content": "x" * 5000}]}
        assert_error_shape(post(srv, big), 413)

        def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to check up front
            yield json.dumps(big).encode()

        response = httpx.post(
            f"{srv.url}/v1/chat/completions",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert_error_shape(response, 413)


def test_api_key(engine):
    with run_server(engine, api_key="s3cret", default_max_tokens=2) as srv:
        with pytest.raises(openai.AuthenticationError):
            client_for(srv, key="wrong").chat.completions.create(model="tiny", messages=USER)
        assert_error_shape(httpx.get(f"{srv.url}/v1/models"), 401)
        assert_error_shape(post(srv, b"{bad json"), 401)  # the key is checked first
        reply = client_for(srv, key="s3cret").chat.completions.create(model="tiny", messages=USER)
        assert reply.choices[0].message.role == "assistant"
        assert httpx.get(f"{srv.url}/health").status_code == 200  # probes need no key
        assert httpx.get(f"{srv.url}/").status_code == 200


# ------------------------------------------------------------------ stop sequences


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequences_cut_the_answer(engine, stream):
    scripted = ScriptedEngine(engine, pieces=("Hello ", "wor", "ld ST", "OP more", " text"))
    with run_server(scripted) as srv:
        result = client_for(srv).chat.completions.create(
            model="tiny", messages=USER, stop="STOP", stream=stream
        )
        if stream:
            chunks = list(result)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert "ST" not in text  # a possible stop sequence is held back, never sent
            assert chunks[-1].choices[0].finish_reason == "stop"
        else:
            text = result.choices[0].message.content
        assert text.strip() == "Hello world"


def test_stop_matcher_protects_the_safety_prefix():
    matcher = StopMatcher(("URGENT", "end"), protected=10)
    assert matcher.find("URGENT: go now. the end") == 20
    assert matcher.find("URGENT: go") is None
    assert matcher.safe_length("URGENT: go now. the e") == len("URGENT: go now. the ")
    assert StopMatcher(()).safe_length("abc") == 3


# ------------------------------------------------------------------ queue, timeouts, disconnects


def open_stream(srv: BackgroundServer, question: str = QUESTION):
    """A streaming request left open; the caller reads or closes it."""
    http = httpx.Client(timeout=30)
    body = {"model": "tiny", "messages": [{"role": "user", "content": question}], "stream": True}
    request = http.build_request("POST", f"{srv.url}/v1/chat/completions", json=body)
    return http, http.send(request, stream=True)


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_full_queue_answers_429(engine):
    scripted = ScriptedEngine(engine, gated=True)
    with run_server(scripted, max_queue=1) as srv:
        stats = srv.server.config.app.state.oncogpt.scheduler.stats
        first, first_response = open_stream(srv)  # runs, held by the gate
        assert scripted.started.wait(10)
        second, second_response = open_stream(srv)  # waits in the queue
        assert wait_for(lambda: stats()["pending"] == 1)
        with pytest.raises(openai.RateLimitError) as info:
            client_for(srv).chat.completions.create(model="tiny", messages=USER)
        assert info.value.code == "queue_full"
        assert info.value.response.headers["retry-after"] == "1"
        scripted.gate.set()
        for http, response in ((first, first_response), (second, second_response)):
            assert response.read().decode().endswith("data: [DONE]\n\n")
            http.close()


def test_disconnecting_clients_free_their_slots(engine):
    scripted = ScriptedEngine(engine, pieces=("a",) * 20, delay=0.02, gated=True)
    with run_server(scripted, max_queue=1) as srv:
        stats = srv.server.config.app.state.oncogpt.scheduler.stats
        running, running_response = open_stream(srv)
        assert scripted.started.wait(10)
        queued, queued_response = open_stream(srv)
        assert wait_for(lambda: stats()["pending"] == 1)
        queued_response.close()
        queued.close()
        assert wait_for(lambda: stats()["pending"] == 0)  # left the queue at once
        running_response.close()
        running.close()
        assert scripted.stopped.wait(10)  # generation stopped at the next token
        assert wait_for(lambda: stats()["running"] == 0)
        scripted.gate.set()
        reply = client_for(srv).chat.completions.create(model="tiny", messages=USER)
        assert reply.choices[0].message.content == "a" * 20


def test_non_streaming_client_that_leaves_stops_generation(engine):
    scripted = ScriptedEngine(engine, gated=True)
    with run_server(scripted) as srv:
        with pytest.raises(httpx.ReadTimeout):
            post(srv, {"model": "tiny", "messages": USER}, timeout=0.5)
        assert scripted.stopped.wait(10)


def test_requests_time_out(engine):
    scripted = ScriptedEngine(engine, gated=True)
    with run_server(scripted, request_timeout_s=0.5) as srv:
        error = assert_error_shape(post(srv, {"model": "tiny", "messages": USER}), 504)
        assert error["type"] == "timeout_error"
        assert scripted.stopped.wait(10)
        scripted.stopped.clear()
        stream = client_for(srv).chat.completions.create(model="tiny", messages=USER, stream=True)
        with pytest.raises(openai.APIError, match="timed out"):
            list(stream)
        assert scripted.stopped.wait(10)


def test_requests_arriving_together_are_batched(engine):
    scripted = ScriptedEngine(engine, gated=True)  # holds the worker with a streaming request
    questions = [QUESTION, RED_FLAG, "Is EGFR lung cancer curable?", "What is a CEA test?"]
    with run_server(scripted, max_batch=8) as srv:
        stats = srv.server.config.app.state.oncogpt.scheduler.stats
        holder, holder_response = open_stream(srv)
        assert scripted.started.wait(10)
        client = client_for(srv)

        def ask(question: str):
            messages = [{"role": "user", "content": question}]
            return client.chat.completions.create(
                model="tiny", messages=messages, temperature=0, max_tokens=4
            )

        with ThreadPoolExecutor(len(questions)) as pool:
            futures = [pool.submit(ask, q) for q in questions]
            assert wait_for(lambda: stats()["pending"] == len(questions))
            scripted.gate.set()
            replies = [f.result(30) for f in futures]
        holder_response.close()
        holder.close()
        assert stats()["largest_batch"] == len(questions)
    assert replies[1].choices[0].message.content.startswith(URGENT_CARE_MESSAGE)
    assert replies[1].model_extra["oncogpt"]["red_flag"] is True
    greedy = SamplingConfig(temperature=0, max_new_tokens=4)
    single = engine.answer_batch([Conversation.single(QUESTION)], greedy)
    assert replies[0].choices[0].message.content == single[0]  # batched = alone (greedy)


# ------------------------------------------------------------------ message mapping


def test_messages_map_to_a_conversation():
    conv = to_conversation(
        [
            ChatMessage(role="assistant", content="Hello, how can I help?"),
            ChatMessage(role="developer", content="Be brief."),
            ChatMessage(role="user", content="Question one."),
            ChatMessage(role="user", content="More detail."),
            ChatMessage(role="assistant", content="Answer."),
            ChatMessage(role="user", content="Follow-up?"),
        ]
    )
    assert conv.system == "Be brief."
    assert [t.role for t in conv.turns] == ["patient", "doctor", "patient"]
    assert conv.turns[0].text == "Question one.\n\nMore detail."
    with pytest.raises(APIError, match="last message"):
        to_conversation([ChatMessage(role="system", content="only a system prompt")])


class BrokenEngine(ScriptedEngine):
    def stream(self, conv, sampling=None, stop=None) -> Iterator[str]:
        yield "partial "
        raise RuntimeError(f"model failure on {conv.question!r}")  # quotes its input


def test_a_crashing_generation_is_a_500_without_patient_text_in_the_log(engine, caplog):
    secret = "My husband John Smith has stage 4 colon cancer."
    messages = [{"role": "user", "content": secret}]
    with run_server(BrokenEngine(engine)) as srv:
        with caplog.at_level("ERROR", logger="oncogpt.serve"):
            error = assert_error_shape(post(srv, {"model": "tiny", "messages": messages}), 500)
            stream = client_for(srv).chat.completions.create(
                model="tiny", messages=messages, stream=True
            )
            with pytest.raises(openai.APIError, match="generation failed"):
                list(stream)
        assert error["type"] == "server_error"
        assert "RuntimeError" in caplog.text and "John Smith" not in caplog.text
        health = httpx.get(f"{srv.url}/health").json()["queue"]
        assert health["failed"] == 2 and health["running"] == 0  # the worker lives on


class HangingEngine(ScriptedEngine):
    """Like an engine whose generate thread died: its stream never ends, whatever `stop` says."""

    def stream(self, conv, sampling=None, stop=None) -> Iterator[str]:
        if not self.started.is_set():
            self.started.set()
            self.gate.wait()  # released at the end of the test
        yield "fine"


def test_a_stalled_engine_is_abandoned_and_the_queue_moves_on(engine):
    hanging = HangingEngine(engine, gated=True)
    with run_server(hanging, request_timeout_s=0.5) as srv:
        srv.server.config.app.state.oncogpt.scheduler.stall_grace_s = 0.2
        assert_error_shape(post(srv, {"model": "tiny", "messages": USER}), 504)
        reply = client_for(srv).chat.completions.create(model="tiny", messages=USER)
        assert reply.choices[0].message.content == "fine"
        assert httpx.get(f"{srv.url}/health").json()["queue"]["stalled"] == 1
        hanging.gate.set()


def test_serve_entry_point_binds_loopback_and_answers(tiny_model_dir, tmp_path):
    """`serve()` as `oncogpt serve` runs it: a real process, then stopped with SIGTERM."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "oncogpt.serve", "--model", str(tiny_model_dir)]
    command += ["--port", str(port), "--max-tokens", "2", "--log-level", "warning"]
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _up(url) or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, log_path.read_text()
        with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
            answer = client.chat.completions.create(model=tiny_model_dir.name, messages=USER)
        assert answer.usage.completion_tokens <= 2
    finally:
        proc.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal: exit status -SIGTERM.
        status = proc.wait(30)
    assert status in (0, -15), log_path.read_text()
    assert "research only" in log_path.read_text()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_cite_answers_from_the_knowledge_base_with_checked_citations(server):
    # The first cited request builds the starter knowledge base: allow for it.
    reply = client_for(server, timeout=600).chat.completions.create(
        model="tiny", messages=USER, max_tokens=6, temperature=0, extra_body={"cite": True}
    )
    assert "Reference check:" in reply.choices[0].message.content
