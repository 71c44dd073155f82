"""Sentences: the one splitter that the reference checker, the engine and the corpus checks use.

Plain text helpers with no imports from the rest of OncoGPT, so that any stage may use them.
"""

from __future__ import annotations

import re

_ABBREVIATION_WORDS = "e.g i.e dr mr mrs ms vs approx fig no st etc al cf ca inc jr sr prof min max"
_ABBREVIATION_WORDS += " mt"
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_END = re.compile(r"[.!?]+[\"')\]]*\s+")
_LEADING_MARKERS = re.compile(r"(\s*\[\s*\d{1,3}(?:\s*[-–,;]\s*\d{1,3})*\s*\])+[.,;]?")
BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_REFERENCES = re.compile(r"^\s*(?:references|sources|reference check)\s*:", re.IGNORECASE)
# A sentence is finished when it closes with . ! ? (or their CJK forms), perhaps followed by a
# quote or bracket and citation markers; a span without one is a sentence still being written.
_CLOSED = re.compile(r"[.!?。！？…][\"'”’)\]]*(?:\s*\[[\d,\s-]+\])*\s*$")


def _ends_sentence(text: str, end: int, nxt: int) -> bool:
    """Whether the punctuation ending at `end` closes a sentence (not "e.g." or "12.5")."""
    word = re.search(r"(\S+)$", text[:end].rstrip(".!?\"')]"))
    if word and word.group(1).lower().strip("(") in _ABBREVIATIONS:
        return False
    return nxt >= len(text) or not text[nxt].islower()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; lines split too; markers after the period stay attached.

    Stops at a "References:" line, which lists sources rather than stating anything.
    """
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        if _REFERENCES.match(line):
            break
        start = offset
        for match in _END.finditer(line):
            if not _ends_sentence(line, match.start() + 1, match.end()):
                continue
            spans.append((start, offset + match.end()))
            start = offset + match.end()
        spans.append((start, offset + len(line)))
        offset += len(line)
    return _attach_markers(text, [s for s in spans if text[s[0] : s[1]].strip()])


def _attach_markers(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Move "[1]" that opens a span (written after the period) onto the previous sentence."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        lead = _LEADING_MARKERS.match(text, start, end)
        same_line = out and not text[out[-1][0] : out[-1][1]].endswith("\n")
        if lead and out and same_line:
            out[-1] = (out[-1][0], lead.end())
            start = lead.end()
        if text[start:end].strip():
            out.append((start, end))
    return out


def split_sentences(text: str) -> list[str]:
    return [text[a:b].strip() for a, b in sentence_spans(text)]


def finished_sentences_end(text: str) -> int | None:
    """Where the last finished sentence of `text` ends, whitespace after it excluded (None when
    no sentence is finished yet)."""
    last = None
    for start, end in sentence_spans(text):
        if _CLOSED.search(text, start, end):
            last = start + len(text[start:end].rstrip())
    return last


def trim_to_sentence(text: str) -> str:
    """`text` up to its last finished sentence; unchanged when it has none."""
    end = finished_sentences_end(text)
    return text[:end] if end else text
