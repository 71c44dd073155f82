"""The flags the front ends share (`oncogpt ask/chat/serve`, `python -m oncogpt.serve`): the
model flags, the placement flags and the sampling flags, and what each builds.

Imports no front end (cli, chat, serve), so every front end can import it; heavy modules
(models, generate) are imported on first use, so building a parser stays cheap.
"""

from __future__ import annotations

import argparse


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """`--model`, `--adapter`, `--template`, `--decoder`, `--weights`, `--backend`, and the
    placement flags."""
    p.add_argument("--model", default="default", help="built-in name, model folder or .gguf file")
    p.add_argument(
        "--adapter", default="default",
        help="LoRA adapter folder; default: the shipped OncoGPT adapter (on --model default); "
        "none: the bare base model",
    )  # fmt: skip
    p.add_argument(
        "--template", default="auto", help="auto, oncogpt, model, or a template .json file"
    )
    p.add_argument(
        "--decoder", default="auto", choices=["auto", "fast", "plain"],
        help="fast (CPU decoder), plain (transformers generate); auto: fast on CPU, plain on GPU",
    )  # fmt: skip
    p.add_argument(
        "--weights", default="auto", choices=["auto", "bf16", "int8", "int4"],
        help="the fast decoder's weights: bf16 (unquantized; fp32 on CPUs without bf16 "
        "matmuls), int8 or int4 (weight-only); auto: the measured default (docs/serving.md)",
    )  # fmt: skip
    p.add_argument(
        "--backend", default=None, metavar="URL",
        help="decode on this OpenAI-compatible server (vLLM, llama.cpp, TGI, Ollama, oncogpt "
        "serve); OncoGPT keeps the prompt, safety layer and citations. --model names its "
        "tokenizer; $ONCOGPT_BACKEND_MODEL the remote model name, $ONCOGPT_BACKEND_KEY its key",
    )  # fmt: skip
    add_placement_flags(p)


def add_placement_flags(p: argparse.ArgumentParser) -> None:
    """`--device` and `--dtype`, for every command that loads a model for inference."""
    from oncogpt.models import DEVICE_HELP, DTYPE_HELP

    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--dtype", default="auto", help=DTYPE_HELP)


def load_engine(args: argparse.Namespace):
    """The engine that the model flags (add_model_flags) ask for."""
    from oncogpt.generate import Engine

    return Engine.load(
        args.model, args.adapter, args.template, decoder=args.decoder,
        device=args.device, dtype=args.dtype, weights=args.weights, backend=args.backend,
    )  # fmt: skip


def add_sampling_flags(p: argparse.ArgumentParser) -> None:
    """One flag per SamplingConfig field."""
    from oncogpt.config import add_config_flags
    from oncogpt.generate import SamplingConfig

    add_config_flags(p, SamplingConfig)


def sampling_from_args(args: argparse.Namespace):
    """The SamplingConfig the sampling flags (add_sampling_flags) ask for."""
    from oncogpt.config import flag_overrides, load_config
    from oncogpt.generate import SamplingConfig

    return load_config(SamplingConfig, None, **flag_overrides(args, SamplingConfig))
