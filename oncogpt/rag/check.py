"""Automated reference checking: does each cited passage support the sentence that cites it?

Each sentence of an answer gets a verdict:

- `supported`: it cites retrieved passages and they support it;
- `unsupported`: it cites passages that do not support it (a number, drug, gene or cancer name
  absent from them, or too little similarity);
- `bad_citation`: it cites a number that matches no retrieved passage;
- `uncited`: it states a fact without any citation;
- `not_factual`: greetings, questions, hedges, advice to see a doctor: nothing to check.

Support combines the encoder cosine between the sentence and the best-matching window of the
passage with the share of the sentence's content words found in the passage. Strong evidence
against, each reported by name: key terms missing from the passage, items of the sentence's
lists that it lacks or units of time it never names, clauses it barely shares words with, and
claim words missing from the passage text that matches the sentence (the encoder's best window
with the sentence sharing most words): a qualifier ("severe", "usually", "before"), a number or
drug that the passage has only in another context; and a best-matching passage sentence about
another drug. The thresholds were chosen on the even rows of
`resources/kb/support_eval.jsonl`; `python -m oncogpt.evaluate.checker --eval` reproduces the
figures.

This module holds the scorer, the verdicts and their rendering; the key terms and conflict rules
are in `oncogpt.rag.terms`, which sentences state a claim and the word overlap in
`oncogpt.rag.sentences`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from oncogpt.text import sentence_spans, split_sentences

from .cite import HitLike, citation_markers, strip_markers
from .sentences import (
    content_words,
    is_factual,
    lexical_window,
    missing_items,
    overlap,
    unsupported_clauses,
    window_spans,
)
from .terms import (
    conflicts,
    misplaced_terms,
    missing_durations,
    missing_qualifiers,
    missing_terms,
    other_drugs,
)

Verdict = Literal["supported", "unsupported", "bad_citation", "uncited", "not_factual"]

EVAL_FILE = Path(__file__).resolve().parents[1] / "resources" / "kb" / "support_eval.jsonl"
KB_FILE = EVAL_FILE.with_name("starter_kb.jsonl")


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Supported when no key term is missing and w*cosine + (1-w)*overlap >= support."""

    # Chosen by `tune` on the even rows of support_eval.jsonl (564 rows, 2 halves); the word
    # overlap separates better than the cosine there, the cosine still breaks near-ties.
    weight: float = 0.2
    support: float = 0.71


DEFAULT_THRESHOLDS = Thresholds()


# --------------------------------------------------------------------------------------------
# Verdicts.


@dataclasses.dataclass
class Evidence:
    """What the checker measured for one sentence against its cited passages."""

    cosine: float  # sentence vs the best-matching window of 1-3 passage sentences
    overlap: float  # share of the sentence's content words found in the passages
    window: str
    missing: list[str]  # numbers, stages, drugs, genes, cancers the passages never mention
    conflicts: list[str]  # negation, absolute, antonym or drug-target mismatches
    unmatched: list[str] = dataclasses.field(default_factory=list)  # absent where it matches
    unsaid: list[str] = dataclasses.field(default_factory=list)  # clauses the passages lack

    @property
    def problems(self) -> list[str]:
        """Everything that speaks against support, for `SupportScorer.supports`."""
        return self.missing + self.unmatched + self.unsaid + self.conflicts

    def reasons(self) -> list[str]:
        """The problems in words, for the verdict."""
        found = [f"not in the cited passage: {', '.join(self.missing)}"] if self.missing else []
        if self.unmatched:
            found.append(f"not in the matching passage text: {', '.join(self.unmatched)}")
        found += [f"the cited passage does not say: '{c}'" for c in self.unsaid]
        return found + self.conflicts


@dataclasses.dataclass
class SentenceCheck:
    """The verdict on one sentence and the evidence behind it."""

    text: str
    span: tuple[int, int]
    markers: list[int]
    verdict: Verdict
    cosine: float | None = None
    overlap: float | None = None
    score: float | None = None
    missing: list[str] = dataclasses.field(default_factory=list)
    reason: str = ""


@dataclasses.dataclass
class CheckReport:
    """All sentence verdicts of one answer."""

    answer: str
    sentences: list[SentenceCheck]

    def count(self, verdict: Verdict) -> int:
        return sum(1 for s in self.sentences if s.verdict == verdict)

    @property
    def checked(self) -> int:
        return sum(1 for s in self.sentences if s.verdict != "not_factual")

    def summary(self) -> str:
        unsupported = self.count("unsupported") + self.count("bad_citation")
        line = (
            f"Reference check: {self.checked} sentences checked, {self.count('supported')} "
            f"supported, {unsupported} unsupported, {self.count('uncited')} uncited"
        )
        if self.count("bad_citation"):
            line += f"; {self.count('bad_citation')} with a citation number that matches no passage"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "sentences": [dataclasses.asdict(s) for s in self.sentences],
        }


class SupportScorer:
    """Scores how well a passage supports a sentence; caches window embeddings per passage."""

    def __init__(self, encoder: Any = None, thresholds: Thresholds = DEFAULT_THRESHOLDS):
        self._encoder = encoder
        self.thresholds = thresholds
        self._cache: dict[str, np.ndarray] = {}

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from .encoder import default_encoder

            self._encoder = default_encoder()
        return self._encoder

    def _embed(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            # One thread: these batches are small and latency matters more than throughput
            # (see Encoder.encode_query); a plain encoder without `threads` works too.
            threads = getattr(self.encoder, "query_threads", None)
            vecs = (
                self.encoder.encode(todo, threads=threads) if threads else self.encoder.encode(todo)
            )
            for text, vec in zip(todo, vecs, strict=True):
                self._cache[text] = vec
        return np.stack([self._cache[t] for t in texts])

    def prime(self, texts: Sequence[str]) -> None:
        """Encode many texts in one go (length-sorted batches, bulk threads) into the cache."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            self._cache.update(zip(todo, self.encoder.encode(todo), strict=True))

    def best_window(self, sentence: str, passage: str, top: int = 16) -> tuple[float, str]:
        """The passage window most similar to the sentence, and its cosine.

        Each passage sentence is encoded once; a window's vector is the word-weighted mean of
        its sentences' vectors, which is what mean pooling over the window's tokens gives but
        for attention across the sentence boundary. Only the `top` windows sharing most words
        with the sentence are scored: a 2,000-word passage has hundreds of windows and the best
        match nearly always shares words.
        """
        sents = split_sentences(passage) or [passage]
        spans = window_spans(sents)
        if len(spans) > top:
            words = content_words(sentence)
            share = [len(words & content_words(s)) / (1 + len(s.split())) for s in sents]
            spans = sorted(spans, key=lambda ab: -sum(share[ab[0] : ab[1]]))[:top]
        needed = sorted({i for a, b in spans for i in range(a, b)})
        vecs = dict(zip(needed, self._embed([sents[i] for i in needed]), strict=True))
        weights = [len(s.split()) for s in sents]
        mats = np.stack([sum(weights[i] * vecs[i] for i in range(a, b)) for a, b in spans])
        mats /= np.linalg.norm(mats, axis=1, keepdims=True) + 1e-9
        sims = mats @ self._embed([sentence])[0]
        best = int(np.argmax(sims))
        a, b = spans[best]
        return float(sims[best]), " ".join(sents[a:b])

    def evidence(self, sentence: str, passages: Sequence[str]) -> Evidence:
        """Similarity, overlap, missing key terms and claim words, and conflicts against the
        cited passages."""
        plain = strip_markers(sentence)
        joined = "\n".join(passages)
        best = [self.best_window(plain, p) for p in passages]
        cos, window = max(best)
        # the text matching the sentence: each passage's best window and its sentence sharing
        # most words (the encoder may prefer a neighbour of the sentence that states the claim)
        lexical = [lexical_window(plain, p) for p in passages]
        matching = "\n".join(f"{w}\n{lex}" for (_, w), lex in zip(best, lexical, strict=True))
        missing = (
            missing_terms(plain, joined)
            + missing_items(plain, joined)
            + missing_durations(plain, joined)
        )
        return Evidence(
            cosine=cos,
            overlap=overlap(plain, joined),
            window=window,
            missing=missing,
            conflicts=conflicts(plain, joined, window) + _subject(plain, " ".join(lexical)),
            unmatched=[g for g in claim_gaps(plain, joined, matching) if g not in missing],
            unsaid=unsupported_clauses(plain, joined),
        )

    def features(self, sentence: str, passages: Sequence[str]) -> tuple[float, float, list[str]]:
        """(best window cosine, word overlap, problems: missing terms, claims, conflicts)."""
        ev = self.evidence(sentence, passages)
        return ev.cosine, ev.overlap, ev.problems

    def supports(self, cos: float, lex: float, problems: Sequence[str]) -> tuple[bool, float]:
        """(supported, combined score): no problem, and w*cosine + (1-w)*overlap >= support."""
        t = self.thresholds
        score = t.weight * cos + (1 - t.weight) * lex
        return (not problems and score >= t.support), score


def _subject(sentence: str, matching: str) -> list[str]:
    """A conflict when `matching`, the passage sentences matching best, are about other drugs."""
    others = other_drugs(sentence, matching)
    return [f"the matching passage sentence is about {', '.join(others)}"] if others else []


def claim_gaps(sentence: str, passage: str, matching: str) -> list[str]:
    """What the sentence claims that `matching`, the passage text matching it, does not say:
    its qualifiers, and numbers or drugs that the passage has elsewhere."""
    return missing_qualifiers(sentence, matching) + misplaced_terms(sentence, passage, matching)


def _verdict(
    sentence: str, span: tuple[int, int], hits: Sequence[HitLike], scorer: SupportScorer
) -> SentenceCheck:
    markers = citation_markers(sentence)
    if not markers:
        factual = is_factual(sentence)
        return SentenceCheck(sentence, span, [], "uncited" if factual else "not_factual")
    bad = [n for n in markers if not 1 <= n <= len(hits)]
    if bad:
        reason = f"cites {', '.join(f'[{n}]' for n in bad)}: only {len(hits)} passages retrieved"
        return SentenceCheck(sentence, span, markers, "bad_citation", reason=reason)
    if not is_factual(sentence):
        return SentenceCheck(sentence, span, markers, "not_factual")
    texts = [f"{hits[n - 1].title}\n{hits[n - 1].text}" for n in markers]
    ev = scorer.evidence(sentence, texts)
    ok, score = scorer.supports(ev.cosine, ev.overlap, ev.problems)
    reasons = ev.reasons()
    if not ok and not reasons:
        reasons.append("the cited passage does not say this")
    verdict: Verdict = "supported" if ok else "unsupported"
    return SentenceCheck(
        sentence,
        span,
        markers,
        verdict,
        ev.cosine,
        ev.overlap,
        score,
        ev.missing,
        "; ".join(reasons),
    )


def check_answer(
    answer: str,
    hits: Sequence[HitLike],
    encoder: Any = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> CheckReport:
    """Check every sentence of `answer` against the passages it cites ([n] = hits[n-1])."""
    scorer = SupportScorer(encoder, thresholds)
    checks = [
        _verdict(answer[a:b].strip(), (a, b), hits, scorer) for a, b in sentence_spans(answer)
    ]
    return CheckReport(answer, checks)


_FLAGS = {
    "unsupported": "[unsupported]",
    "bad_citation": "[bad citation]",
    "uncited": "[uncited]",
}


def render_checked(
    report: CheckReport, mode: Literal["flag", "remove"] = "flag", remove_uncited: bool = False
) -> str:
    """The answer with failing sentences flagged (or removed), then the summary line.

    In "remove" mode unsupported and bad-citation sentences are cut; uncited ones are cut only
    with `remove_uncited`, otherwise flagged.
    """
    if mode not in ("flag", "remove"):
        raise ValueError(f"mode must be 'flag' or 'remove', not {mode!r}")
    text = report.answer
    # Edit from the end so earlier spans keep their offsets.
    for check in sorted(report.sentences, key=lambda c: -c.span[0]):
        if check.verdict not in _FLAGS:
            continue
        start, end = check.span
        body = text[start:end]
        cut = mode == "remove" and (check.verdict != "uncited" or remove_uncited)
        if cut:  # spans carry their trailing space, so the next sentence follows cleanly
            replacement = "\n" if body.endswith("\n") else ""
        else:
            stripped = body.rstrip()
            replacement = f"{stripped} {_FLAGS[check.verdict]}{body[len(stripped) :]}"
        text = text[:start] + replacement + text[end:]
    text = re.sub(r"[ \t]+\n", "\n", re.sub(r"\n{3,}", "\n\n", text)).strip()
    return f"{text}\n\n{report.summary()}"
