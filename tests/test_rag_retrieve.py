"""Hybrid retrieval over a small KB built with the real (small, shipped) encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oncogpt.rag.encoder import default_encoder
from oncogpt.rag.kb import build_kb
from oncogpt.rag.retrieve import Hit, Retriever, SqliteRetriever, fts_query, rrf

PASSAGES = [
    {
        "id": "egfr",
        "title": "EGFR-mutant lung cancer",
        "text": "Osimertinib is a targeted drug for non-small cell lung cancer whose tumor "
        "carries an EGFR mutation. It is taken by mouth once a day.",
    },
    {
        "id": "her2",
        "title": "HER2-positive breast cancer",
        "text": "Trastuzumab is an antibody against the HER2 protein, given with chemotherapy "
        "for HER2-positive breast cancer.",
    },
    {
        "id": "colon-screening",
        "title": "Colorectal cancer screening",
        "text": "Adults at average risk should start screening for colorectal cancer at age 45, "
        "with a colonoscopy every 10 years or a stool test every year.",
    },
    {
        "id": "fever",
        "title": "Fever during chemotherapy",
        "text": "A temperature of 38 degrees Celsius or higher during chemotherapy can be a sign "
        "of neutropenic infection and needs urgent care the same day.",
    },
    {
        "id": "melanoma",
        "title": "Melanoma warning signs",
        "text": "A mole that changes in size, shape or colour, bleeds, or has an irregular "
        "border should be checked for melanoma.",
    },
    {
        "id": "psa",
        "title": "PSA test",
        "text": "The prostate-specific antigen blood test measures PSA, which can be raised by "
        "prostate cancer but also by an enlarged prostate or infection.",
    },
    {
        "id": "hpv",
        "title": "HPV vaccine",
        "text": "Vaccination against human papillomavirus lowers the risk of cervical cancer "
        "and several head and neck cancers.",
    },
    {
        "id": "nausea",
        "title": "Nausea after chemotherapy",
        "text": "Ondansetron and other antiemetics prevent or relieve nausea and vomiting "
        "caused by chemotherapy.",
    },
]


@pytest.fixture(scope="session")
def encoder():
    return default_encoder()  # the process-wide instance: loaded once


@pytest.fixture(scope="module")
def kb_path(tmp_path_factory, encoder) -> Path:
    folder = tmp_path_factory.mktemp("rag-kb")
    src = folder / "oncology.jsonl"
    src.write_text("\n".join(json.dumps(p) for p in PASSAGES), encoding="utf-8")
    build_kb([src], folder / "kb.sqlite", encoder=encoder)
    return folder / "kb.sqlite"


@pytest.fixture(scope="module")
def retriever(kb_path, encoder):
    r = SqliteRetriever(kb_path, encoder=encoder)
    yield r
    r.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("which pill is used for lung tumours with an EGFR change?", "egfr"),
        ("at what age should screening for bowel cancer start", "colon-screening"),
        ("I have a high temperature after my chemo session, is it serious?", "fever"),
        ("my mole looks different and has ragged edges", "melanoma"),
        ("a medicine to stop feeling sick and throwing up after chemo", "nausea"),
        ("shot that protects against cancer of the cervix", "hpv"),
    ],
)
def test_hybrid_finds_paraphrased_passage(retriever, query, expected):
    hits = retriever.search(query, k=3)
    assert hits[0].id == expected, [h.id for h in hits]


def test_hits_carry_source_and_scores(retriever):
    hits = retriever.search("trastuzumab HER2", k=2)
    assert isinstance(hits[0], Hit) and hits[0].id == "her2"
    assert hits[0].source_url.endswith("oncology.jsonl")
    assert hits[0].score > hits[1].score
    assert hits[0].cosine is not None and -1.0 <= hits[0].cosine <= 1.0
    assert isinstance(retriever, Retriever)


def test_dense_catches_what_words_miss(kb_path, encoder):
    query = "tablet for lung tumours with a gene alteration"
    dense = SqliteRetriever(kb_path, encoder=encoder, mode="dense").search(query, k=1)
    assert dense[0].id == "egfr"


def test_lexical_mode_needs_no_encoder(kb_path):
    lexical = SqliteRetriever(kb_path, encoder=None, mode="lexical")
    assert lexical._encoder is None
    assert lexical.search("ondansetron", k=1)[0].id == "nausea"
    assert lexical._encoder is None


@pytest.mark.parametrize(
    "query",
    [
        'what about "HER2',
        "HER2 AND trastuzumab OR NOT",
        "trastuzumab*",
        "(HER2) NEAR(breast",
        "title:HER2 ^breast -cancer",
        "'; DROP TABLE passages; --",
        "   ",
        '""',
    ],
)
def test_fts_queries_are_sanitized(retriever, query):
    hits = retriever.search(query, k=3)  # must not raise an FTS5 syntax error
    if "HER2" in query or "trastuzumab" in query:
        assert hits[0].id == "her2"


def test_fts_query_quotes_every_term():
    assert fts_query('HER2 AND "trastuzumab" (breast*)') == '"her2" OR "trastuzumab" OR "breast"'
    assert fts_query("the and of") == ""
    assert fts_query(" ".join(f"w{i}" for i in range(100))).count(" OR ") == 31


def test_rrf_rewards_agreement():
    fused = rrf([["a", "b", "c"], ["b", "a", "d"]])
    assert fused["a"] == fused["b"] > fused["c"] == fused["d"]


def test_k_larger_than_kb_returns_everything(retriever):
    assert len(retriever.search("cancer", k=50)) == len(PASSAGES)


def test_terms_in_most_passages_do_not_steer_hybrid(kb_path, encoder):
    # "cancer" is in most passages: in hybrid mode it adds no lexical candidates.
    hybrid = SqliteRetriever(kb_path, encoder=encoder)
    assert hybrid.doc_frequency("cancer") > len(PASSAGES) / 2
    assert hybrid.lexical("cancer", 5) == []
    assert hybrid.search("shot that protects against cancer of the cervix", k=1)[0].id == "hpv"
    lexical = SqliteRetriever(kb_path, mode="lexical")
    assert len(lexical.lexical("cancer", 5)) == 5
