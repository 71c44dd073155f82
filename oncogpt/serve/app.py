"""The HTTP server: an OpenAI-compatible chat-completions API and the web demo at `/`.

    serve("default")                        # http://127.0.0.1:8000/
    client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")

Research only: answers are not medical advice. Patient text is never logged: the access log
holds method, path and status; errors are logged by type.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oncogpt.conversation import Conversation, ConversationError
from oncogpt.generate import Engine, GenerationError, SamplingConfig
from oncogpt.prompts import RenderError
from oncogpt.safety import assess
from oncogpt.serve.queue import (
    Delta,
    Event,
    Failed,
    Job,
    QueueFull,
    Scheduler,
    StopMatcher,
    log_crash,
)
from oncogpt.serve.schemas import (
    APIError,
    ChatCompletionRequest,
    CompletionRequest,
    chunk_body,
    completion_body,
    error_body,
    new_completion_id,
    safety_info,
    text_completion_body,
    to_conversation,
    usage,
)
from oncogpt.serve.settings import ServeSettings

log = logging.getLogger("oncogpt.serve")
STATIC_DIR = Path(__file__).parent / "static"
#: Below this a temperature is greedy decoding: logits / 1e-40 overflow float32 to inf, and
#: a crash in the engine's generate thread leaves its stream waiting forever.
MIN_TEMPERATURE = 0.01
#: How often a waiting non-streaming request checks whether its client is still there.
DISCONNECT_POLL_S = 0.25
SECURITY_HEADERS = [
    # The page loads nothing from elsewhere; a strict policy is a second line against XSS.
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class ServeState:
    """What the routes share: the engine's worker, a validator and the settings."""

    def __init__(self, engine: Engine, settings: ServeSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.scheduler = Scheduler(
            engine, settings.max_queue, settings.max_batch, settings.batch_window_s, kb=settings.kb
        )
        # Prompts are rendered and checked on request threads with a tokenizer of their own:
        # a fast tokenizer used from two threads at once can fail ("Already borrowed").
        self._validator = Engine(
            engine.model, copy.deepcopy(engine.tokenizer), engine.template, remote=engine.remote
        )
        self._validator_lock = threading.Lock()

    @property
    def model_names(self) -> set[str]:
        return {self.settings.model_id, "oncogpt"}

    def prompt_tokens(self, conv: Conversation, max_new_tokens: int) -> int:
        """Tokens in the prompt the engine will see; APIError 400 when it cannot fit."""
        try:
            with self._validator_lock:
                return len(self._validator.prompt_ids(conv, max_new_tokens))
        except (GenerationError, RenderError, ConversationError) as exc:
            code = "context_length_exceeded" if "too long" in str(exc) else None
            raise APIError(400, str(exc), param="messages", code=code) from None

    def completion_ids(self, prompt: str, max_new_tokens: int) -> list[int]:
        """A text completion's prompt ids; APIError 400 when empty or beyond the context."""
        with self._validator_lock:
            ids = self._validator.tokenizer(prompt).input_ids
        context = self.engine.context_length
        if not prompt or not ids:
            raise APIError(400, "the prompt is empty", param="prompt")
        if len(ids) + max_new_tokens > context:
            raise APIError(
                400,
                f"the prompt ({len(ids)} tokens) and max_tokens ({max_new_tokens}) do not fit "
                f"the model's context ({context} tokens)",
                param="prompt",
                code="context_length_exceeded",
            )
        return ids

    def sampling(self, body: ChatCompletionRequest | CompletionRequest) -> SamplingConfig:
        max_new = body.max_completion_tokens or body.max_tokens or self.settings.default_max_tokens
        temperature = body.temperature
        if temperature is not None and 0 < temperature < MIN_TEMPERATURE:
            temperature = 0.0  # greedy in all but name; tiny values overflow the sampler
        given = {
            "temperature": temperature,
            "top_p": body.top_p,
            "top_k": body.top_k,
            "repetition_penalty": body.repetition_penalty,
            "seed": body.seed,
        }
        try:  # unset fields keep OncoGPT's defaults (the original chat program's)
            return SamplingConfig(
                max_new_tokens=max_new, **{k: v for k, v in given.items() if v is not None}
            )
        except GenerationError as exc:
            raise APIError(400, str(exc)) from None


# ------------------------------------------------------------------ middleware and errors


class Guard:
    """Pure ASGI, so it runs before body parsing: the API key for /v1/*, a body size limit
    (also for chunked uploads, which carry no Content-Length) and security headers."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int) -> None:
        self.app, self.api_key, self.max_body_bytes = app, api_key, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope["headers"]}
        error = self._reject(scope["path"], headers)
        if error is not None:
            return await _send_error(send, error)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise StarletteHTTPException(413, "the request body is too large")
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, limited_receive, send_with_headers)

    def _reject(self, path: str, headers: dict[bytes, bytes]) -> APIError | None:
        length = headers.get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return APIError(413, "the request body is too large")
        if self.api_key is None or not path.startswith("/v1"):
            return None
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            return None
        return APIError(
            401,
            "missing or invalid API key: send the header `Authorization: Bearer KEY`",
            code="invalid_api_key",
        )


async def _send_error(send: Send, error: APIError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error_type(status: int) -> str:
    return {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}.get(
        status, "invalid_request_error" if status < 500 else "server_error"
    )


_TYPE_TAGS = {"str", "int", "float", "bool"}


def _param(loc: tuple) -> str | None:
    """`messages.0.content` from pydantic's location, without its union and validator tags
    (`function-after[...]`, `list[TextPart]`, `str`) that mean nothing to a client."""
    parts = [
        str(p)
        for p in loc
        if p != "body" and p not in _TYPE_TAGS and not ("[" in str(p) or "-" in str(p))
    ]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    """Every error in OpenAI's shape; bad input is a 400 (FastAPI would say 422), never a 500."""

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        headers = {"Retry-After": "1"} if exc.status == 429 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Only locations and pydantic's messages: the input itself may be patient text.
        errors = exc.errors()
        if errors and errors[0].get("type") == "json_invalid":
            reason = (errors[0].get("ctx") or {}).get("error", "cannot be parsed")
            return JSONResponse(error_body(f"invalid JSON in the body: {reason}"), status_code=400)
        params = [_param(e.get("loc", ())) for e in errors[:3]]
        messages = "; ".join(
            f"{p or 'body'}: {e['msg'].removeprefix('Value error, ')}"
            for p, e in zip(params, errors, strict=False)
        )
        body = error_body(f"invalid request: {messages}", param=params[0] if params else None)
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = error_body(str(exc.detail), _error_type(exc.status_code))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log_crash(f"internal error on {request.url.path}", exc)
        return JSONResponse(error_body("internal server error", "server_error"), status_code=500)


# ------------------------------------------------------------------ routes


def create_app(engine: Engine, settings: ServeSettings | None = None) -> FastAPI:
    """The FastAPI app around a loaded engine; its lifespan runs the engine's worker."""
    settings = settings or ServeSettings()
    state = ServeState(engine, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.scheduler.start()
        yield
        state.scheduler.close()

    # No /docs: Swagger UI loads its assets from a CDN, and this server works offline.
    app = FastAPI(title="OncoGPT", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.oncogpt = state
    install_error_handlers(app)
    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/v1/models", list_models, methods=["GET"])
    app.add_api_route("/v1/models/{model:path}", get_model, methods=["GET"])
    app.add_api_route("/v1/chat/completions", chat_completions, methods=["POST"])
    if settings.raw_completions:
        app.add_api_route("/v1/completions", text_completions, methods=["POST"])
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(Guard, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes)
    return app


def _state(request: Request) -> ServeState:
    return request.app.state.oncogpt


async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def health(request: Request) -> dict[str, Any]:
    state = _state(request)
    return {"status": "ok", "model": state.settings.model_id, "queue": state.scheduler.stats()}


def _model_card(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "oncogpt"}


async def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [_model_card(_state(request).settings.model_id)]}


async def get_model(model: str, request: Request) -> dict[str, Any]:
    _check_model(_state(request), model)
    return _model_card(model)


def _check_model(state: ServeState, name: str) -> None:
    if name not in state.model_names:
        raise APIError(
            404,
            f"the model {name!r} does not exist; this server serves {state.settings.model_id!r}",
            param="model",
            code="model_not_found",
        )


async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    state = _state(request)
    _check_model(state, body.model)
    conv = to_conversation(body.messages)
    sampling = state.sampling(body)
    prompt_tokens = await run_in_threadpool(state.prompt_tokens, conv, sampling.max_new_tokens)
    assessment = assess(conv.question)
    job = Job(
        conv,
        sampling,
        body.stream,
        deadline=time.monotonic() + state.settings.request_timeout_s,
        loop=asyncio.get_running_loop(),
        matcher=StopMatcher(body.stop_sequences(), assessment.frame().protected_chars),
        cite=bool(body.cite),
    )
    reply = _Reply(state, job, new_completion_id(), prompt_tokens, safety_info(assessment))
    return await _respond(reply, body.include_usage(), request)


async def text_completions(body: CompletionRequest, request: Request) -> Response:
    """The raw model continuing `prompt` (see ServeSettings.raw_completions)."""
    state = _state(request)
    _check_model(state, body.model)
    sampling = state.sampling(body)
    ids = await run_in_threadpool(state.completion_ids, body.prompt, sampling.max_new_tokens)
    job = Job(
        None,  # type: ignore[arg-type] - a raw completion has no conversation
        sampling,
        body.stream,
        deadline=time.monotonic() + state.settings.request_timeout_s,
        loop=asyncio.get_running_loop(),
        matcher=StopMatcher(body.stop_sequences()),
        prompt_ids=ids,
    )
    reply = _Reply(state, job, new_completion_id("cmpl"), len(ids), {}, raw=True)
    return await _respond(reply, body.include_usage(), request)


async def _respond(reply: _Reply, include_usage: bool, request: Request) -> Response:
    """Queue the reply's job (429 when the queue is full), then stream it as server-sent
    events or answer it whole."""
    try:
        reply.state.scheduler.submit(reply.job)
    except QueueFull as exc:
        raise APIError(429, f"{exc}; retry shortly", code="queue_full") from None
    if reply.job.stream:
        return StreamingResponse(
            reply.sse(include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await reply.complete(request)


class ClientGone(Exception):
    """The client of a non-streaming request disconnected while it waited."""


@dataclasses.dataclass
class _Reply:
    """One accepted request: turns the worker's events into the response."""

    state: ServeState
    job: Job
    cid: str
    prompt_tokens: int
    info: dict[str, Any]
    raw: bool = False
    """A text completion (/v1/completions) rather than a chat completion."""

    async def next_event(self, request: Request | None = None) -> Event:
        while True:
            left = self.job.deadline - time.monotonic()
            if left <= 0:
                self.state.scheduler.cancel(self.job)
                return Failed(504, "the request timed out; try again later", "timeout_error")
            wait = left if request is None else min(left, DISCONNECT_POLL_S)
            try:
                return await asyncio.wait_for(self.job.events.get(), wait)
            except TimeoutError:
                if request is not None and await request.is_disconnected():
                    self.state.scheduler.cancel(self.job)
                    raise ClientGone from None

    async def complete(self, request: Request) -> Response:
        try:
            event = await self.next_event(request)
        except ClientGone:
            return Response(status_code=408)  # nobody reads it; the access log does
        if isinstance(event, Failed):
            raise APIError(event.status, event.message, event.type)
        assert not isinstance(event, Delta)  # non-streaming jobs emit only their result
        used = usage(self.prompt_tokens, event.completion_tokens)
        if self.raw:
            model = self.state.settings.model_id
            return JSONResponse(
                text_completion_body(self.cid, model, event.content, event.finish_reason, used)
            )
        body = completion_body(
            self.cid,
            self.state.settings.model_id,
            event.content,
            event.finish_reason,
            usage(self.prompt_tokens, event.completion_tokens),
            self.info,
        )
        return JSONResponse(body)

    async def sse(self, include_usage: bool) -> AsyncIterator[bytes]:
        """OpenAI's chunks as `data: {...}` events; a client that leaves cancels this
        generator (Starlette watches for the disconnect), and `finally` frees the slot."""
        model = self.state.settings.model_id
        try:
            first = {"role": "assistant", "content": ""}
            if not self.raw:
                yield _data(chunk_body(self.cid, model, first, oncogpt=self.info))
            while True:
                event = await self.next_event()
                if isinstance(event, Delta):
                    yield _data(self._chunk(model, event.text))
                    continue
                if isinstance(event, Failed):
                    yield _data(error_body(event.message, event.type))
                    return
                yield _data(self._chunk(model, "", event.finish_reason))
                if include_usage:
                    used = usage(self.prompt_tokens, event.completion_tokens)
                    yield _data(chunk_body(self.cid, model, None, usage=used))
                yield b"data: [DONE]\n\n"
                return
        finally:
            self.state.scheduler.cancel(self.job)

    def _chunk(self, model: str, text: str, finish: str | None = None) -> dict[str, Any]:
        if self.raw:
            return text_completion_body(self.cid, model, text, finish)
        return chunk_body(self.cid, model, {"content": text} if text else {}, finish)


def _data(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


# ------------------------------------------------------------------ running it


def model_id(model: str | Path, adapter: str | Path | None = None) -> str:
    """The name /v1/models lists: the base model's real name and the adapter in use."""
    from oncogpt.models import describe

    return describe(model, adapter)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    model: str | Path = "default",
    adapter: str | Path | None = "default",
    template: str = "auto",
    settings: ServeSettings | None = None,
    *,
    decoder: str = "auto",
    device: str = "auto",
    dtype: str = "auto",
    weights: str = "auto",
    backend: str | None = None,
    **fields: Any,
) -> None:
    """Load the model and serve the API and the web page until interrupted (Ctrl-C).

    `settings` (or ServeSettings' defaults) with `fields` replaced: `serve("default", port=9000)`.
    """
    import uvicorn

    settings = dataclasses.replace(
        settings or ServeSettings(), **fields, model_id=model_id(model, adapter)
    )
    kb = settings.kb
    if kb is not None and not Path(kb).is_file():
        raise FileNotFoundError(
            f"--kb {kb}: no such knowledge base file (build one with `oncogpt kb build`)"
        )
    engine = Engine.load(
        model, adapter, template, decoder=decoder, device=device, dtype=dtype, weights=weights,
        backend=backend,
    )  # fmt: skip
    host, port = settings.host, settings.port
    if not _is_loopback(host) and not settings.api_key:
        log.warning("serving on %s without an API key: anyone who can reach it can use it", host)
    print(f"OncoGPT (research only, not for clinical use) on http://{host}:{port}/", flush=True)
    app = create_app(engine, settings)
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level)


class BackgroundServer:
    """Run an app with uvicorn in a thread on a free loopback port (tests, benchmarks).

    The socket is bound here and handed to uvicorn, so there is no race for the port."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only when
        # the listening socket says so, and without it Nagle adds ~40 ms to every response.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
