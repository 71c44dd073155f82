"""The real corpus: medical_meadow_small.json + disease_database.csv from ../shared/data.

Embedding its 6,738 passages takes minutes on two CPU cores, so the KB is kept under
$ONCOGPT_HOME: with ONCOGPT_TEST_HOME set, later runs rebuild incrementally and embed nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oncogpt.rag.cite import format_context
from oncogpt.rag.encoder import default_encoder
from oncogpt.rag.kb import build_kb
from oncogpt.rag.retrieve import SqliteRetriever

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCES = [SHARED / "medical_meadow_small.json", SHARED / "disease_database.csv"]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def retriever():
    missing = [p for p in SOURCES if not p.is_file()]
    if missing:
        pytest.skip(f"{missing[0]} is absent (real data lives in ../shared/data beside the repo)")
    out = Path(os.environ["ONCOGPT_HOME"]) / "rag-test" / "shared-kb.sqlite"
    stats = build_kb(SOURCES, out, encoder=default_encoder())
    assert stats.passages == 5942 + 796  # every row of both files became a passage
    assert stats.embedded == stats.added + stats.updated
    r = SqliteRetriever(out, encoder=default_encoder())
    yield r
    r.close()


def test_rebuild_embeds_nothing(retriever):
    stats = build_kb(SOURCES, retriever.kb.path, encoder=default_encoder())
    assert (stats.embedded, stats.unchanged, stats.removed) == (0, 5942 + 796, 0)


@pytest.mark.parametrize(
    ("query", "disease"),
    [
        ("What are the symptoms of panic disorder?", "panic disorder"),
        ("girl with short stature and a missing X chromosome", "turner syndrome"),
        ("sudden attacks of fear with a racing heart and chest tightness", "panic"),
        ("which medicines are used for atrophic vaginitis", "atrophic vaginitis"),
    ],
)
def test_known_disease_is_retrieved(retriever, query, disease):
    hits = retriever.search(query, k=3)
    assert any(disease in h.title.lower() for h in hits), [h.title for h in hits]


def test_csv_passage_carries_lists_and_source(retriever):
    hits = [h for h in retriever.search("Turner syndrome", k=10) if h.title == "Turner syndrome"]
    assert hits and "Symptoms:" in hits[0].text
    assert hits[0].source_url.endswith("disease_database.csv")
    assert "[1] Turner syndrome" in format_context(hits[:1])


def test_operators_in_real_queries(retriever):
    assert len(retriever.search('AND OR "NOT ( * panic', k=3)) == 3
