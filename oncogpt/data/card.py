"""The dataset card (README.md) and machine-readable manifest.json of a built dataset."""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from oncogpt import __version__
from oncogpt.config import to_dict
from oncogpt.conversation import read_conversations
from oncogpt.data.config import DataConfig
from oncogpt.text import markdown_table

SPLITS = ("train", "validation", "test")
# Messages with identifiers in each de-identification set's test half, as the card measures it.
DEID_SETS = {"synthetic": 1000, "messages": 300}


def sha256(path: Path) -> str:
    """Of a file's bytes; of a folder, of its .jsonl files' names and bytes in name order."""
    h = hashlib.sha256()
    for file in sorted(path.glob("*.jsonl")) if path.is_dir() else [path]:
        if path.is_dir():
            h.update(file.name.encode() + b"\0")
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def token_stats(folder: Path, config: DataConfig) -> dict[str, Any] | None:
    """Token-length percentiles and fit/trimmed/dropped counts at cutoff_len, all splits."""
    if config.tokenizer is None:
        return None
    import numpy as np

    from oncogpt.models import load_tokenizer, resolve_model
    from oncogpt.prompts import choose_template, fit_conversation, render_conversation

    tokenizer = load_tokenizer(resolve_model(config.tokenizer))
    template = choose_template(config.template, tokenizer)
    lengths: list[int] = []
    fits: Counter[str] = Counter()
    for split in SPLITS:
        for conv in read_conversations(folder / f"{split}.jsonl"):
            n = len(render_conversation(conv, tokenizer, template))
            lengths.append(n)
            if n <= config.cutoff_len:
                fits["fit"] += 1
            else:
                fits[fit_conversation(conv, tokenizer, template, config.cutoff_len).status] += 1
    if not lengths:
        return {"template": template.name, "percentiles": {}, "fit": dict(fits)}
    pct = {f"p{q}": int(np.percentile(lengths, q)) for q in (50, 90, 95, 99)}
    pct["max"] = max(lengths)
    return {"template": template.name, "percentiles": pct, "fit": dict(sorted(fits.items()))}


@functools.cache
def _deid_figures(ner: bool, places: str, hospitals: bool) -> dict[str, Any] | None:
    """Both evaluation sets' test halves under the build's settings (once per process)."""
    try:
        from oncogpt.data.deid import DeidConfig
        from oncogpt.data.deid_ner import describe
        from oncogpt.evaluate.deid import evaluate
    except ImportError:
        return None
    config = DeidConfig(ner=ner, places=places, hospitals=hospitals)
    figures = {name: evaluate(n, 0, "test", config, name) for name, n in DEID_SETS.items()}
    return {**figures, "detector": describe() if ner else {"model": "rules only"}}


def manifest(config: DataConfig, folder: Path, stats: Any) -> dict[str, Any]:
    labelled = stats.label_agreement
    return {
        "oncogpt_version": __version__,
        "config": to_dict(config),
        "inputs": {s.name: {"path": str(s.path), "sha256": sha256(s.file)} for s in config.sources},
        "outputs": {p.name: sha256(p) for p in sorted(folder.glob("*.jsonl"))},
        "counts": {
            "input": dict(sorted(stats.input.items())),
            "rejected": sum(stats.rejected.values()),
            "splits": {f"{st}/{sp}": n for (st, sp), n in sorted(stats.split.items())},
        },
        "categorizer_accuracy": {
            k: labelled[f"{k}_correct"] / labelled[f"{k}_total"]
            for k in ("category", "site")
            if labelled[f"{k}_total"]
        },
    }


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    return "\n".join(markdown_table(header, rows))


def card_text(config: DataConfig, data: dict[str, Any], stats: Any) -> str:
    parts = [
        "# OncoGPT dataset card",
        "",
        "Built by `oncogpt data build`. Research only: not for clinical use. Text was "
        + ("de-identified (typed placeholders)." if config.deidentify else "NOT de-identified."),
        "",
        "## Sources",
        _table(
            ("source", "stage", "input", "kept", "rejected"),
            [
                (
                    s.name,
                    s.stage,
                    stats.input[s.name],
                    stats.kept[s.name],
                    sum(n for (src, _, _), n in stats.rejected.items() if src == s.name),
                )
                for s in config.sources
            ],
        ),
        "",
        "## Rejected, by step and reason (rows are in rejected.jsonl)",
        _table(
            ("source", "step", "reason", "rows"),
            [(*k, n) for k, n in sorted(stats.rejected.items())],
        ),
        "",
        "## Splits",
        _table(("stage", "split", "rows"), [(*k, n) for k, n in sorted(stats.split.items())]),
        "",
        "## Categories",
        _table(("split", "category", "rows"), [(*k, n) for k, n in sorted(stats.category.items())]),
        "",
        "## Cancer sites",
        _table(("site", "rows"), sorted(stats.site.items(), key=lambda kv: (-kv[1], kv[0]))),
        "",
    ]
    return "\n".join(parts + _measured_sections(config, data, stats))


def _measured_sections(config: DataConfig, data: dict[str, Any], stats: Any) -> list[str]:
    parts = ["## De-identification", ""]
    parts.append(_table(("placeholder", "replacements"), sorted(stats.placeholders.items())))
    deid = data.get("deidentification")
    if deid:
        parts += ["", _deid_text(deid)]
    acc = data["manifest"]["categorizer_accuracy"]
    parts += ["", "## Categorizer", ""]
    parts.append(
        "Accuracy against the hand labels given with the sources: "
        + ", ".join(f"{k} {v:.3f}" for k, v in acc.items())
        if acc
        else "No hand labels were given with the sources."
    )
    tokens = data.get("tokens")
    if tokens:
        parts += ["", f"## Token lengths (template `{tokens['template']}`, all splits)", ""]
        parts.append(_table(tuple(tokens["percentiles"]), [tuple(tokens["percentiles"].values())]))
        parts += [
            "",
            f"At cutoff_len {config.cutoff_len}: "
            + ", ".join(f"{k} {v}" for k, v in tokens["fit"].items()),
        ]
    return parts + [""]


def _deid_text(deid: dict[str, Any]) -> str:
    """Both sets' figures, what measured them, and what they do not promise."""
    detector = deid["detector"]
    lines = [
        "Detector: rules plus the named-entity model "
        f"{detector['model']} {detector.get('version', '')} ({detector.get('license', '')})."
        if "version" in detector
        else "Detector: the rules alone (deid_ner: false).",
        "Measured by `python -m oncogpt.evaluate.deid` on the test halves of its two sets:",
        "",
    ]
    rows = []
    for name, about in (
        ("synthetic", "identifiers after cue words"),
        ("messages", "identifiers placed as real messages place them"),
    ):
        r = deid[name]
        rows.append(
            (f"{name} ({about})", r["gold_spans"], f"{r['recall']:.3f}", f"{r['precision']:.3f}",
             f"{r['medical_term_survival']:.3f}")
        )  # fmt: skip
    lines.append(_table(("set", "identifiers", "recall", "precision", "medical terms kept"), rows))
    lines += [
        "",
        "This is screening, not a guarantee: both sets were written for this project, and real "
        "text holds identifiers in forms neither set has. Review before any data leaves a "
        "secure setting.",
    ]
    return "\n".join(lines)


def write_card(config: DataConfig, folder: Path, stats: Any) -> None:
    data: dict[str, Any] = {"manifest": manifest(config, folder, stats)}
    data["tokens"] = token_stats(folder, config)
    if config.deidentify:
        data["deidentification"] = _deid_figures(
            config.deid_ner, config.deid_places, config.deid_hospitals
        )
    data["manifest"]["tokens"] = data["tokens"]
    data["manifest"]["deidentification"] = data.get("deidentification")
    (folder / "manifest.json").write_text(json.dumps(data["manifest"], indent=2, sort_keys=True))
    (folder / "README.md").write_text(card_text(config, data, stats))
