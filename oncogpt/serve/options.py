"""The flags of `oncogpt serve`, kept apart from the server so that building the CLI's parser
does not import FastAPI and uvicorn."""

from __future__ import annotations

import argparse
import os


def add_serve_flags(p: argparse.ArgumentParser) -> None:
    """The flags of `oncogpt serve`: the CLI's model flags, then the server's own."""
    from oncogpt.cli import add_model_flags

    add_model_flags(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--api-key",
        default=os.environ.get("ONCOGPT_API_KEY"),
        help="require `Authorization: Bearer KEY` on /v1 (default: $ONCOGPT_API_KEY)",
    )
    p.add_argument("--max-queue", type=int, default=16, help="waiting requests before 429")
    p.add_argument("--max-batch", type=int, default=8, help="requests per batched generate")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    p.add_argument("--max-tokens", type=int, default=256, help="default answer length")
    p.add_argument("--log-level", default="info", help="uvicorn's: warning, info, debug")
    p.add_argument(
        "--raw-completions", action="store_true",
        help="also serve /v1/completions: the raw model WITHOUT the safety layer, as a backend "
        "for OncoGPT front ends that apply it (oncogpt serve/ask/chat --backend URL)",
    )  # fmt: skip


def serve_from_args(args: argparse.Namespace) -> int:
    from oncogpt.serve.app import serve

    serve(
        args.model,
        args.adapter,
        args.template,
        decoder=args.decoder,
        backend=args.backend,
        raw_completions=args.raw_completions,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        max_queue=args.max_queue,
        max_batch=args.max_batch,
        request_timeout_s=args.timeout,
        default_max_tokens=args.max_tokens,
        log_level=args.log_level,
    )
    return 0
