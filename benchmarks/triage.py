"""Triage speed: messages per second and the latency each chat turn gains from the learned head.

``python benchmarks/triage.py [--n 200]``

Runs `assess` on real patient messages (the public OncoGPT questions when ../shared/data is
there, else the project's triage messages) with the rules alone and with rules + learned head,
interleaved in rounds so that a busy machine slows both alike, and prints both rates, the
added milliseconds per message (median over messages) and their ratio. The issue's bar: under
20 ms a message for the learned part.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT / ".." / "shared" / "data" / "oncogpt_qa_public.json"
OWN = ROOT / "oncogpt" / "resources" / "triage" / "messages.jsonl"


def messages(n: int) -> tuple[str, list[str]]:
    if PUBLIC.is_file():
        return "public questions", [r["question"] for r in json.loads(PUBLIC.read_text())][:n]
    rows = [json.loads(line) for line in OWN.read_text().splitlines() if line.strip()]
    return "triage messages", [r["text"] for r in rows][:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from oncogpt import safety

    source, texts = messages(args.n)
    safety.assess("warm up the encoder and the head")
    rules_ms: list[list[float]] = [[] for _ in texts]
    full_ms: list[list[float]] = [[] for _ in texts]
    for _ in range(args.rounds):
        safety._read.cache_clear()  # noqa: SLF001 - measure the head, not the cache
        for i, text in enumerate(texts):
            start = time.perf_counter()
            safety.assess(text, learned=False)
            rules_ms[i].append(1000 * (time.perf_counter() - start))
            start = time.perf_counter()
            safety.assess(text)
            full_ms[i].append(1000 * (time.perf_counter() - start))
    rules = [min(v) for v in rules_ms]
    full = [min(v) for v in full_ms]
    added = [f - r for f, r in zip(full, rules, strict=True)]
    words = statistics.median(len(t.split()) for t in texts)
    print(f"{len(texts)} {source} (median {words:.0f} words), best of {args.rounds} rounds")
    print(f"rules only:        {1000 / statistics.mean(rules):8.1f} messages/s")
    print(f"rules + learned:   {1000 / statistics.mean(full):8.1f} messages/s")
    print(f"added per chat turn: median {statistics.median(added):.1f} ms, "
          f"p90 {sorted(added)[int(0.9 * len(added))]:.1f} ms")  # fmt: skip
    ratio = statistics.mean(full) / statistics.mean(rules)
    print(f"ratio (rules+learned time / rules time): {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
