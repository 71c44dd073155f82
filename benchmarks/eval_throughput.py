"""Evaluation throughput: answers per minute of `oncogpt eval` on the default model.

Runs the whole harness (answer, score with ROUGE-L/BLEU/chrF/BERTScore/cosine, perplexity of
the reference) on the first N questions of ../shared/data/oncogpt_qa_public.json twice, each in
a fresh process: as configured by default (fast decoder, batches of 32) and as the original
program would (transformers `generate`, one question at a time). Prints answers per minute of
each, their ratio, and peak memory.

    .venv/bin/python benchmarks/eval_throughput.py --questions 32
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SETUPS = {
    "oncogpt eval (fast decoder, batches of 32)": {"decoder": "fast", "batch_size": 32},
    "plain generate, one by one": {"decoder": "plain", "batch_size": 1},
}


def child(name: str, questions: int) -> dict:
    from oncogpt.evaluate.run import EvalConfig, run_eval

    with tempfile.TemporaryDirectory() as tmp:
        config = EvalConfig(
            data=str(SHARED / "oncogpt_qa_public.json"),
            labels=str(SHARED / "oncogpt_qa_public.labels.jsonl"),
            out=tmp,
            limit=questions,
            **SETUPS[name],
        )
        run = json.loads((run_eval(config) / "run.json").read_text())["this_call"]
    run["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--child", choices=sorted(SETUPS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.questions)))
        return
    results = {}
    for name in SETUPS:
        cmd = [sys.executable, __file__, "--child", name, "--questions", str(args.questions)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    for name, r in results.items():
        print(f"{name:>44}: {r['answers_per_minute']:6.1f} answers/min "
              f"({r['answered']} in {r['minutes']} min), peak {r['peak_mib']:.0f} MiB")  # fmt: skip
    fast, plain = (r["answers_per_minute"] for r in results.values())
    print(f"answers/min, oncogpt eval vs plain one by one: {fast / plain:.2f}x")


if __name__ == "__main__":
    main()
