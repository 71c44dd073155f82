"""Unlabelled (sentence, other passage) pairs from real grounded answers, for the checker's sets.

``python benchmarks/support_pairs.py --questions benchmarks/data/grounded_questions_fresh.jsonl
--out pairs.jsonl [--answers answers.jsonl] [--second 0.55] [--deeper 0.68] [--paraphrase 0.70]``

Each factual, cited sentence of a default (extract) answer is paired with passages of the shipped
KB **other than the ones it cites** (its own source supports it by construction):

* ``top2-cosine``: the passage nearest to the sentence by the KB's encoder, and the second
  nearest when one of its sentences has a cosine of at least ``--second`` with the sentence;
* ``deeper-similar``: among ranks 3-30, the passage holding the single passage sentence nearest
  to the sentence, when that cosine is at least ``--deeper`` (a second passage stating the same
  claim in other words is the checker's hard positive, rare among the two nearest);
* ``paraphrase-search``: any other passage of the KB holding a sentence whose cosine with the
  sentence is at least ``--paraphrase`` (appended after the rows above, so their ids stay).

The answers come from ``benchmarks/grounded.py`` (its ``run``), or from a file it wrote with
``--out``. Rows carry ``supports: null``: a person labels them by reading the whole passage,
before the checker sees them. Nothing here calls the checker's verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grounded  # noqa: E402


def answer_sentences(answers: list[dict], halves: dict[str, str]) -> list[dict]:
    """Factual cited sentences, first occurrence of each, with their question and sources."""
    from oncogpt.rag.cite import strip_markers

    seen: dict[str, dict] = {}
    for answer in answers:
        for s in answer["sentences"]:
            text = strip_markers(s["text"]).strip()
            if s["verdict"] == "not_factual" or not s["cited"] or text in seen:
                continue
            seen[text] = {
                "sentence": text,
                "question_id": answer["id"],
                "half": halves[answer["id"]],
                "source_passage_ids": s["cited"],
            }
    return list(seen.values())


def best_sentence_cosine(sentence: str, passage: str, encoder: Any, cache: dict) -> float:
    """The cosine of the passage sentence nearest to `sentence`."""
    from oncogpt.text import split_sentences

    parts = split_sentences(passage) or [passage]
    todo = [p for p in [sentence, *parts] if p not in cache]
    if todo:
        cache.update(zip(todo, encoder.encode(todo), strict=True))
    return float(max(np.dot(cache[sentence], cache[p]) for p in parts))


def pairs(sentences: list[dict], retriever: Any, second: float, deeper: float) -> list[dict]:
    """Candidate rows: the nearest other passage and, when close enough, the second nearest and
    a deeper one."""
    cache: dict[str, np.ndarray] = {}
    rows = []
    for item in sentences:
        ranked, _ = retriever.dense(item["sentence"], 30)
        others = [pid for pid in ranked if pid not in item["source_passage_ids"]]
        texts = {pid: f"{r['title']}\n{r['text']}" for pid, r in retriever.kb.get(others).items()}
        near = {
            pid: best_sentence_cosine(item["sentence"], texts[pid], retriever.encoder, cache)
            for pid in others[1:]
        }
        chosen = [(pid, "top2-cosine") for pid in others[:2] if near.get(pid, 1.0) >= second]
        best = max(others[2:], key=near.get, default=None)
        if best is not None and near[best] >= deeper:
            chosen.append((best, "deeper-similar"))
        for pid, selection in chosen:
            rows.append(
                {
                    "sentence": item["sentence"],
                    "passage_id": pid,
                    "passage": texts[pid],
                    "supports": None,
                    "kind": "real-extract-fresh",
                    "note": "",
                    "question_id": item["question_id"],
                    "half": item["half"],
                    "source_passage_ids": item["source_passage_ids"],
                    "selection": selection,
                }
            )
    return rows


def kb_sentences(retriever: Any) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """Every passage sentence of the KB: owner passage ids, vectors, and the passage texts."""
    from oncogpt.text import split_sentences

    rows = retriever.kb.get(list(retriever.kb.ids))
    texts = {pid: f"{r['title']}\n{r['text']}" for pid, r in rows.items()}
    owners, sents = [], []
    for pid, text in texts.items():
        for sent in split_sentences(text) or [text]:
            owners.append(pid)
            sents.append(sent)
    return owners, retriever.encoder.encode(sents), texts


def paraphrase_pairs(rows: list[dict], retriever: Any, threshold: float) -> list[dict]:
    """Rows for passages anywhere in the KB with a sentence near the answer sentence."""
    owners, vecs, texts = kb_sentences(retriever)
    seen = {(r["sentence"], r["passage_id"]) for r in rows}
    first: dict[str, dict] = {}
    for r in rows:
        first.setdefault(r["sentence"], r)
    extra = []
    for sentence, row in first.items():
        sims = vecs @ retriever.encoder.encode([sentence])[0]
        near: dict[str, float] = {}
        for j in np.argsort(-sims):
            if sims[j] < threshold:
                break
            near.setdefault(owners[j], float(sims[j]))
        for pid in near:
            if pid in row["source_passage_ids"] or (sentence, pid) in seen:
                continue
            extra.append(
                {**row, "passage_id": pid, "passage": texts[pid], "selection": "paraphrase-search"}
            )
    return extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=grounded.QUESTIONS)
    parser.add_argument("--answers", type=Path, help="grounded.py --out file (else run it)")
    parser.add_argument("--second", type=float, default=0.55)
    parser.add_argument("--deeper", type=float, default=0.68)
    parser.add_argument("--paraphrase", type=float, default=0.70)
    parser.add_argument("--prefix", default="fresh")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from oncogpt.rag.ask import default_kb
    from oncogpt.rag.retrieve import SqliteRetriever

    retriever = SqliteRetriever(default_kb())
    questions = grounded.load_questions("all", args.questions)
    halves = {q["id"]: "odd" if i % 2 == 1 else "even" for i, q in enumerate(questions)}
    if args.answers:
        answers = [json.loads(line) for line in args.answers.open(encoding="utf-8")]
    else:
        answers = grounded.run(questions, "extract", None, retriever)
    rows = pairs(answer_sentences(answers, halves), retriever, args.second, args.deeper)
    rows += paraphrase_pairs(rows, retriever, args.paraphrase)
    with args.out.open("w", encoding="utf-8") as fh:
        for n, row in enumerate(rows, start=1):
            fh.write(json.dumps({"id": f"{args.prefix}-{n:04d}", **row}, ensure_ascii=False) + "\n")
    print(f"{len(rows)} rows from {len({r['sentence'] for r in rows})} sentences -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
