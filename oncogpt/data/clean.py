"""Text normalization, boilerplate stripping, light grammar repair and quality filters."""

from __future__ import annotations

import re
import unicodedata

#: Mojibake seen when UTF-8 text was decoded as cp1252 (the common "broken unicode").
MOJIBAKE = {
    "â€™": "'",
    "â€˜": "'",
    "â€œ": '"',
    "â€\x9d": '"',
    "â€": '"',
    "â€“": "-",
    "â€”": "-",
    "â€¦": "...",
    "Ã©": "é",
    "Â ": " ",
    "Â": "",
}
PUNCT = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})

#: Greetings that open answers ("Hi, thanks for the query") — stripped, configurable.
DEFAULT_GREETINGS = (
    r"(?:hi|hello|hey|dear)(?: there| sir| madam| friend| patient)?[,.!]*\s*",
    r"(?:thanks?|thank you)(?: you)? (?:for|so much for) (?:the |your )?"
    r"(?:query|question|writing(?: in)?|asking|posting|using \w+(?: \w+)?|contacting us)"
    r"[^.!]*[.!]\s*",
    r"welcome to (?:chat ?doctor|oncogpt|healthcare ?magic)[^.!]*[.!]\s*",
    r"i (?:have )?(?:gone through|read|understand) your (?:query|question|concern)[^.!]*[.!]\s*",
)
#: Sign-offs that close answers ("Regards Dr. X", "Hope this helps").
DEFAULT_SIGNOFFS = (
    r"(?:best |kind |warm )?regards?[,.]?(?:\s+dr\.?\s*[\w. \[\]]+)?\s*$",
    r"(?:hope|i hope) (?:this|i have|that) (?:helps?|answered?|clears?)[^.!]*[.!]?\s*$",
    r"(?:take care|wish you (?:a )?good health|all the best)[^.!]*[.!]?\s*$",
    r"(?:feel free to|do not hesitate to|you can) (?:ask|write|contact)[^.!]*[.!]?\s*$",
    r"(?:chat ?doctor|oncogpt)\.?\s*$",
)


def compile_patterns(patterns: tuple[str, ...] | list[str], anchor: str) -> list[re.Pattern]:
    return [re.compile(anchor + p if anchor == "^" else p, re.IGNORECASE) for p in patterns]


def normalize_text(text: str) -> str:
    """Fix broken unicode, normalize width and quotes, collapse whitespace."""
    for bad, good in MOJIBAKE.items():
        if bad in text:
            text = text.replace(bad, good)
    text = unicodedata.normalize("NFKC", text).translate(PUNCT)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def strip_boilerplate(text: str, greetings: list[re.Pattern], signoffs: list[re.Pattern]) -> str:
    """Remove leading greetings and trailing sign-offs, repeatedly (they come in runs)."""
    changed = True
    while changed:
        changed = False
        for pattern in greetings:
            new = pattern.sub("", text, count=1).lstrip()
            if new != text and len(new) > 0:
                text, changed = new, True
        for pattern in signoffs:
            new = pattern.sub("", text, count=1).rstrip()
            if new != text and len(new) > 0:
                text, changed = new, True
    return text


def repair_grammar(text: str) -> str:
    """Light, safe fixes only: spacing around punctuation, a lone "i", sentence capitals."""
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?=[A-Za-z])", r"\1 ", text)
    text = re.sub(r"([.!?])(?=[A-Z][a-z])", r"\1 ", text)
    text = re.sub(r"([!?,;])\1+", r"\1", text)
    text = re.sub(r"(?<![\w.])i(?=['\s])", "I", text)
    text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text


NON_ANSWERS = re.compile(
    r"^(?:(?:please )?(?:consult|see|visit) (?:a|your) (?:doctor|physician|specialist)[^.]*\.?"
    r"|i (?:don't|do not) know\.?|no idea\.?|n/?a|ok(?:ay)?\.?|thanks?\.?)$",
    re.IGNORECASE,
)


def quality_problem(
    question: str, answer: str, min_chars: int, min_answer_words: int, max_chars: int
) -> str | None:
    """Why an exchange is not good enough to keep, or None."""
    if len(question.strip()) < min_chars:
        return "question_too_short"
    if len(answer.split()) < min_answer_words:
        return "answer_too_short"
    if len(question) + len(answer) > max_chars:
        return "too_long"
    if NON_ANSWERS.match(answer.strip()):
        return "non_answer"
    if answer.strip().lower() == question.strip().lower():
        return "answer_echoes_question"
    for text, name in ((question, "question"), (answer, "answer")):
        letters = sum(ch.isalpha() for ch in text)
        if letters / max(1, len(text)) < 0.5:
            return f"{name}_not_language"
    return None
