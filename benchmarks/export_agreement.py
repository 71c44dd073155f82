"""How closely llama.cpp on `oncogpt export --format gguf` answers like OncoGPT's engine.

Exports the shipped OncoGPT model as f16 and q8_0 GGUF, answers N real questions greedily with
the engine on fp32 (FastDecoder float32 = generate's tokens) and with llama.cpp on each GGUF
(the same prompt ids, the same repetition penalty 1.1), and prints how many of the first T
tokens agree. Needs llama-cpp-python (`make llamacpp`).

    .venv/bin/python benchmarks/export_agreement.py --questions 20 --tokens 32
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from oncogpt.conversation import Conversation
from oncogpt.export import ExportConfig, export, llamacpp_agreement
from oncogpt.fastdecode import FastDecoder
from oncogpt.generate import SamplingConfig
from oncogpt.models import SHIPPED_ADAPTER, load_model
from oncogpt.prompts import choose_template, render_prompt

STARTER = SHIPPED_ADAPTER.parent / "starter_conversations.jsonl"


def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in STARTER.read_text().splitlines()]
    return [row["turns"][0]["text"] for row in rows[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    model, tokenizer = load_model("default", "default", dtype="float32")
    template = choose_template("auto", tokenizer)
    prompts = [render_prompt(Conversation.single(q), tokenizer, template)
               for q in questions(args.questions)]  # fmt: skip
    sampling = SamplingConfig(greedy=True, max_new_tokens=args.tokens, whole_sentences=False)
    answers = FastDecoder(model, tokenizer, dtype="float32").generate_many(prompts, sampling, 1)
    eos = {tokenizer.eos_token_id}
    with tempfile.TemporaryDirectory() as tmp:
        for quant in ("f16", "q8_0"):
            start = time.perf_counter()
            out = export(ExportConfig(out=f"{tmp}/{quant}", format="gguf", quant=quant))
            seconds = time.perf_counter() - start
            gguf = Path(out) / f"oncogpt-{quant}.gguf"
            shared, forced = llamacpp_agreement(gguf, prompts, answers, eos)
            full = sum(s == len(a) for s, a in zip(shared, answers, strict=True))
            total = sum(len(a) for a in answers)
            print(f"{quant}: export {seconds:.0f} s, {gguf.stat().st_size / 2**20:.0f} MiB; "
                  f"identical answers {full}/{len(prompts)}; tokens before the first difference "
                  f"{sum(shared)}/{total} {shared}; teacher-forced top-1 {sum(forced)}/{total}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
