"""Measure ``oncogpt.data.deid`` on a synthetic, seeded set of oncology sentences with gold spans
(built by ``deid_synthetic``, or by ``deid_messages`` for the message-shaped set).

Sentences come from clinical / patient-message templates with two kinds of slots:

* upper-case slots (``{NAME}``, ``{DATE}``, ``{MRN}``...) receive fake identifiers in many
  realistic formats; their spans are the gold identifiers;
* lower-case slots (``{drug}``, ``{cancer}``, ``{gene}``...) receive protected medical terms
  (crizotinib, Hodgkin lymphoma, KRAS G12C, T2N1M0, 75 mg/m2...) that must survive.

About ``n`` sentences with identifiers plus ``n // 5`` sentences with none (false positives).
Templates and fake-name pools come in two disjoint halves: ``dev`` (used while writing the
rules) and ``test`` (held out: the figure to report). Metrics, at the span level:

* recall: a gold span counts as found if any predicted span overlaps it ("typed" recall also
  needs the same kind); precision: a predicted span is correct if it overlaps a gold span;
* character recall / precision as a stricter cross-check;
* medical-term survival: protected terms that no predicted span touches.

``python -m oncogpt.evaluate.deid [--n 1000] [--seed 0] [--split test]`` prints a table;
``--audit FILE.json ...`` also runs the de-identifier over real corpora (JSON lists of records)
and lists what it replaced, to eyeball false positives on text nobody wrote for the rules.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from oncogpt.data.deid import DEFAULT, KINDS, DeidConfig, Span, find_identifiers
from oncogpt.evaluate.deid_messages import build_messages
from oncogpt.evaluate.deid_synthetic import TEMPLATES, Example, build_dataset
from oncogpt.evaluate.scores import ratio

Detector = Callable[[str], list[Span]]


def _overlapping(start: int, end: int, spans: list[tuple[int, int, str]]) -> list[str]:
    return [kind for s, e, kind in spans if s < end and start < e]


def _count(example: Example, counts: Counter[str], detect: Detector) -> None:
    """Add one example's span, character and term tallies to ``counts``."""
    predicted = [(s.start, s.end, s.kind) for s in detect(example.text)]
    for start, end, kind in example.gold:
        hits = _overlapping(start, end, predicted)
        counts[f"gold:{kind}"] += 1
        counts[f"found:{kind}"] += bool(hits)
        counts[f"typed:{kind}"] += kind in hits
    for start, end, kind in predicted:
        counts[f"pred:{kind}"] += 1
        counts[f"correct:{kind}"] += bool(_overlapping(start, end, example.gold))
        counts["clean_fp"] += not example.gold
    gold_chars = {i for s, e, _ in example.gold for i in range(s, e)}
    pred_chars = {i for s, e, _ in predicted for i in range(s, e)}
    counts.update(
        gold_chars=len(gold_chars), pred_chars=len(pred_chars),
        both_chars=len(gold_chars & pred_chars), terms=len(example.protected),
        survived=sum(not _overlapping(s, e, predicted) for s, e in example.protected),
    )  # fmt: skip


SETS = ("synthetic", "messages")


def evaluate(
    n: int = 1000,
    seed: int = 0,
    split: str = "test",
    config: DeidConfig = DEFAULT,
    dataset: str = "synthetic",
) -> dict:
    """Recall / precision per kind and overall, character-level figures, term survival.

    ``dataset`` "synthetic" is this module's cue-word set; "messages" the harder set of
    ``deid_messages`` (identifiers placed as real messages place them)."""
    build = build_messages if dataset == "messages" else build_dataset
    result = score(build(n, seed, split), lambda text: find_identifiers(text, config))
    return {"set": dataset, "split": split, "seed": seed, **result}


def score(examples: list[Example], detect: Detector) -> dict:
    """The figures of ``evaluate`` for any examples and detector."""
    c: Counter[str] = Counter()
    for example in examples:
        _count(example, c, detect)
    keys = ("gold", "found", "typed", "pred", "correct")
    total = {key: sum(c[f"{key}:{kind}"] for kind in KINDS) for key in keys}
    per_kind = {
        kind: {
            "gold": c[f"gold:{kind}"],
            "recall": ratio(c[f"found:{kind}"], c[f"gold:{kind}"]),
            "typed_recall": ratio(c[f"typed:{kind}"], c[f"gold:{kind}"]),
            "predicted": c[f"pred:{kind}"],
            "precision": ratio(c[f"correct:{kind}"], c[f"pred:{kind}"]),
        }
        for kind in KINDS
    }
    return {
        "sentences": len(examples),
        "gold_spans": total["gold"],
        "predicted_spans": total["pred"],
        "recall": ratio(total["found"], total["gold"]),
        "typed_recall": ratio(total["typed"], total["gold"]),
        "precision": ratio(total["correct"], total["pred"]),
        "char_recall": ratio(c["both_chars"], c["gold_chars"]),
        "char_precision": ratio(c["both_chars"], c["pred_chars"]),
        "medical_term_survival": ratio(c["survived"], c["terms"]),
        "false_positives_in_clean_sentences": c["clean_fp"],
        "per_kind": per_kind,
    }


def format_report(result: dict) -> str:
    row = "{:<12} {:>5} {:>7.3f} {:>7.3f} {:>5} {:>7.3f}"
    lines = [
        "{:<12} {:>5} {:>7} {:>7} {:>5} {:>7}".format(
            "kind", "gold", "recall", "typed", "pred", "prec"
        )
    ]
    for kind, r in result["per_kind"].items():
        if not r["gold"] and not r["predicted"]:
            continue
        lines.append(
            row.format(
                kind, r["gold"], r["recall"], r["typed_recall"], r["predicted"], r["precision"]
            )
        )
    r = result
    lines += [
        row.format(
            "overall",
            r["gold_spans"],
            r["recall"],
            r["typed_recall"],
            r["predicted_spans"],
            r["precision"],
        ),
        f"set={r['set']} split={r['split']} seed={r['seed']} texts={r['sentences']}",
        f"char recall {r['char_recall']:.3f}, char precision {r['char_precision']:.3f}",
        f"medical-term survival {r['medical_term_survival']:.4f}",
        f"false positives in identifier-free sentences: {r['false_positives_in_clean_sentences']}",
    ]
    return "\n".join(lines)


def audit(path: Path, limit: int = 40) -> str:
    """Run over every string of a real JSON corpus; list what would be replaced, in context."""
    records = json.loads(path.read_text(encoding="utf-8"))
    counts: Counter[str] = Counter()
    shown: list[str] = []
    for record in records:
        values = record.values() if isinstance(record, dict) else [record]
        for text in (v for v in values if isinstance(v, str)):
            for span in find_identifiers(text):  # the default, combined detector
                counts[span.kind] += 1
                context = text[max(0, span.start - 30) : span.end + 30].replace("\n", " ")
                shown += [f"  {span.kind:<11} {text[span.start : span.end]!r} in …{context}…"]
    head = f"{path.name}: {len(records)} records, would replace {dict(counts.most_common())}"
    return "\n".join([head, *shown[:limit]])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Measure oncogpt.data.deid on synthetic data.")
    parser.add_argument("--n", type=int, default=1000, help="sentences with identifiers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=sorted(TEMPLATES), default="test")
    parser.add_argument("--set", choices=SETS, nargs="+", default=list(SETS), dest="sets")
    parser.add_argument("--rules-only", action="store_true", help="without the NER model")
    parser.add_argument("--no-gate", action="store_true", help="NER on every sentence")
    parser.add_argument("--audit", type=Path, nargs="*", default=[], help="real JSON corpora")
    args = parser.parse_args(argv)
    config = DeidConfig(ner=not args.rules_only, gate=not args.no_gate)
    for dataset in args.sets:
        print(format_report(evaluate(args.n, args.seed, args.split, config, dataset)), "\n")
    for path in args.audit:
        print(audit(path))


if __name__ == "__main__":
    main()
