"""Fuzzing the API with hypothesis: arbitrary bytes, arbitrary JSON and near-valid requests
must never give a 500 or break the server; every error keeps OpenAI's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from oncogpt.generate import Engine
from oncogpt.serve import BackgroundServer, ServeSettings, create_app

# Bounded: the three tests together stay well under a minute on 2 cores. No example
# database: it would write a .hypothesis folder into the repository.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ALLOWED = {200, 400, 404, 413, 429}

# Any code point, lone surrogates included: JSON can carry them, UTF-8 cannot.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
numbers = st.none() | st.integers(-(2**70), 2**70) | st.floats() | st.sampled_from(["1", True])
content = st.one_of(
    st.text(max_size=60),
    st.none(),
    st.integers(),
    st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["text", "image_url", 3]), "text": st.text(max_size=20)}
        ),
        max_size=2,
    ),
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "developer", "tool", "", 1])},
    optional={"content": content, "name": st.text(max_size=5)},
)
# Valid requests with fuzzed text and settings: they reach the queue and the model.
chat_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system"]), "content": any_text}
)
valid_request = st.fixed_dictionaries(
    {
        "model": st.just("tiny"),
        "messages": st.builds(
            lambda history, last: [*history, {"role": "user", "content": last}],
            st.lists(chat_message, max_size=4),
            any_text,
        ),
    },
    optional={
        "stream": st.booleans(),
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0.01, 1),
        "top_k": st.integers(0, 50),
        "repetition_penalty": st.floats(0.5, 2),
        "max_tokens": st.integers(1, 3),
        "seed": st.integers(0, 2**32),
        "stop": st.lists(st.text(min_size=1, max_size=3), max_size=4),
        "cite": st.booleans(),
    },
)
request = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["tiny", "oncogpt", "gpt-4o", "", None]),
        "messages": st.lists(message, max_size=5) | json_values,
    },
    optional={
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}) | json_values,
        "temperature": numbers,
        "top_p": numbers,
        "top_k": numbers,
        "repetition_penalty": numbers,
        "max_tokens": st.integers(-2, 6) | numbers,
        "max_completion_tokens": st.integers(-2, 6) | numbers,
        "seed": numbers,
        "stop": st.none() | st.text(max_size=3) | st.lists(st.text(max_size=3), max_size=6),
        "n": numbers,
        "logprobs": st.booleans() | json_values,
        "cite": json_values,
        "extra_field": json_values,
    },
)


@pytest.fixture(scope="module")
def server(tiny_model_dir) -> Iterator[BackgroundServer]:
    app = create_app(
        Engine.load(tiny_model_dir),
        ServeSettings(model_id="tiny", default_max_tokens=2, request_timeout_s=30, max_queue=64),
    )
    with BackgroundServer(app) as running:
        yield running


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def check(response: httpx.Response, streamed: bool) -> None:
    assert response.status_code in ALLOWED, (response.status_code, response.text[:300])
    if response.status_code != 200:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    elif streamed:
        text = response.text
        assert text.startswith("data: ") and text.endswith("\n\n")
        assert text.endswith("data: [DONE]\n\n") or '"error"' in text.rsplit("data: ", 1)[-1]
    else:
        assert response.json()["object"] == "chat.completion"


def send(http: httpx.Client, body: bytes) -> None:
    headers = {"content-type": "application/json"}
    response = http.post("/v1/chat/completions", content=body, headers=headers)
    streamed = response.headers.get("content-type", "").startswith("text/event-stream")
    event(f"status {response.status_code}{' stream' if streamed else ''}")
    check(response, streamed)


@settings(FUZZ, max_examples=60)  # these reach the model: fewer, to stay fast on 2 cores
@given(body=valid_request)
def test_valid_requests(http, body):
    send(http, json.dumps(body).encode())


@FUZZ
@given(body=request)
def test_near_valid_requests(http, body):
    send(http, json.dumps(body).encode())  # NaN and Infinity included, as JSON parsers allow


@FUZZ
@given(body=json_values)
def test_any_json(http, body):
    send(http, json.dumps(body).encode())


@settings(FUZZ, max_examples=100)
@given(body=st.binary(max_size=300))
def test_any_bytes(http, body):
    send(http, body)


def test_server_still_answers_after_fuzzing(http):
    body = {"model": "tiny", "messages": [{"role": "user", "content": "What is a PSA test?"}]}
    assert http.post("/v1/chat/completions", json=body).status_code == 200
    assert http.get("/health").json()["queue"]["failed"] == 0
