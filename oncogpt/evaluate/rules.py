"""The rule evaluations: safety triage and categorizer on the public labels, in one place.

``oncogpt eval rules [--data-dir ../shared/data] [--built data/built]`` prints:

* triage (rules, learned head, both OR-ed) on the public labels' even half (dev: where the rules
  were written and the thresholds chosen) and odd half (held out: never read while building);
  recall and precision of "emergency", and the precision of the emergency grade on its own;
* the grades on the project's own test split (corpus rows of ``data/built/test.jsonl``, with
  their written urgency), which nothing was fitted or tuned on;
* categorizer accuracy (category, site) per half, oncology rates and speed.

Every harness reads the shared data through :data:`DATA_DIR` and scores with
:func:`binary_scores` (an empty denominator gives nan, never 0 or 1).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from oncogpt.data.categorize import CATEGORIES, SITES, Categorization, categorize
from oncogpt.evaluate.scores import BinaryScores, accuracy, binary_scores

#: The shared data folder beside the repository (``../shared/data``); never committed.
DATA_DIR: Path = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
QA_FILE = "oncogpt_qa_public.json"
LABELS_FILE = "oncogpt_qa_public.labels.jsonl"
GENERAL_FILE = "genmedgpt5k.json"


def load_labeled(data_dir: Path = DATA_DIR) -> list[tuple[dict, dict]]:
    """(item, label) pairs of the public OncoGPT QA set; labels are in the same order."""
    items = json.loads((data_dir / QA_FILE).read_text(encoding="utf-8"))
    with (data_dir / LABELS_FILE).open(encoding="utf-8") as fh:
        labels = [json.loads(line) for line in fh if line.strip()]
    if len(items) != len(labels) or any(lab["idx"] != i for i, lab in enumerate(labels)):
        raise ValueError("items and labels are not aligned")
    return list(zip(items, labels, strict=True))


def load_general(data_dir: Path = DATA_DIR) -> list[dict]:
    """General-medicine dialogues (GenMedGPT-5k), Alpaca format with ``input``/``output``."""
    return json.loads((data_dir / GENERAL_FILE).read_text(encoding="utf-8"))


def split_of(idx: int) -> str:
    """Development split is the even indices; odd indices are held out."""
    return "dev" if idx % 2 == 0 else "heldout"


def predict_labeled(data_dir: Path = DATA_DIR) -> list[tuple[dict, Categorization]]:
    """(label, prediction) for every labelled item (question and doctor answer)."""
    return [
        (label, categorize(item["question"], item["output"]))
        for item, label in load_labeled(data_dir)
    ]


def evaluate_categorizer(data_dir: Path = DATA_DIR) -> dict[str, float]:
    """Accuracy (category, site) per split, oncology rates on both corpora, and speed."""
    # CPU time (not wall time) so that a busy shared machine does not distort the figure;
    # it includes reading the JSON files (~10 ms in all).
    start = time.process_time()
    rows = predict_labeled(data_dir)
    out: dict[str, float] = {
        "cpu_ms_per_conversation": 1000 * (time.process_time() - start) / len(rows)
    }
    for split in ("dev", "heldout", "all"):
        sel = [(lab, p) for lab, p in rows if split in ("all", split_of(lab["idx"]))]
        out[f"category_{split}"] = accuracy((p.category, lab["category"]) for lab, p in sel)[0]
        clear = [(p.category, lab["category"]) for lab, p in sel if lab["confidence"] == "clear"]
        out[f"category_clear_{split}"] = accuracy(clear)[0]
        out[f"site_{split}"] = accuracy((p.site, lab["site"]) for lab, p in sel)[0]
    out["oncology_rate_oncology"] = sum(p.oncology for _, p in rows) / len(rows)
    general = load_general(data_dir)
    hits = sum(categorize(g["input"], g["output"]).oncology for g in general)
    out["oncology_rate_general"] = hits / len(general)
    return out


def confusion(pairs: Iterable[tuple[str, str]]) -> Counter:
    """Counter of (gold, predicted) from (predicted, gold) pairs."""
    return Counter((g, p) for p, g in pairs)


def _print_confusion(title: str, pairs: list[tuple[str, str]], labels: Sequence[str]) -> None:
    table = confusion(pairs)
    used = [lab for lab in labels if any(lab in key for key in table)]
    print(f"\n{title} (rows = gold, columns = predicted)")
    print(" " * 17 + "".join(f"{lab[:6]:>7}" for lab in used))
    for gold in used:
        print(f"{gold:>16} " + "".join(f"{table[(gold, p)]:>7}" for p in used))


# --------------------------------------------------------------------------------------------
# Triage
# --------------------------------------------------------------------------------------------

SPLITS = ("dev", "heldout", "all")


def triage_predictions(data_dir: Path = DATA_DIR) -> list[tuple[dict, object, object]]:
    """(label, rules-only assessment, full assessment) per labelled public question."""
    from oncogpt.safety import assess

    rows = []
    for item, label in load_labeled(data_dir):
        q = item["question"]
        rows.append((label, assess(q, learned=False), assess(q)))
    return rows


def evaluate_triage(data_dir: Path = DATA_DIR) -> dict[str, dict[str, BinaryScores]]:
    """Red-flag scores per split for the rules, and for rules OR learned triage."""
    rows = triage_predictions(data_dir)
    out: dict[str, dict[str, BinaryScores]] = {}
    for split in SPLITS:
        sel = [r for r in rows if split in ("all", split_of(r[0]["idx"]))]
        out[split] = {
            "rules": binary_scores((a.red_flag, bool(lab["red_flag"])) for lab, a, _ in sel),
            "rules+learned": binary_scores(
                (b.red_flag, bool(lab["red_flag"])) for lab, _, b in sel
            ),
            "grade_today_or_worse": binary_scores(
                (b.urgency != "none", bool(lab["red_flag"])) for lab, _, b in sel
            ),
        }
    return out


def evaluate_project_test(built: Path) -> dict[str, object]:
    """Grades against the written urgency of the corpus rows in the built test split."""
    from oncogpt.data.corpus import corpus_rows
    from oncogpt.safety import assess

    path = built / "test.jsonl"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as fh:
        test_ids = {json.loads(line)["id"] for line in fh if line.strip()}
    rows = [(text, u) for cid, text, u in corpus_rows() if cid in test_ids]
    got = [assess(text).urgency for text, _ in rows]
    gold = ["none" if u == "routine" else u for _, u in rows]
    return {
        "n": len(rows),
        "emergency": binary_scores(
            (g == "emergency", t == "emergency") for g, t in zip(got, gold, strict=True)
        ),
        "today_or_worse": binary_scores(
            (g != "none", t != "none") for g, t in zip(got, gold, strict=True)
        ),
        "exact_grade": accuracy(zip(got, gold, strict=True))[0],
    }


def _score_line(name: str, sc: BinaryScores) -> str:
    return (
        f"{name:>22} {sc.recall:7.3f} {sc.precision:7.3f} {sc.f1:7.3f} "
        f"{sc.tp:4d} {sc.fp:4d} {sc.fn:4d} {sc.tn:4d}"
    )


def _print_triage(data_dir: Path, built: Path) -> None:
    print("triage: 'emergency' against the red_flag labels")
    print("dev = even idx (rules written, thresholds chosen), heldout = odd idx (never read)")
    print(f"{'split / detector':>22} {'recall':>7} {'prec':>7} {'F1':>7}   TP   FP   FN   TN")
    for split, scores in evaluate_triage(data_dir).items():
        for name, sc in scores.items():
            print(_score_line(f"{split} {name}", sc))
    project = evaluate_project_test(built)
    if project:
        print(f"\nproject test split (corpus rows of {built}/test.jsonl, n={project['n']}):")
        print(_score_line("emergency", project["emergency"]))
        print(_score_line("today or worse", project["today_or_worse"]))
        print(f"{'exact grade':>22} {project['exact_grade']:7.3f}")


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--built", type=Path, default=Path("data/built"))
    args = parser.parse_args(argv)
    return run_rules(args.data_dir, args.built)


def run_rules(data_dir: Path, built: Path) -> int:
    if not (data_dir / QA_FILE).exists():
        print(f"data not found in {data_dir}")
        return 1
    _print_triage(data_dir, built)
    print("\ncategorizer (rules): dev = even idx (rules written on it), heldout = odd idx")
    for key, value in evaluate_categorizer(data_dir).items():
        print(f"{key:>26}: {value:.3f}")
    rows = predict_labeled(data_dir)
    held = [(lab, p) for lab, p in rows if split_of(lab["idx"]) == "heldout"]
    _print_confusion(
        "category, held-out", [(p.category, lab["category"]) for lab, p in held], CATEGORIES
    )
    _print_confusion("site, held-out", [(p.site, lab["site"]) for lab, p in held], SITES)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
