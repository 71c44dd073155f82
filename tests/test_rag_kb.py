"""Knowledge-base building: every input format, errors naming file and line, ids, incremental."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from oncogpt.rag.kb import KnowledgeBase, build_kb
from oncogpt.rag.sources import MAX_WORDS, KBError, merge_paragraphs, read_passages


class CountingEncoder:
    """A fake encoder: deterministic vectors, and a count of what it was asked to embed."""

    path = Path("counting-encoder")
    dim = 8

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.seen += list(texts)
        rng = [np.random.default_rng(abs(hash(t)) % (2**32)).normal(size=self.dim) for t in texts]
        vecs = np.array(rng, dtype=np.float32).reshape(len(texts), self.dim)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


MARKDOWN = """---
title: Lung cancer basics
source: https://example.org/lung
---
# Lung cancer

Lung cancer starts in the cells of the lung.

## Treatment

Osimertinib treats EGFR-mutant non-small cell lung cancer.

```
# not a heading inside a code fence
```

## Screening
Source: https://example.org/screening

Low-dose CT screening is offered to heavy smokers.
"""


def test_markdown_sections_titles_and_sources(tmp_path):
    passages = read_passages(write(tmp_path / "lung.md", MARKDOWN))
    titles = [p.title for p in passages]
    assert titles == ["Lung cancer", "Lung cancer > Treatment", "Lung cancer > Screening"]
    assert "not a heading" in passages[1].text  # a fenced '#' line stays text
    assert passages[0].source_url == "https://example.org/lung"
    assert passages[0].source_title == "Lung cancer basics"
    assert passages[2].source_url == "https://example.org/screening"
    assert "Source:" not in passages[2].text


def test_markdown_without_front_matter_uses_file_path(tmp_path):
    path = write(tmp_path / "notes.md", "# Notes\n\nSome text about melanoma.\n")
    (p,) = read_passages(path)
    assert p.source_url == path.as_posix() and p.source_title == "Notes"


def test_plain_text_paragraphs_merge_to_size(tmp_path):
    para = " ".join(["word"] * 50)
    path = write(tmp_path / "leaflet.txt", "\n\n".join([para] * 9))
    passages = read_passages(path)
    sizes = [len(p.text.split()) for p in passages]
    assert sum(sizes) == 450
    assert all(s <= MAX_WORDS for s in sizes) and all(s >= 100 for s in sizes[:-1])
    assert len({p.id for p in passages}) == len(passages)


def test_long_paragraph_is_split_at_sentences():
    sentence = "Chemotherapy can cause nausea and fatigue in many people. "
    chunks = merge_paragraphs([sentence * 60])
    assert len(chunks) > 1
    assert all(len(c.split()) <= MAX_WORDS for c in chunks)
    assert all(c.rstrip().endswith(".") for c in chunks)


def test_jsonl_rows_ids_and_meta(tmp_path):
    rows = [
        {"id": "kb-1", "title": "HER2", "text": "Trastuzumab targets HER2.", "topic": "breast"},
        {"title": "PSA", "text": "PSA is a blood test.", "source_url": "https://x.org/psa"},
    ]
    path = write(tmp_path / "kb.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    first, second = read_passages(path)
    assert first.id == "kb-1" and first.meta == {"topic": "breast"}
    assert second.id.startswith("kb-") and second.source_url == "https://x.org/psa"


def test_csv_disease_database_layout(tmp_path):
    path = write(
        tmp_path / "diseases.csv",
        "idx,disease,Symptom,reason,TestsAndProcedures,commonMedications\n"
        "0,Melanoma,\"['Skin lesion', 'Mole change']\",\"Melanoma is a skin cancer.\","
        "\"['Biopsy']\",\"['Pembrolizumab', 'Nivolumab']\"\n",
    )
    (p,) = read_passages(path)
    assert p.title == "Melanoma"
    assert "Symptoms: Skin lesion, Mole change." in p.text
    assert "Common medications: Pembrolizumab, Nivolumab." in p.text
    assert p.meta == {"idx": "0"}


def test_csv_title_text_layout(tmp_path):
    path = write(tmp_path / "notes.csv", 'title,text,topic\nPSA,"PSA is a protein.",prostate\n')
    (p,) = read_passages(path)
    assert (p.title, p.text, p.meta) == ("PSA", "PSA is a protein.", {"topic": "prostate"})


def test_json_alpaca_list(tmp_path):
    rows = [
        {"instruction": "Answer", "input": "What is leukemia?", "output": "A blood cancer."},
        {"instruction": "Answer", "input": "What is leukemia?", "output": "Another answer."},
    ]
    path = write(tmp_path / "qa.json", json.dumps(rows, indent=2))
    first, second = read_passages(path)
    assert first.title == "What is leukemia?" and first.text == "A blood cancer."
    assert first.meta == {"instruction": "Answer"}
    assert first.id != second.id  # same title twice: the occurrence number tells them apart


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("bad.jsonl", '{"title": "a", "text": "ok"}\n{"title": "b", "text": \n', "bad.jsonl:2"),
        ("bad.jsonl", '{"title": "a", "text": "ok"}\n\n{"title": "b"}\n', "bad.jsonl:3"),
        ("bad.jsonl", '["not", "an", "object"]\n', "bad.jsonl:1"),
        ("bad.json", '[\n {"input": "q", "output": "a"},\n {"input": "q2"}\n]', "bad.json:3"),
        ("bad.json", '[\n {"input": "q", "output": "a"},\n {"input": \n]', "bad.json:4"),
        ("bad.json", '{"input": "q", "output": "a"}', "bad.json:1"),
        ("bad.csv", "disease,Symptom\nFlu,\"['a', \"\n", "bad.csv:2"),
        ("bad.csv", "disease,reason\nFlu,fever\nCold,\n", "bad.csv:3"),
        ("bad.csv", "name,body\nx,y\n", "bad.csv:1"),
        ("bad.md", "---\ntitle: x\nno colon here\n---\n# A\ntext\n", "bad.md:3"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, name, content, where):
    path = write(tmp_path / name, content)
    with pytest.raises(KBError) as err:
        read_passages(path)
    assert f"{tmp_path / where}" in str(err.value)


def test_unknown_suffix_and_duplicate_ids_are_errors(tmp_path):
    with pytest.raises(KBError, match="unsupported file type"):
        read_passages(write(tmp_path / "x.pdf", "%PDF"))
    a = write(tmp_path / "a.jsonl", '{"id": "same", "text": "one"}\n')
    b = write(tmp_path / "b.jsonl", '{"id": "same", "text": "two"}\n')
    with pytest.raises(KBError, match=r"b\.jsonl:1: duplicate passage id 'same'.*a\.jsonl:1"):
        build_kb([a, b], tmp_path / "kb.sqlite", encoder=CountingEncoder())


def test_ids_are_stable_across_folders_and_insertions(tmp_path):
    rows = [{"title": t, "text": f"About {t}."} for t in ("ALK", "EGFR", "KRAS")]
    one = tmp_path / "one"
    two = tmp_path / "two"
    one.mkdir()
    two.mkdir()
    path1 = write(one / "genes.jsonl", "\n".join(json.dumps(r) for r in rows))
    rows.insert(0, {"title": "BRAF", "text": "About BRAF."})
    path2 = write(two / "genes.jsonl", "\n".join(json.dumps(r) for r in rows))
    ids1 = {p.title: p.id for p in read_passages(path1)}
    ids2 = {p.title: p.id for p in read_passages(path2)}
    assert all(ids2[t] == ids1[t] for t in ids1)  # same file name, inserted row: same ids


def test_incremental_rebuild_embeds_only_new_passages(tmp_path):
    enc = CountingEncoder()
    kb = tmp_path / "kb.sqlite"
    a = write(tmp_path / "a.jsonl", '{"id": "a1", "text": "one"}\n{"id": "a2", "text": "two"}\n')
    stats = build_kb([a], kb, encoder=enc)
    assert (stats.added, stats.embedded, stats.unchanged) == (2, 2, 0)

    b = write(tmp_path / "b.jsonl", '{"id": "b1", "text": "three"}\n')
    enc.seen.clear()
    stats = build_kb([a, b], kb, encoder=enc)
    assert (stats.added, stats.updated, stats.unchanged, stats.embedded) == (1, 0, 2, 1)
    assert enc.seen == ["three"]

    write(a, '{"id": "a1", "text": "one, edited"}\n{"id": "a2", "text": "two"}\n')
    enc.seen.clear()
    stats = build_kb([a, b], kb, encoder=enc)
    assert (stats.updated, stats.embedded, stats.removed) == (1, 1, 0)
    assert enc.seen == ["one, edited"]

    stats = build_kb([a], kb, encoder=enc)  # b.jsonl gone from the sources: its passage too
    assert stats.removed == 1 and stats.embedded == 0
    with KnowledgeBase(kb) as opened:
        assert sorted(opened.ids) == ["a1", "a2"]
        assert opened.matrix.shape == (2, CountingEncoder.dim)
        fts = opened.conn.execute("SELECT count(*) FROM passages_fts").fetchone()[0]
        assert fts == 2


def test_build_without_prune_keeps_other_files(tmp_path):
    enc = CountingEncoder()
    kb = tmp_path / "kb.sqlite"
    a = write(tmp_path / "a.jsonl", '{"id": "a1", "text": "one"}\n')
    b = write(tmp_path / "b.jsonl", '{"id": "b1", "text": "two"}\n')
    build_kb([a, b], kb, encoder=enc)
    stats = build_kb([a], kb, encoder=enc, prune=False)
    assert stats.removed == 0
    with KnowledgeBase(kb) as opened:
        assert len(opened) == 2


def test_bad_input_leaves_existing_kb_untouched(tmp_path):
    enc = CountingEncoder()
    kb = tmp_path / "kb.sqlite"
    a = write(tmp_path / "a.jsonl", '{"id": "a1", "text": "one"}\n')
    build_kb([a], kb, encoder=enc)
    bad = write(tmp_path / "bad.jsonl", "{oops\n")
    with pytest.raises(KBError, match="bad.jsonl:1"):
        build_kb([a, bad], kb, encoder=enc)
    with KnowledgeBase(kb) as opened:
        assert opened.ids == ["a1"]


def test_changing_encoder_embeds_everything_again(tmp_path):
    kb = tmp_path / "kb.sqlite"
    a = write(tmp_path / "a.jsonl", '{"id": "a1", "text": "one"}\n')
    build_kb([a], kb, encoder=CountingEncoder())
    other = CountingEncoder()
    other.path = Path("another-encoder")
    assert build_kb([a], kb, encoder=other).embedded == 1


def test_opening_something_else_fails_clearly(tmp_path):
    with pytest.raises(KBError, match="no such knowledge base"):
        KnowledgeBase(tmp_path / "missing.sqlite")
    junk = write(tmp_path / "junk.sqlite", "not a database at all")
    with pytest.raises(KBError, match="not an OncoGPT knowledge base"):
        KnowledgeBase(junk)
    conn = sqlite3.connect(tmp_path / "other.sqlite")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(KBError, match="not an OncoGPT knowledge base"):
        KnowledgeBase(tmp_path / "other.sqlite")


def test_folder_sources_are_read_recursively(tmp_path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    write(docs / "a.md", "# A\n\nAbout anemia.\n")
    write(docs / "sub" / "b.txt", "About bone marrow.\n")
    write(docs / "ignored.pdf", "%PDF")
    stats = build_kb([docs], tmp_path / "kb.sqlite", encoder=CountingEncoder())
    assert (stats.files, stats.passages) == (2, 2)
