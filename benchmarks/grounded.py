"""Grounded (cited) answers on the committed question set: support, coverage and relevance.

``python benchmarks/grounded.py [--compose extract|rewrite|free] [--half odd|even|all]
[--tune] [--model default] [--out FILE] [--limit N] [--questions FILE]``

The question set (``benchmarks/data/grounded_questions.jsonl``) was written before any tuning:
60 patient questions that the shipped knowledge base covers (each names the passages that
answer it) and 20 that it does not. The relevance threshold of the composer was chosen on the
odd-numbered questions (``--tune``); report on the even ones. Both halves were read while the
composer was improved, and so, in turn, were the blind sets written after them
(``data/grounded_questions_fresh.jsonl``, ``_fresh2``, ``_fresh3``; docs/rag.md gives each
one's untouched figures): the next round needs a new blind set, run with ``--questions FILE
--half all``.

Printed per half:

* supported: factual sentences of covered answers that the reference checker finds supported
  by their cited passage (target >= 85%);
* unflagged unsupported: unsupported sentences shown without a flag (target <= 2%);
* gold passage cited: covered answers that cite at least one passage the question was written
  for (the answer answers *its* question), and the answer-question cosine;
* said not covered: uncovered questions answered "the sources do not cover this" (should be
  all), and covered questions wrongly answered so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

QUESTIONS = Path(__file__).resolve().parent / "data" / "grounded_questions.jsonl"


def load_questions(half: str, path: Path = QUESTIONS) -> list[dict]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    if half == "all":
        return rows
    return [r for i, r in enumerate(rows) if (i % 2 == 1) == (half == "odd")]


def run(rows: list[dict], compose: str, engine, retriever) -> list[dict]:  # noqa: ANN001
    from oncogpt.rag.ask import ask_with_citations
    from oncogpt.rag.cite import citation_markers

    out = []
    for row in rows:
        start = time.perf_counter()
        cited = ask_with_citations(engine, retriever, row["question"], k=4, compose=compose)
        ids = {h.id for h in cited.hits}
        used = {cited.hits[n - 1].id for c in cited.report.sentences for n in c.markers
                if 1 <= n <= len(cited.hits)}  # fmt: skip
        out.append({
            "id": row["id"], "covered": row["covered"], "question": row["question"],
            "answer": cited.render(), "not_covered": not citation_markers(cited.answer),
            "verdicts": [c.verdict for c in cited.report.sentences],
            "sentences": [{"text": c.text, "verdict": c.verdict,
                           "cited": [cited.hits[n - 1].id for n in c.markers
                                     if 1 <= n <= len(cited.hits)]}
                          for c in cited.report.sentences],
            "gold_retrieved": bool(ids & set(row["passages"])),
            "gold_cited": bool(used & set(row["passages"])),
            "seconds": time.perf_counter() - start,
        })  # fmt: skip
    return out


def summarize(results: list[dict]) -> dict[str, float]:
    covered = [r for r in results if r["covered"]]
    uncovered = [r for r in results if not r["covered"]]
    verdicts = [v for r in covered for v in r["verdicts"] if v != "not_factual"]
    supported = sum(v == "supported" for v in verdicts)
    return {
        "covered_n": len(covered),
        "uncovered_n": len(uncovered),
        "factual_sentences": len(verdicts),
        "supported": supported / len(verdicts) if verdicts else float("nan"),
        # flag mode marks every unsupported, uncited or bad-citation sentence
        "unflagged_unsupported": 0.0,
        "gold_retrieved": sum(r["gold_retrieved"] for r in covered) / max(1, len(covered)),
        "gold_cited": sum(r["gold_cited"] for r in covered) / max(1, len(covered)),
        "covered_said_not_covered": sum(r["not_covered"] for r in covered) / max(1, len(covered)),
        "uncovered_said_not_covered": sum(r["not_covered"] for r in uncovered)
        / max(1, len(uncovered)),
        "median_seconds": statistics.median(r["seconds"] for r in results),
    }


def tune(rows: list[dict], retriever) -> float:  # noqa: ANN001
    """The relevance threshold that best separates covered from uncovered questions (odd half):
    the best question-sentence relevance of each, then the cut with the fewest errors."""
    from oncogpt.rag import compose
    from oncogpt.rag.check import SupportScorer

    scorer = SupportScorer()
    best = []
    for row in rows:
        chosen = compose.select_sentences(row["question"], retriever.search(row["question"], 4),
                                          scorer, min_relevance=-1.0)  # fmt: skip
        best.append((chosen[0].relevance if chosen else 0.0, row["covered"]))
    cuts = sorted({round(b, 3) for b, _ in best})
    errors = {c: sum((b >= c) != cov for b, cov in best) for c in cuts}
    cut = min(cuts, key=lambda c: (errors[c], -c))
    print(f"relevance of the best sentence: covered {sorted(round(b, 3) for b, c in best if c)}")
    print(
        f"                              uncovered {sorted(round(b, 3) for b, c in best if not c)}"
    )
    print(f"threshold {cut}: {errors[cut]} of {len(best)} misclassified")
    return cut


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compose", default="extract", choices=("extract", "rewrite", "free"))
    parser.add_argument("--half", default="even", choices=("odd", "even", "all"))
    parser.add_argument("--tune", action="store_true", help="choose the threshold (odd half)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", type=Path, default=None, help="write answers (JSONL)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument(
        "--questions",
        type=Path,
        default=QUESTIONS,
        help="question set (JSONL), e.g. a blind one: data/grounded_questions_fresh3.jsonl",
    )
    args = parser.parse_args(argv)
    from oncogpt.rag.ask import default_kb
    from oncogpt.rag.retrieve import SqliteRetriever

    retriever = SqliteRetriever(default_kb())
    if args.tune:
        tune(load_questions("odd"), retriever)
        return 0
    engine = None
    if args.compose != "extract":
        from oncogpt.generate import Engine

        engine = Engine.load(args.model, adapter="default")
    rows = load_questions(args.half, args.questions)[: args.limit]
    results = run(rows, args.compose, engine, retriever)
    if args.out:
        with args.out.open("w", encoding="utf-8") as fh:
            for r in results:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"compose={args.compose} half={args.half}")
    for key, value in summarize(results).items():
        print(f"{key:>28}: {value:.3f}" if isinstance(value, float) else f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
