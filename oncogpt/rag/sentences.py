"""Sentences for the reference checker: which state a claim, their words, passage windows.

`is_factual` tells a checkable sentence from a greeting, question, hedge or advice to see a
doctor; `content_words` and `overlap` give the lexical share of a sentence found in a passage,
`missing_items` the items of its lists that a passage lacks and `unsupported_clauses` its clauses
that a passage barely shares words with; `window_spans` are runs of consecutive passage sentences
and `lexical_window` the one sharing most words with a sentence. Splitting text into sentences is
`oncogpt.text`'s (the one splitter), not repeated here.

Imports nothing from `oncogpt.rag.check` (which imports this module), no numpy and no encoder;
the key terms come from `oncogpt.rag.terms`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from oncogpt.text import BULLET as _BULLET
from oncogpt.text import split_sentences, word_set

from .cite import strip_markers
from .terms import drugs, genes, numbers

# --------------------------------------------------------------------------------------------
# Lexical overlap and windows.

_STOP = word_set(
    """a an the and or but if of to in on at by for with from as is are was were be been being
    it its this that these those which who whom what when where why how can could may might
    will would should shall do does did done has have had having not no than then there their
    they them he she his her we our you your i me my also such very more most less many much
    some any each other into about over under after before during while both all only same so
    usually often typically generally"""
)


def _stem(word: str) -> str:
    """A crude suffix strip: enough to match "raises"/"raised"/"raise" or "treats"/"treated"."""
    for suffix in ("ations", "ation", "ments", "ment", "ingly", "ing", "ies", "ied", "es", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    else:
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def content_words(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", strip_markers(text).lower())
    return {_stem(w) for w in words if w not in _STOP and len(w) > 1}


def overlap(sentence: str, passage: str) -> float:
    """Share of the sentence's content words found in the passage (1.0 for an empty sentence)."""
    words = content_words(sentence)
    return len(words & content_words(passage)) / len(words) if words else 1.0


#: Where a list ("side effects include A, B, or C") divides into its items.
_ITEM_BREAK = re.compile(
    # never inside a hyphenated word: "acne-like", "flu-like" are one item
    r",|;|\(|\)|:|(?<![\w-])(?:or|and|such as|including|include|includes|like)(?![\w-])",
    re.IGNORECASE,
)
#: An item has at most this many content words; longer pieces are clauses, which the cosine
#: and the overlap judge.
_ITEM_WORDS = 4


def list_items(sentence: str) -> list[str]:
    """The short items of a sentence's lists: "thrush" in "risks include dry mouth, thrush,
    and tooth decay"."""
    plain = strip_markers(sentence)
    if plain.count(",") < 2 and not re.search(r"\b(?:or|and)\b", plain):
        return []
    return [
        piece.strip()
        for piece in _ITEM_BREAK.split(plain)
        if 1 <= len(content_words(piece)) <= _ITEM_WORDS and len(piece.split()) <= _ITEM_WORDS + 2
    ]


def missing_items(sentence: str, passage: str) -> list[str]:
    """List items of the sentence none of whose words the passage has: a passage that names
    every risk of dry mouth but thrush does not support a sentence that adds thrush. (Read on
    real answers: 15 of the 22 sentences the checker wrongly called supported, in
    resources/kb/support_real_cross.jsonl, added one such item.) A trade name counts as its
    drug: "(Gleevec)" is there when the passage says imatinib."""
    have, named = content_words(passage), drugs(passage)
    return [
        item
        for item in list_items(sentence)
        if not content_words(item) & have and not (drugs(item) and drugs(item) <= named)
    ]


#: Where a sentence divides into clauses that each state something: "...can be severe, so
#: patients are usually given loperamide".
_CLAUSE_BREAK = re.compile(r";|,\s*(?:and|so|but|while|which|because)\b", re.IGNORECASE)
#: Share of a clause's content words that the passage must have. The sentence's overall overlap
#: can hide one clause the passage never states. On the labelled real-output sets (cross and
#: support_real, support_eval's even rows), every supported sentence the checker accepted had
#: each clause at 0.71 or more, and four wrongly accepted ones had a clause at 0.57 or less.
CLAUSE_SHARE = 0.6


def clauses(sentence: str) -> list[str]:
    """The clauses of a sentence with at least three content words (none when it has one)."""
    pieces = [c.strip() for c in _CLAUSE_BREAK.split(strip_markers(sentence))]
    found = [c for c in pieces if len(content_words(c)) >= 3]
    return found if len(found) > 1 else []


def unsupported_clauses(sentence: str, passage: str, share: float = CLAUSE_SHARE) -> list[str]:
    """Clauses of the sentence less than `share` of whose content words the passage has:
    "chemotherapy may be delayed until platelets recover" added to what a passage on platelet
    transfusions says."""
    have = content_words(passage)
    return [
        c for c in clauses(sentence) if len(content_words(c) & have) / len(content_words(c)) < share
    ]


def window_spans(sentences: Sequence[str], size: int = 3) -> list[tuple[int, int]]:
    """(first, end) sentence indices of runs of 1..size consecutive sentences.

    A lone heading line ("Stomach cancer: treatment") is no evidence by itself: fragments under
    five words only appear joined to their neighbours.
    """
    spans = []
    for n in range(1, size + 1):
        for i in range(max(1, len(sentences) - n + 1)):
            words = sum(len(s.split()) for s in sentences[i : i + n])
            if words >= 5 or len(sentences) <= n:
                spans.append((i, min(i + n, len(sentences))))
    return spans or [(0, len(sentences))]


def lexical_window(sentence: str, passage: str, size: int = 1) -> str:
    """The run of 1-`size` passage sentences sharing most content words with the sentence (the
    shortest, then the first, on a tie): with the encoder's best window, the text that states
    the claim."""
    sents = split_sentences(passage) or [passage]
    words = content_words(sentence)
    shared = [words & content_words(s) for s in sents]
    a, b = max(
        window_spans(sents, size),
        key=lambda ab: (len(set().union(*shared[ab[0] : ab[1]])), ab[0] - ab[1]),
    )
    return " ".join(sents[a:b])


# --------------------------------------------------------------------------------------------
# Claims: sentences that state something checkable.

_QUESTION = re.compile(r"\?\s*(?:\[[\d,\s-]+\])?\s*$")
_NOT_FACTUAL = re.compile(
    r"^\s*(?:hi|hello|hey|dear|thanks?|thank you|welcome|good (?:morning|afternoon|evening)"
    r"|regards|best wishes|take care|sorry|i hope|hope this|glad|i understand|i am sorry)\b"
    r"|\b(?:i am not sure|i'm not sure|i do not know|i don't know|i cannot|i can't|not certain"
    r"|(?:passages?|knowledge base|sources?|context) (?:do|does|did)(?: not|n't)"
    r"|not (?:enough|sufficient) information|no information|not medical advice|research only"
    r"|not a substitute)\b"
    r"|\b(?:consult|see|talk (?:to|with)|speak (?:to|with)|contact|ask|visit|call|tell)\s+"
    r"(?:your|a|an|the)\s+(?:own\s+)?(?:doctor|physician|oncologist|care team|healthcare"
    r"|health care|medical team|specialist|gp|nurse|pharmacist|surgeon)"
    r"|\bseek (?:urgent |immediate |prompt )?medical\b|\bemergency (?:number|services|room)\b"
    r"|\bcall (?:911|112|999)\b",
    re.IGNORECASE,
)


def is_factual(sentence: str) -> bool:
    """Whether a sentence states something checkable (not a greeting, question, hedge, advice)."""
    plain = strip_markers(_BULLET.sub("", sentence))
    if _QUESTION.search(sentence) or len(plain.split()) < 3:
        return False
    has_terms = bool(numbers(plain) or drugs(plain) or genes(plain))
    return has_terms or not _NOT_FACTUAL.search(plain)
