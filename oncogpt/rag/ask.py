"""Grounded answers: retrieve, answer with numbered citations, check every cited sentence.

Small models rarely write [n] markers themselves, so after generation each factual sentence
without a marker gets the retrieved passage that supports it best, if one does; then the
reference checker verifies every marker (model-written or attached) against its passage.
Passages reach the model only through `format_context`, which fences them as data and defuses
instruction-like text.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from oncogpt.conversation import Conversation
from oncogpt.rag.check import CheckReport, SupportScorer, check_answer, render_checked
from oncogpt.rag.cite import (
    ANSWER_RULES,
    citation_markers,
    format_context,
    reference_list,
    strip_markers,
)

STARTER_KB_SOURCE = Path(__file__).resolve().parents[1] / "resources" / "kb" / "starter_kb.jsonl"
#: Passage text shown to the model is cut to this many characters (small context windows).
PASSAGE_CHARS = 700


def default_kb() -> Path:
    """The starter oncology KB, built once under $ONCOGPT_HOME (rebuilds embed only changes)."""
    from oncogpt.models import oncogpt_home
    from oncogpt.rag.kb import build_kb

    path = oncogpt_home() / "kb" / "starter.sqlite"
    stamp = path.with_suffix(".source-mtime")
    mtime = str(STARTER_KB_SOURCE.stat().st_mtime_ns)
    if not path.is_file() or not stamp.is_file() or stamp.read_text() != mtime:
        build_kb([STARTER_KB_SOURCE], path)
        stamp.write_text(mtime)
    return path


@dataclasses.dataclass
class CitedAnswer:
    question: str
    answer: str
    """The model's answer with citation markers (before flagging)."""
    hits: list[Any]
    report: CheckReport
    checked: str
    """The answer with unsupported sentences flagged or removed, and the check summary."""

    def references(self) -> str:
        return reference_list(self.hits, citation_markers(self.answer))

    def render(self) -> str:
        refs = self.references()
        return f"{self.checked}\n\n{refs}" if refs else self.checked


def grounded_conversation(question: str, hits: list[Any], system: str | None) -> Conversation:
    context = format_context(hits, max_chars=PASSAGE_CHARS)
    prefix = f"{system} " if system else ""
    return Conversation.single(question, system=f"{prefix}{ANSWER_RULES}\n\n{context}")


def attach_citations(answer: str, hits: list[Any], scorer: SupportScorer) -> str:
    """Add [n] to each unmarked factual sentence that a retrieved passage supports."""
    from oncogpt.rag.check import is_factual, sentence_spans

    pieces, last = [], 0
    for start, end in sentence_spans(answer):
        sentence = answer[start:end]
        pieces.append(answer[last:start])
        last = end
        body = sentence.rstrip()
        if citation_markers(body) or not is_factual(strip_markers(body)) or not hits:
            pieces.append(sentence)
            continue
        best = _best_passage(strip_markers(body), hits, scorer)
        # The marker goes before the final punctuation so it stays in its sentence.
        core = body.rstrip(".!?…")
        marked = f"{core} [{best}]{body[len(core) :]}{sentence[len(body) :]}"
        pieces.append(marked if best else sentence)
    pieces.append(answer[last:])
    return "".join(pieces)


def _best_passage(sentence: str, hits: list[Any], scorer: SupportScorer) -> int | None:
    best, best_score = None, 0.0
    for n, hit in enumerate(hits, start=1):
        cos, lex, gaps = scorer.features(sentence, [f"{hit.title}\n{hit.text}"])
        ok, score = scorer.supports(cos, lex, gaps)
        if ok and score > best_score:
            best, best_score = n, score
    return best


def ask_with_citations(
    engine: Any, retriever: Any, question: str, sampling: Any = None, k: int = 4,
    mode: str = "flag",
) -> CitedAnswer:  # fmt: skip
    """Retrieve k passages, answer from them, attach and check citations."""
    from oncogpt.generate import GenerationError, SamplingConfig
    from oncogpt.safety import apply_safety, assess

    hits = list(retriever.search(question, k))
    max_new = (sampling or SamplingConfig()).max_new_tokens
    while True:  # fewer passages when they do not fit a small context window
        conv = grounded_conversation(question, hits, engine.template.default_system)
        try:
            engine.prompt_ids(conv, max_new)
            break
        except GenerationError:
            if not hits:
                raise
            hits.pop()
    raw = "".join(engine.stream(conv, sampling)).strip()
    scorer = SupportScorer()
    answer = attach_citations(raw, hits, scorer)
    report = check_answer(answer, hits, encoder=scorer.encoder)
    checked = render_checked(report, mode=mode)  # type: ignore[arg-type]
    # Safety goes on last so its fixed messages are never checked as claims.
    checked = apply_safety(checked, assess(question))
    return CitedAnswer(question, answer, hits, report, checked)
