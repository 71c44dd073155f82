"""Answers grounded in a knowledge base: indexing, hybrid retrieval, citations, reference checks.

Research only, never for clinical use. The generation engine is elsewhere; this package gives it

- `build_kb(sources, out)`: index Markdown, text, JSONL, CSV and JSON files into one SQLite file;
- `SqliteRetriever(kb).search(query, k)`: hybrid bm25 + dense retrieval (any `Retriever` works);
- `format_context(hits)`, `citation_markers(answer)`, `reference_list(hits, used)`: prompt pieces;
- `check_answer(answer, hits)` and `render_checked(report)`: the automated reference check.

Importing this package loads neither torch nor the encoder; they load on first use.
"""

from __future__ import annotations

from .check import CheckReport, SentenceCheck, check_answer, render_checked
from .cite import ANSWER_RULES, citation_markers, format_context, neutralize, reference_list
from .encoder import Encoder, default_encoder
from .kb import BuildStats, KnowledgeBase, build_kb
from .retrieve import Hit, Retriever, SqliteRetriever
from .sources import KBError, Passage, read_passages

__all__ = [
    "ANSWER_RULES",
    "BuildStats",
    "CheckReport",
    "Encoder",
    "Hit",
    "KBError",
    "KnowledgeBase",
    "Passage",
    "Retriever",
    "SentenceCheck",
    "SqliteRetriever",
    "build_kb",
    "check_answer",
    "citation_markers",
    "default_encoder",
    "format_context",
    "neutralize",
    "read_passages",
    "reference_list",
    "render_checked",
]
