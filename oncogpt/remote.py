"""Generation on another OpenAI-compatible server, behind OncoGPT's own layers.

`--backend URL` (ask, chat, serve, eval) keeps everything but the decoding here: OncoGPT renders
the prompt with `oncogpt/prompts.py` (trimmed to the context as always), applies the safety
layer, retrieval, citations and the reference check; the remote server only continues the
rendered text through `POST {URL}/v1/completions` (text completions, which vLLM, TGI,
llama.cpp's server, llama-cpp-python's server, Ollama and `oncogpt serve` all offer). Sending
the text rather than chat messages is what keeps the prompt OncoGPT's: a chat endpoint would
render with the remote model's own template and system line.

The tokenizer is loaded locally (from `--model`, without its weights) to render and to fit the
context; it must be the remote model's. Failures become one-line `RemoteError`s naming the URL:
a refused connection, a timeout (never a hang), the remote's 4xx/5xx with its message.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from typing import Any

from oncogpt.errors import GenerationError


class RemoteError(GenerationError):
    """The remote engine failed; `status` is what OncoGPT's server answers (502/504)."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class RemoteBackend:
    """An OpenAI-compatible server that continues OncoGPT's rendered prompts."""

    url: str
    """Base URL, with or without the trailing /v1 (http://127.0.0.1:8080)."""
    model: str = "oncogpt"
    """The model name sent in each request (vLLM: the served model or LoRA name)."""
    api_key: str | None = None
    """Sent as `Authorization: Bearer KEY` when set."""
    timeout_s: float = 120.0
    """Seconds to wait for the connection and between streamed pieces."""
    context_length: int = 2048
    """The remote model's context, for trimming prompts (read from the local model config)."""

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise RemoteError(f"--backend must be an http(s) URL, got {self.url!r}", 400)
        if not self.url.endswith("/v1"):
            self.url += "/v1"

    def body(self, prompt: str, sampling: Any, stop: list[str], stream: bool) -> dict[str, Any]:
        """The request: OncoGPT's sampling settings under every name the servers read."""
        greedy = sampling.is_greedy
        body = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": sampling.max_new_tokens,
            "temperature": 0.0 if greedy else sampling.temperature,
            "top_p": 1.0 if greedy else sampling.top_p,
            "top_k": 1 if greedy else sampling.top_k,
            "repetition_penalty": sampling.repetition_penalty,  # vLLM, TGI, oncogpt
            "repeat_penalty": sampling.repetition_penalty,  # llama.cpp
            "stream": stream,
        }
        if stop:
            body["stop"] = stop[:4]
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        return body

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def stream_text(
        self, prompt: str, sampling: Any, stop: list[str], stop_event: threading.Event
    ) -> Iterator[str]:
        """The continuation's text as the remote streams it; `stop_event` closes the request."""
        import httpx

        url = f"{self.url}/completions"
        body = self.body(prompt, sampling, stop, stream=True)
        try:
            with (
                httpx.Client(timeout=self.timeout_s) as client,
                client.stream("POST", url, json=body, headers=self._headers()) as response,
            ):
                if response.status_code >= 400:
                    response.read()
                    raise self._http_error(response)
                for line in response.iter_lines():
                    if stop_event.is_set():
                        return
                    piece = self._piece(line)
                    if piece is None:
                        return
                    if piece:
                        yield piece
        except httpx.TimeoutException:
            raise RemoteError(
                f"backend {self.url}: no answer within {self.timeout_s:g} s", 504
            ) from None
        except httpx.ConnectError as exc:
            raise RemoteError(f"backend {self.url}: cannot connect ({exc})") from None
        except httpx.HTTPError as exc:
            raise RemoteError(f"backend {self.url}: {type(exc).__name__}: {exc}") from None

    def _piece(self, line: str) -> str | None:
        """The text of one server-sent event line; None at [DONE]."""
        if not line.startswith("data:"):
            return ""
        data = line[5:].strip()
        if data == "[DONE]":
            return None
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            raise RemoteError(f"backend {self.url}: not an event stream: {data[:200]!r}") from None
        if "error" in event:
            raise RemoteError(f"backend {self.url}: {_message(event)}")
        choices = event.get("choices") or [{}]
        return choices[0].get("text") or ""

    def _http_error(self, response: Any) -> RemoteError:
        try:
            message = _message(response.json())
        except ValueError:
            message = response.text[:300]
        status = 504 if response.status_code in (408, 504) else 502
        return RemoteError(f"backend {self.url}: HTTP {response.status_code}: {message}", status)


def _message(body: Any) -> str:
    """The message of an OpenAI-shaped (or other) error body."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)[:300]
        return str(error)[:300]
    return str(body)[:300]
