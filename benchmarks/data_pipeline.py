"""Data pipeline throughput and memory on the real shared files scaled up.

Rows are made by pairing real questions with real answers from ../shared/data (so they are not
near-duplicates of each other), written as Alpaca JSONL. Each size is run twice in fresh
processes: `oncogpt data build` on it, and a plain read-and-write of the same rows (the
baseline). Prints rows/s, the ratio to the baseline, and peak RSS per size (flat memory shows as
similar peaks at different sizes). `--deid-cost` also builds with the rules-only de-identifier
(`deid_ner: false`) and prints the default (rules + NER) build's rows/s as a ratio of it.

    .venv/bin/python benchmarks/data_pipeline.py --rows 50000 200000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def real_pairs() -> tuple[list[str], list[str]]:
    questions, answers = [], []
    for name, field in (("genmedgpt5k.json", "input"), ("oncogpt_qa_public.json", "question")):
        for row in json.loads((SHARED / name).read_text()):
            questions.append(row[field])
            answers.append(row["output"])
    return questions, answers


def write_rows(path: Path, n: int, seed: int = 0) -> None:
    questions, answers = real_pairs()
    rng = random.Random(seed)
    with path.open("w") as fh:
        for i in range(n):
            row = {
                "instruction": "If you are a doctor, please answer the medical questions.",
                "input": f"{rng.choice(questions)} (case {i})",
                "output": rng.choice(answers),
            }
            fh.write(json.dumps(row) + "\n")


def plain_copy(src: Path, dst: Path) -> None:
    with src.open() as fin, dst.open("w") as fout:
        for line in fin:
            fout.write(json.dumps(json.loads(line)) + "\n")


def child(mode: str, src: Path, out: Path) -> None:
    """mode: baseline (plain copy), pipeline (the default build) or rules (deid_ner false)."""
    """Runs in a fresh process so its peak RSS is its own."""
    started = time.perf_counter()
    if mode == "baseline":
        plain_copy(src, out / "copy.jsonl")
    else:
        from oncogpt.config import load_config
        from oncogpt.data.config import DataConfig
        from oncogpt.data.pipeline import build_dataset

        config = load_config(
            DataConfig, None, output_dir=str(out / "built"), val_set_size=500, test_size=500,
            sources=[{"path": str(src), "options": {"instruction": "system"}}],
            deid_ner=mode != "rules",
        )  # fmt: skip
        build_dataset(config)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib}))


def measure(mode: str, src: Path, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(src), str(out)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[20000, 200000])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--deid-cost", action="store_true", help="also time rules-only de-id")
    args = parser.parse_args()
    if args.child:
        mode, src, out = args.child
        return child(mode, Path(src), Path(out))
    print(f"{'rows':>8} {'pipeline rows/s':>16} {'baseline rows/s':>16} {'ratio':>7} "
          f"{'pipeline peak MiB':>18} {'baseline peak MiB':>18}")  # fmt: skip
    for n in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "rows.jsonl"
            write_rows(src, n)
            base = measure("baseline", src, Path(tmp))
            ours = measure("pipeline", src, Path(tmp))
            rules = measure("rules", src, Path(tmp)) if args.deid_cost else None
        print(f"{n:>8} {n / ours['seconds']:>16.0f} {n / base['seconds']:>16.0f} "
              f"{base['seconds'] / ours['seconds']:>7.4f} {ours['peak_mib']:>18.0f} "
              f"{base['peak_mib']:>18.0f}", flush=True)  # fmt: skip
        if rules:
            print(f"{n:>8} rules-only de-id {n / rules['seconds']:.0f} rows/s; rules + NER "
                  f"{n / ours['seconds']:.0f} rows/s = {rules['seconds'] / ours['seconds']:.2f}x "
                  f"the rules-only speed", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
