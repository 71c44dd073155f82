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

KB_DIR = Path(__file__).resolve().parents[1] / "resources" / "kb"
STARTER_KB_SOURCE = KB_DIR / "starter_kb.jsonl"
#: The shipped knowledge base: the starter passages and the passages written since.
DEFAULT_KB_SOURCES = (STARTER_KB_SOURCE, KB_DIR / "passages")
#: Passage text shown to the model is cut to this many characters (small context windows).
PASSAGE_CHARS = 700


def _sources_stamp(sources: tuple[Path, ...]) -> str:
    files = [f for s in sources for f in ([s] if s.is_file() else sorted(s.glob("*.jsonl")))]
    return ";".join(f"{f.name}:{f.stat().st_mtime_ns}:{f.stat().st_size}" for f in files)


def default_kb() -> Path:
    """The shipped oncology KB, built once under $ONCOGPT_HOME (rebuilds embed only changes)."""
    from oncogpt.models import oncogpt_home
    from oncogpt.rag.kb import build_kb

    path = oncogpt_home() / "kb" / "oncogpt.sqlite"
    stamp = path.with_suffix(".source-stamp")
    current = _sources_stamp(DEFAULT_KB_SOURCES)
    if not path.is_file() or not stamp.is_file() or stamp.read_text() != current:
        build_kb(list(DEFAULT_KB_SOURCES), path)
        stamp.write_text(current)
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
    from oncogpt.rag.sentences import is_factual
    from oncogpt.text import sentence_spans

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
    mode: str = "flag", compose: str = "extract", on_sentence: Any = None,
) -> CitedAnswer:  # fmt: skip
    """Retrieve k passages, answer from them, attach and check citations.

    `compose` is "extract" or "rewrite" (grounded composition, `oncogpt.rag.compose`: the facts
    are passage sentences) or "free" (the model writes the answer from the passages; kept to
    measure against). `on_sentence` receives each composed sentence as it is ready.
    """
    from oncogpt.rag.compose import NEXT_STEP
    from oncogpt.rag.compose import compose as compose_answer
    from oncogpt.safety import apply_safety, assess

    safety = assess(question)
    hits, urgent = _with_emergency_passages(retriever.search(question, k), retriever, safety)
    scorer = SupportScorer()
    if compose == "free":
        answer = attach_citations(_free_answer(engine, question, hits, sampling), hits, scorer)
    else:
        in_kb = _kb_names(retriever)
        answer, _ = compose_answer(
            question, hits, scorer, engine, compose, on_sentence, urgent, in_kb
        )
    covered = compose == "free" or bool(citation_markers(answer))
    report = check_answer(answer if covered else "", hits, encoder=scorer.encoder)
    checked = render_checked(report, mode=mode) if covered else answer  # type: ignore[arg-type]
    if compose != "free":
        checked = _close(checked, NEXT_STEP)
    # Safety goes on last so its fixed messages are never checked as claims.
    checked = apply_safety(checked, safety)
    return CitedAnswer(question, answer, hits, report, checked)


#: The oncologic emergencies that the triage names and the KB explains, as a search for their
#: passages. A patient describes the picture ("very thirsty, constipated, sleepy and a little
#: confused"), rarely its name, so a search on their words alone missed the passage on
#: hypercalcaemia (the fresh question set, docs/rag.md).
EMERGENCY_QUERIES = {
    "hypercalcaemia": "hypercalcemia high calcium symptoms in cancer",
    "cord_compression": "spinal cord compression symptoms emergency",
    "svc_swelling": "superior vena cava syndrome swelling of face and neck",
    "neutropenic_fever": "fever during chemotherapy neutropenia call right away",
    "thrombosis": "blood clot deep vein thrombosis signs in cancer",
    "raised_intracranial_pressure": "brain metastases headache vomiting raised pressure",
    "anaphylaxis": "infusion reaction allergic reaction during treatment",
    # not a red flag but a harm the triage finds: thoughts of death told without a request
    "thoughts": "depression signs thoughts of death or suicide in people with cancer",
}


def _with_emergency_passages(
    hits: Any, retriever: Any, safety: Any
) -> tuple[list[Any], frozenset[int]]:
    """The retrieved passages plus the best two passages on each emergency the triage found, and
    on thoughts of death it found (when the search on the patient's words did not already bring
    them), and the 1-based numbers of the passages on those."""
    hits, urgent = list(hits), set()
    number = {h.id: n for n, h in enumerate(hits, start=1)}
    for reason in (*safety.red_flag_reasons, *([safety.harm] if safety.harm else [])):
        query = EMERGENCY_QUERIES.get(reason)
        for hit in retriever.search(query, 2) if query else []:
            if hit.id not in number:
                hits.append(hit)
                number[hit.id] = len(hits)
            urgent.add(number[hit.id])
    return hits, frozenset(urgent)


def _kb_names(retriever: Any) -> Any:
    """Whether the retriever's whole knowledge base names a term, where it can tell."""
    frequency = getattr(retriever, "doc_frequency", None)
    return (lambda term: frequency(term) > 0) if frequency is not None else None


def _close(checked: str, closing: str) -> str:
    """The closing sentence goes after the answer, before the check summary line."""
    body, sep, summary = checked.rpartition("\n\n")
    if not sep or not summary.startswith("Reference check"):
        return f"{checked} {closing}"
    return f"{body} {closing}\n\n{summary}"


def _free_answer(engine: Any, question: str, hits: list[Any], sampling: Any) -> str:
    """The model's own answer from the passages (as many passages as fit its context)."""
    from oncogpt.generate import GenerationError, SamplingConfig

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
    return "".join(engine.stream(conv, sampling)).strip()
