"""Measuring the reference checker on labelled (sentence, passage, supports) rows.

``python -m oncogpt.evaluate.checker --eval`` chooses the weight and threshold on the even rows of
``resources/kb/support_eval.jsonl`` and reports the odd rows (the shipped thresholds live in
:mod:`oncogpt.rag.check`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oncogpt.evaluate.scores import ratio
from oncogpt.rag.check import (
    DEFAULT_THRESHOLDS,
    EVAL_FILE,
    KB_FILE,
    Evidence,
    SupportScorer,
    Thresholds,
)
from oncogpt.text import split_sentences


@dataclasses.dataclass
class EvalRow:
    sentence: str
    passage: str
    supports: bool
    kind: str


def load_eval(path: Path = EVAL_FILE, kb_file: Path = KB_FILE) -> list[EvalRow]:
    """Rows of support_eval.jsonl with their passage text looked up in the starter KB."""
    from oncogpt.rag.sources import read_jsonl

    passages = {p.id: f"{p.title}\n{p.text}" for p in read_jsonl(kb_file)}
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        text = row.get("passage") or passages.get(row.get("passage_id", ""))
        if text is None:
            raise ValueError(f"{path}:{n}: passage_id {row.get('passage_id')!r} not in {kb_file}")
        rows.append(EvalRow(row["sentence"], text, bool(row["supports"]), row.get("kind", "")))
    return rows


def metrics(rows: Sequence[EvalRow], predicted: Sequence[bool]) -> dict[str, Any]:
    """Precision, recall and F1 of "supports", accuracy overall and per kind."""
    pairs = list(zip(rows, predicted, strict=True))
    tp = sum(1 for r, p in pairs if p and r.supports)
    fp = sum(1 for r, p in pairs if p and not r.supports)
    fn = sum(1 for r, p in pairs if not p and r.supports)
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = ratio(2 * precision * recall, precision + recall)
    per_kind: dict[str, list[int]] = {}
    for r, p in pairs:
        per_kind.setdefault(r.kind, [0, 0])
        per_kind[r.kind][0] += int(p == r.supports)
        per_kind[r.kind][1] += 1
    return {
        "n": len(rows),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": ratio(sum(p == r.supports for r, p in pairs), len(rows)),
        "per_kind": {k: (ok / n, n) for k, (ok, n) in sorted(per_kind.items())},
    }


def _features(rows: Sequence[EvalRow], scorer: SupportScorer) -> list[Evidence]:
    scorer.prime([r.sentence for r in rows] + [s for r in rows for s in split_sentences(r.passage)])
    return [scorer.evidence(r.sentence, [r.passage]) for r in rows]


def _predict(evidence: Sequence[Evidence], t: Thresholds) -> list[bool]:
    scorer = SupportScorer(thresholds=t)
    return [scorer.supports(ev.cosine, ev.overlap, ev.problems)[0] for ev in evidence]


def tune(rows: Sequence[EvalRow], evidence: Sequence[Evidence]) -> Thresholds:
    """The weight and threshold with the best F1 of "supports" (ties: higher precision)."""
    best: tuple[float, float, Thresholds] | None = None
    for weight in np.arange(0.0, 1.01, 0.1):
        for support in np.arange(0.3, 0.951, 0.01):
            t = Thresholds(round(float(weight), 2), round(float(support), 2))
            m = metrics(rows, _predict(evidence, t))
            key = (m["f1"], m["precision"], t)
            if best is None or key[:2] > best[:2]:
                best = key
    assert best is not None
    return best[2]


def evaluate(path: Path = EVAL_FILE, kb_file: Path = KB_FILE, encoder: Any = None) -> dict:
    """Tune on even rows, report odd rows and all rows, for the tuned and shipped thresholds."""
    rows = load_eval(path, kb_file)
    feats = _features(rows, SupportScorer(encoder))
    even = [i for i in range(len(rows)) if i % 2 == 0]
    odd = [i for i in range(len(rows)) if i % 2 == 1]
    tuned = tune([rows[i] for i in even], [feats[i] for i in even])
    result: dict[str, Any] = {"tuned": dataclasses.asdict(tuned)}
    for name, t in (("tuned", tuned), ("shipped", DEFAULT_THRESHOLDS)):
        pred = _predict(feats, t)
        for part, idx in (("even", even), ("odd", odd), ("all", list(range(len(rows))))):
            result[f"{name}/{part}"] = metrics([rows[i] for i in idx], [pred[i] for i in idx])
    return result


def _print_eval(result: dict[str, Any]) -> None:
    print(f"thresholds tuned on even rows: {result['tuned']}")
    print(f"shipped thresholds:            {dataclasses.asdict(DEFAULT_THRESHOLDS)}")
    for key, m in result.items():
        if key == "tuned":
            continue
        print(
            f"{key:14s} n={m['n']:4d}  precision={m['precision']:.3f}  recall={m['recall']:.3f}"
            f"  F1={m['f1']:.3f}  accuracy={m['accuracy']:.3f}"
        )
        kinds = "  ".join(f"{k}={acc:.2f} (n={n})" for k, (acc, n) in m["per_kind"].items())
        print(f"{'':14s} per kind: {kinds}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oncogpt.evaluate.checker", description=__doc__)
    parser.add_argument("--eval", action="store_true", help="measure on support_eval.jsonl")
    parser.add_argument(
        "--file",
        type=Path,
        default=EVAL_FILE,
        help="labelled rows (JSONL); support_real.jsonl holds sentences of real engine answers",
    )
    parser.add_argument("--kb", type=Path, default=KB_FILE, help="passages the rows cite")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.eval:
        parser.print_help()
        return 2
    for path in (args.file, args.kb):
        if not path.is_file():
            print(f"error: {path} is absent", file=sys.stderr)
            return 1
    result = evaluate(args.file, args.kb)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_eval(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
