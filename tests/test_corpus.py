"""The shipped oncology corpus: its rules, its coverage, and how the pipeline reads it."""

from __future__ import annotations

import copy
import json

import pytest

from oncogpt.data.corpus import (
    CORPUS_DIR,
    FINE_SITES,
    corpus_files,
    coverage,
    near_duplicates,
    read_rows,
    row_problems,
)
from oncogpt.data.readers import read_source

ROWS = [row for _, row in read_rows(corpus_files())]
EMERGENCY = {
    "id": "t-1",
    "system": None,
    "turns": [
        {"role": "patient", "text": "on chemo, fever 38.6 and shaking tonight"},
        {
            "role": "doctor",
            "text": "Go to the emergency department now. " + "Fever during chemotherapy " * 12,
        },
    ],
    "meta": {
        "category": "therapeutic",
        "site": "none",
        "site_detail": "general",
        "urgency": "emergency",
        "red_flag": True,
        "sources": ["NCI: Neutropenia"],
    },
}


def test_shipped_corpus_follows_its_rules():
    problems = [p for i, row in enumerate(ROWS) for p in row_problems(row, f"row {i}")]
    assert problems == []
    assert len({r["id"] for r in ROWS}) == len(ROWS)


def test_shipped_corpus_coverage():
    cov = coverage(ROWS)
    assert cov["conversations"] >= 3000
    assert len([s for s in cov["site_detail"] if s != "general"]) >= 25
    assert cov["emergency_share"] >= 0.12 and cov["multi_turn_share"] >= 0.10
    research = cov["category"]["research"] / cov["conversations"]
    assert 0.35 <= research <= 0.65
    first = [cov["site_detail"][s] for s in ("lung", "liver", "stomach", "colorectal", "breast")]
    assert min(first) >= max(cov["site_detail"][s] for s in ("kidney", "melanoma", "brain"))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r["turns"][1].update(text="Rest and drink water. " * 12), "urgent care first"),
        (lambda r: r["meta"].update(site="lung"), "must be 'none'"),
        (lambda r: r["meta"].update(red_flag=False), "red_flag"),
        (lambda r: r["turns"][1].update(text="Go to the emergency department now."), "words"),
        (lambda r: r["meta"].update(sources=[]), "sources"),
        (lambda r: r["turns"].pop(), "last turn"),
    ],
)
def test_row_problems_name_the_broken_rule(change, problem):
    row = copy.deepcopy(EMERGENCY)
    assert row_problems(row, "x") == []
    change(row)
    assert any(problem in p for p in row_problems(row, "x"))


def test_near_duplicates_finds_a_planted_copy():
    planted = copy.deepcopy(EMERGENCY)
    planted["turns"][0]["text"] = ROWS[0]["turns"][0]["text"]
    public = [ROWS[0]["turns"][0]["text"]]
    assert near_duplicates([planted], public)["of_others"] == 1
    assert near_duplicates([EMERGENCY], public).get("of_others", 0) == 0


def test_pipeline_reads_a_folder_of_parts(tmp_path):
    for n in (1, 2):
        (tmp_path / f"part-0{n}.jsonl").write_text(json.dumps({**EMERGENCY, "id": f"t-{n}"}) + "\n")
    rows = list(read_source(tmp_path, "conversations", {}))
    assert [conv.id for _, conv in rows] == ["t-1", "t-2"]
    assert len(list(read_source(CORPUS_DIR, "conversations", {}))) == len(ROWS)


def test_fine_sites_map_to_categorizer_sites():
    from oncogpt.data.categorize import SITES

    assert set(FINE_SITES.values()) <= set(SITES)
