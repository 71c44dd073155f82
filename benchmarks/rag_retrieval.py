"""Benchmark: knowledge-base build rate and retrieval latency on the shared corpus.

Builds a KB from ../shared/data/medical_meadow_small.json + disease_database.csv (6,738
passages) into a temporary folder (or --kb PATH, rebuilt incrementally), then times 200 queries:
the `input` question of a seeded sample of medical_meadow rows with about a third of the words
dropped. Hybrid search (bm25 + dense, RRF) is compared with a lexical-only baseline on the same
KB and queries; recall@k counts the query's own row among the hits.

    .venv/bin/python benchmarks/rag_retrieval.py [--queries 200] [--seed 0] [--kb PATH]

Timings depend on what else runs on the machine: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from oncogpt.rag.encoder import default_encoder
from oncogpt.rag.kb import build_kb
from oncogpt.rag.retrieve import SqliteRetriever

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCES = [SHARED / "medical_meadow_small.json", SHARED / "disease_database.csv"]


def paraphrase(question: str, rng: random.Random, drop: float = 0.35) -> str:
    """The question with about `drop` of its words removed (at least two words kept)."""
    words = question.split()
    kept = [w for w in words if rng.random() >= drop]
    if len(kept) < 2:
        kept = words[: max(2, len(words) // 2)]
    return " ".join(kept)


def make_queries(n: int, seed: int) -> list[tuple[str, str]]:
    """(query, original question) pairs from a seeded sample of medical_meadow rows."""
    rows = json.loads(SOURCES[0].read_text(encoding="utf-8"))
    rng = random.Random(seed)
    sample = rng.sample(rows, n)
    return [(paraphrase(r["input"], rng), r["input"].strip()) for r in sample]


def time_queries(
    retriever: SqliteRetriever, queries: list[tuple[str, str]], k: int = 5
) -> tuple[list[float], dict[int, float]]:
    """Per-query latency in ms, and recall@1/@5 of the query's own question among the titles."""
    latencies, found = [], {1: 0, 5: 0}
    for query, question in queries:
        start = time.perf_counter()
        hits = retriever.search(query, k=k)
        latencies.append((time.perf_counter() - start) * 1000)
        titles = [h.title for h in hits]
        found[1] += question in titles[:1]
        found[5] += question in titles[:5]
    return latencies, {k: v / len(queries) for k, v in found.items()}


def load() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def report(name: str, latencies: list[float], recall: dict[int, float]) -> tuple[float, float]:
    p50, p95 = np.percentile(latencies, [50, 95])
    mean = statistics.mean(latencies)
    print(
        f"  {name:8s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   mean {mean:6.1f} ms"
        f"   recall@1 {recall[1]:.3f}   recall@5 {recall[5]:.3f}"
    )
    return float(p50), float(p95)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kb", type=Path, help="KB file to build or update (default: temporary)")
    args = parser.parse_args(argv)
    missing = [p for p in SOURCES if not p.is_file()]
    if missing:
        print(f"error: {missing[0]} is absent (../shared/data beside the repo)", file=sys.stderr)
        return 1
    import torch

    print(
        f"RAG retrieval benchmark: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}"
    )
    print(f"  before: {load()}")
    started = time.perf_counter()
    encoder = default_encoder()
    print(f"  encoder load: {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        kb = args.kb or Path(tmp) / "kb.sqlite"
        stats = build_kb(SOURCES, kb, encoder=encoder)
        print(f"\nIndex build: {stats.summary()}")
        if stats.embedded:
            rate = stats.embedded / stats.seconds
            print(f"  build rate: {rate:.1f} passages/s ({stats.passages} passages in total)")
        else:
            print("  build rate: n/a (incremental rebuild: nothing new to embed)")
        print(f"  after build: {load()}")
        queries = make_queries(args.queries, args.seed)
        print(f"\nQueries: {len(queries)}, e.g. {queries[0][0]!r} (from {queries[0][1]!r})")
        results = {}
        for mode in ("lexical", "hybrid", "dense"):
            retriever = SqliteRetriever(kb, encoder=encoder, mode=mode)
            retriever.search(queries[0][0])  # warm-up: page cache, first forward pass
            results[mode] = report(mode, *time_queries(retriever, queries))
            retriever.close()
    (h50, h95), (l50, l95) = results["hybrid"], results["lexical"]
    print(f"\nhybrid / lexical latency: p50 x{h50 / l50:.1f}, p95 x{h95 / l95:.1f}")
    verdict = "meets" if h95 < 50 else "MISSES"
    print(f"hybrid p95 {h95:.1f} ms {verdict} the 50 ms target")
    print(f"  after queries: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
