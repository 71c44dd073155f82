"""Print the shipped adapter's figures from scripts/eval-shipped.sh's reports (model card, README).

    .venv/bin/python scripts/shipped-figures.py runs/eval-shipped
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

METRICS = ("bertscore_f", "embed_cosine", "rouge_l", "ends_cleanly")


def main(root: Path) -> None:
    for dataset in ("split", "public"):
        print(f"## {dataset}")
        for yardstick in ("base", "generic", "nearest"):
            summary = json.loads((root / dataset / f"vs-{yardstick}" / "summary.json").read_text())
            diffs = summary["differences"]["oncogpt"]
            cells = []
            for metric in METRICS:
                d = diffs[metric]["overall"]
                cells.append(f"{metric} {d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]")
            print(f"oncogpt - {yardstick} (n={summary['n_items']}): " + "; ".join(cells))
        stats = summary["stats"]
        for run in ("nearest", "oncogpt"):
            overall = stats[run]["category"]["overall"]
            means = {m: round(overall[m]["mean"], 3) for m in METRICS if m in overall}
            print(f"{run} means: {means}")
        print(f"median words: {summary['median_words']}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/eval-shipped"))
