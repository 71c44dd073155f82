"""How the server runs: `ServeSettings`, the one place each serving default is written.

The flags of `oncogpt serve` are generated from it (serve/options.py) and `serve()` and
`create_app()` take it, so a default changed here changes everywhere. Imports nothing but the
standard library: the CLI builds its parser from it without loading FastAPI.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class ServeSettings:
    model_id: str = "oncogpt"
    """The name /v1/models lists; requests may also say `oncogpt`."""
    host: str = "127.0.0.1"
    """Address to bind (default: loopback); elsewhere without an API key logs a warning."""
    port: int = 8000
    """TCP port to listen on."""
    api_key: str | None = None
    """When set, /v1/* needs `Authorization: Bearer KEY` (the CLI's default: $ONCOGPT_API_KEY)."""
    max_queue: int = 16
    """Requests that may wait for the engine; more are refused with 429."""
    max_batch: int = 8
    """Non-streaming requests answered in one generate call."""
    raw_completions: bool = False
    """Also serve /v1/completions: the raw model continuing a prompt text, WITHOUT the safety
    layer, for OncoGPT front ends that apply it themselves (`oncogpt ... --backend URL`)."""
    batch_window_s: float = 0.01
    """How long the worker waits for more requests to batch with the first."""
    request_timeout_s: float = 300.0
    """Queueing plus generation; past it the request ends with a timeout error."""
    default_max_tokens: int = 256
    """Answer length when the request gives neither max_tokens nor max_completion_tokens."""
    max_body_bytes: int = 1 << 20
    """Largest request body accepted; larger ones are refused with 413."""
    log_level: str = "info"
    """uvicorn's log level: warning, info, debug."""
    kb: str | None = None
    """Knowledge base (SQLite file from `oncogpt kb build`) for `cite`; default: the shipped one."""
