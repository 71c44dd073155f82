"""The OncoGPT oncology conversation corpus: the project's own written consultations.

The corpus lives in ``oncogpt/resources/corpus/part-*.jsonl`` (canonical schema, one
conversation a line) and is read by the data pipeline with ``path: corpus``. Each row carries
labels in ``meta`` so that it also trains and tests the categorizer and the triage:

* ``category``: research (understanding) or therapeutic (what to do);
* ``site``: one of :data:`oncogpt.data.categorize.SITES`; ``site_detail``: the finer site
  (:data:`FINE_SITES`), so coverage can be counted at more than the categorizer's resolution;
* ``urgency``: ``emergency`` (go to emergency care now), ``today`` (contact the care team
  today) or ``routine``; ``red_flag`` is true exactly for ``emergency``;
* ``sources``: the public guidance the answer follows (NCI PDQ, MedlinePlus, NCCN/ESMO
  patient guides ...).

``python -m oncogpt.data.corpus [FILE ...]`` checks the rules below and prints the coverage.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from oncogpt.conversation import Conversation, ConversationError
from oncogpt.data.categorize import CATEGORIES, SITES
from oncogpt.text import split_sentences

CORPUS_DIR = Path(__file__).resolve().parents[1] / "resources" / "corpus"
CORPUS = "corpus"

# Finer sites than the categorizer's, mapped to its labels: coverage is counted on these.
FINE_SITES: dict[str, str] = {
    "lung": "lung",
    "mesothelioma": "other",
    "liver": "liver",
    "gallbladder_bile_duct": "other",
    "pancreas": "pancreatic",
    "neuroendocrine": "other",
    "stomach": "gastric",
    "esophagus": "esophageal",
    "colorectal": "colorectal",
    "kidney": "kidney",
    "bladder": "bladder",
    "testicular": "other",
    "prostate": "prostate",
    "breast": "breast",
    "ovary": "ovarian",
    "endometrium": "uterine",
    "cervix": "cervical",
    "nasopharynx": "nasopharyngeal",
    "oral_cavity": "head_neck",
    "larynx": "head_neck",
    "thyroid": "thyroid",
    "lymphoma": "lymphoma",
    "leukemia": "leukemia",
    "myeloma": "other",
    "brain": "brain",
    "melanoma": "skin",
    "sarcoma": "bone_soft_tissue",
    "unknown_primary": "other",
    "general": "none",
}
URGENCIES: tuple[str, ...] = ("emergency", "today", "routine")
ANSWER_WORDS = (40, 110)
# An emergency answer must send the patient to urgent care in its first sentence.
_URGENT_LEAD = re.compile(
    r"\b(emergency|A&E|ER\b|911|999|112|120|ambulance|right now|immediately|straight away|"
    r"right away|urgent|without delay|tonight|now)\b",
    re.IGNORECASE,
)


def patient_text(row: dict) -> str:
    """The patient turns of a conversation row, joined."""
    return " ".join(t["text"] for t in row["turns"] if t["role"] == "patient")


def corpus_rows(directory: Path = CORPUS_DIR) -> list[tuple[str, str, str]]:
    """(id, patient text, written urgency) of every corpus conversation."""
    return [
        (row["id"], patient_text(row), row["meta"]["urgency"])
        for _, row in read_rows(corpus_files(directory))
    ]


def words(text: str) -> int:
    """Number of whitespace-separated words."""
    return len(text.split())


def row_problems(row: object, where: str) -> list[str]:
    """Every rule the row breaks, each naming where."""
    try:
        conv = Conversation.from_dict(row, where)  # type: ignore[arg-type]
    except ConversationError as exc:
        return [str(exc)]
    problems = []
    if conv.turns[-1].role != "doctor":
        problems.append(f"{where}: the last turn must be the doctor's")
    meta = conv.meta
    if meta.get("category") not in CATEGORIES:
        problems.append(f"{where}.meta.category: must be one of {CATEGORIES}")
    detail = meta.get("site_detail")
    if detail not in FINE_SITES:
        problems.append(f"{where}.meta.site_detail: {detail!r} is not in FINE_SITES")
    elif meta.get("site") != FINE_SITES[detail]:
        problems.append(f"{where}.meta.site: must be {FINE_SITES[detail]!r} for {detail!r}")
    if meta.get("site") not in SITES:
        problems.append(f"{where}.meta.site: must be one of SITES")
    urgency = meta.get("urgency")
    if urgency not in URGENCIES:
        problems.append(f"{where}.meta.urgency: must be one of {URGENCIES}")
    if meta.get("red_flag") is not (urgency == "emergency"):
        problems.append(f"{where}.meta.red_flag: must be true exactly when urgency is emergency")
    if not meta.get("sources"):
        problems.append(f"{where}.meta.sources: name the public guidance followed")
    for i, turn in enumerate(conv.turns):
        if turn.role == "doctor" and not ANSWER_WORDS[0] <= words(turn.text) <= ANSWER_WORDS[1]:
            problems.append(f"{where}.turns[{i}]: {words(turn.text)} words, want {ANSWER_WORDS}")
    lead = (split_sentences(conv.turns[-1].text) or [""])[0] if urgency == "emergency" else ""
    if urgency == "emergency" and not _URGENT_LEAD.search(lead):
        problems.append(f"{where}: an emergency answer must send to urgent care first")
    return problems


def read_rows(paths: Iterable[Path]) -> list[tuple[str, dict]]:
    """(where, row) for every line of the files; a bad JSON line raises with file:line."""
    out = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append((f"{path.name}:{n}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from exc
    return out


def corpus_files(directory: Path = CORPUS_DIR) -> list[Path]:
    """The corpus parts, in name order."""
    return sorted(directory.glob("part-*.jsonl"))


def coverage(rows: Sequence[dict]) -> dict[str, object]:
    """Counts a dataset card states: size, categories, sites, urgency, multi-turn."""
    n = len(rows) or 1
    metas = [r.get("meta", {}) for r in rows]
    return {
        "conversations": len(rows),
        "category": Counter(m.get("category") for m in metas),
        "site": Counter(m.get("site") for m in metas),
        "site_detail": Counter(m.get("site_detail") for m in metas),
        "urgency": Counter(m.get("urgency") for m in metas),
        "emergency_share": sum(m.get("red_flag") is True for m in metas) / n,
        "multi_turn_share": sum(len(r.get("turns", [])) > 2 for r in rows) / n,
    }


def near_duplicates(rows: Sequence[dict], others: Iterable[str]) -> dict[str, int]:
    """How many rows' question, or whole text, the pipeline's near-duplicate search finds in
    `others` (e.g. the public evaluation questions and answers); and within the rows."""
    from oncogpt.data.dedup import NearDuplicateIndex

    outside = NearDuplicateIndex()
    for text in others:
        outside.check(text)
    inside = NearDuplicateIndex()
    counts = Counter()
    for row in rows:
        texts = [t["text"] for t in row["turns"]]
        whole = "\n".join(texts)
        counts["of_others"] += bool(outside.seen(texts[0]) or outside.seen(whole))
        counts["within"] += bool(inside.check(whole))
    return dict(counts)


def public_texts(path: Path) -> list[str]:
    """Questions, answers and question+answer of an OncoGPT-format JSON file."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for r in rows:
        q, a = r.get("question") or r.get("input") or "", r.get("output", "")
        out += [q, a, f"{q}\n{a}"]
    return out


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="default: the shipped corpus")
    parser.add_argument(
        "--near", type=Path, help="also count near-duplicates of this OncoGPT-format JSON file"
    )
    args = parser.parse_args(argv)
    rows = read_rows(args.files or corpus_files())
    if args.near:
        print(f"near-duplicates: {near_duplicates([r for _, r in rows], public_texts(args.near))}")
    problems = [p for where, row in rows for p in row_problems(row, where)]
    ids = Counter(row.get("id") for _, row in rows)
    problems += [f"duplicate id {i!r}" for i, c in ids.items() if c > 1]
    for p in problems:
        print(p)
    cov = coverage([row for _, row in rows])
    for key, value in cov.items():
        shown = dict(value.most_common()) if isinstance(value, Counter) else value
        print(f"{key}: {shown}")
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(_main())
