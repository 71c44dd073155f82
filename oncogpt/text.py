"""Sentences: the one splitter that the reference checker, the engine and the corpus checks use;
the shared regex helpers (GatedPattern, lead, normalize); word lists, list literals and Markdown
tables.

Plain text helpers with no imports from the rest of OncoGPT, so that any stage may use them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

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


# --------------------------------------------------------------------------------------------
# Normalised text and fast regex matching, shared by the safety rules and the categorizer
# --------------------------------------------------------------------------------------------

_SPACES_RX = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case, unify quotes and whitespace so the lexicons stay simple."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    # Hyphens become spaces so "non-small-cell" and "non small cell" are one lexicon entry.
    text = text.replace("-", " ").replace("\u2010", " ").replace("\u2013", " ")
    return _SPACES_RX.sub(" ", text.lower()).strip()


def lead(heads: str, tail: str) -> str:
    """``lead("a|b", " x")`` = ``"a x|b x"``. Alternatives that each start with a literal let
    Python's regex engine skip ahead fast; a leading group, ``\\b`` or lookbehind is ~5x slower,
    so word-start checks are written as a lookbehind *after* the literal."""
    return "|".join(head + tail for head in heads.split("|"))


_REGEX_META = frozenset("\\()[].?*+{}^$|")


def _top_level_branches(pattern: str) -> list[str]:
    """Split ``pattern`` at the ``|`` that are outside groups and character classes."""
    branches, depth, in_class, escaped, start = [], 0, False, False, 0
    for i, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            branches.append(pattern[start:i])
            start = i + 1
    branches.append(pattern[start:])
    return branches


def literal_triggers(pattern: str) -> tuple[str, ...] | None:
    """Substrings of which every match of ``pattern`` contains one: the literal start of each
    top-level alternative. None when an alternative does not start with a literal (no gate)."""
    triggers = []
    for branch in _top_level_branches(pattern):
        run = ""
        for ch in branch:
            if ch in _REGEX_META:
                break
            run += ch
        if run and len(branch) > len(run) and branch[len(run)] in "?*{":
            run = run[:-1]  # the last literal is optional ("tumou?r")
        if not run:
            return None
        triggers.append(run)
    return tuple(dict.fromkeys(triggers))


@dataclass(frozen=True)
class GatedPattern:
    """A compiled regex with a cheap substring pre-check.

    Python's ``re`` scans long alternations slowly (several microseconds per pattern and
    text); ``str.__contains__`` on the literal starts is ~20x faster and rules out most
    patterns for a given text, which keeps the classifiers under 1 ms per text.
    """

    rx: re.Pattern[str]
    triggers: tuple[str, ...] | None

    @classmethod
    def compile(cls, pattern: str) -> GatedPattern:
        return cls(re.compile(pattern), literal_triggers(pattern))

    def may_match(self, text: str) -> bool:
        return self.triggers is None or any(t in text for t in self.triggers)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.rx.finditer(text) if self.may_match(text) else iter(())

    def search(self, text: str) -> re.Match[str] | None:
        return self.rx.search(text) if self.may_match(text) else None


# --------------------------------------------------------------------------------------------
# Word lists, list literals, Markdown tables
# --------------------------------------------------------------------------------------------


def word_set(words: str) -> frozenset[str]:
    """The whitespace-separated words of `words` as a set (the compact form of a word list)."""
    return frozenset(words.split())


def literal_list(text: str) -> list:
    """The items of a Python list literal (`"['a', 'b']"`, as CSV exports write lists); a
    ValueError saying what is wrong when `text` is not one."""
    try:
        items = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        raise ValueError("is not a valid list literal") from None
    if not isinstance(items, list | tuple):
        raise ValueError("is not a list")
    return list(items)


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a Markdown table; a "|" inside a cell is escaped so it cannot end the cell."""

    def row(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [row(header), "|" + "---|" * len(header), *(row(r) for r in rows)]
