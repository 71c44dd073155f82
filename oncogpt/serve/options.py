"""The flags of `oncogpt serve` and `python -m oncogpt.serve`: the shared model flags
(oncogpt/flags.py), then one flag per ServeSettings field (oncogpt/config.py's
add_config_flags), so each default is written once, in ServeSettings.

Kept apart from the server so that building the CLI's parser does not import FastAPI and
uvicorn; imports no front end (cli).
"""

from __future__ import annotations

import argparse
import os

from oncogpt.config import add_config_flags, flag_overrides, load_config
from oncogpt.flags import add_model_flags
from oncogpt.serve.settings import ServeSettings

#: The short spellings the serve flags have always had, beside the field names.
ALIASES = {"request_timeout_s": "--timeout", "default_max_tokens": "--max-tokens"}
#: Set by serve() from --model and --adapter, not by a flag.
NOT_FLAGS = ("model_id",)


def add_serve_flags(p: argparse.ArgumentParser) -> None:
    """The flags of `oncogpt serve`: the model flags, then the server's own."""
    add_model_flags(p)
    add_config_flags(p, ServeSettings, skip=NOT_FLAGS, aliases=ALIASES)


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """ServeSettings from the flags; the API key defaults to $ONCOGPT_API_KEY."""
    given = flag_overrides(args, ServeSettings)
    if given.get("api_key") is None and os.environ.get("ONCOGPT_API_KEY"):
        given["api_key"] = os.environ["ONCOGPT_API_KEY"]
    return load_config(ServeSettings, None, **given)


def serve_from_args(args: argparse.Namespace) -> int:
    from oncogpt.serve.app import serve

    serve(
        args.model, args.adapter, args.template, settings_from_args(args),
        decoder=args.decoder, device=args.device, dtype=args.dtype, weights=args.weights,
        backend=args.backend,
    )  # fmt: skip
    return 0
