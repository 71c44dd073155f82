"""Automated reference checking: does each cited passage support the sentence that cites it?

Each sentence of an answer gets a verdict:

- `supported`: it cites retrieved passages and they support it;
- `unsupported`: it cites passages that do not support it (a number, drug, gene or cancer name
  absent from them, or too little similarity);
- `bad_citation`: it cites a number that matches no retrieved passage;
- `uncited`: it states a fact without any citation;
- `not_factual`: greetings, questions, hedges, advice to see a doctor: nothing to check.

Support combines the encoder cosine between the sentence and the best-matching window of the
passage with the share of the sentence's content words found in the passage; key terms missing
from the passage count as strong evidence against. The thresholds were chosen on the even rows of
`resources/kb/support_eval.jsonl`; `python -m oncogpt.evaluate.checker --eval` reproduces
the figures.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from oncogpt.text import BULLET as _BULLET
from oncogpt.text import sentence_spans, split_sentences, word_set

from .cite import HitLike, citation_markers, strip_markers

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
# Key terms: numbers, drugs, genes, cancers. One missing from the passage is strong evidence.

# "one" is left out: it is mostly "one of the", not a count.
_NUMBER_WORDS = {
    word: n
    for n, word in enumerate(
        "two three four five six seven eight nine ten eleven twelve".split(),  # noqa: SIM905
        2,
    )
}
_UNIT = (
    r"%|percent|mg/m2|mg/m²|mg/kg|mg|mcg|µg|ng/ml|u/ml|iu|g/dl|mmol/l|kg|ml|gy|cm|mm|"
    r"years?|months?|weeks?|days?|hours?|cycles?|doses?|times|fold"
)
_NUMBER = re.compile(
    rf"(?<![\w.])(\d+(?:[.,]\d+)*)(?:\s*(?:-|to|–)\s*(\d+(?:[.,]\d+)*))?\s*({_UNIT})?(?![\w])",
    re.IGNORECASE,
)
_DRUG_SUFFIX = re.compile(
    r"\b[a-z]{3,}(?:mab|nib|platin|taxel|parib|lisib|ciclib|rubicin|mustine|tecan|trexate|"
    r"citabine|fosfamide|tinib|zomib|lidomide|relin|lutamide|rozole|estrant|mycin|"
    r"poside|blastine|cristine|azole|olimus|sertib|degib|clax|trexed|setron|pitant|dronate)\b"
)
KNOWN_DRUGS = word_set(
    """tamoxifen letrozole anastrozole exemestane fulvestrant raloxifene fluorouracil 5-fu
    capecitabine gemcitabine methotrexate cyclophosphamide doxorubicin epirubicin vincristine
    vinblastine vinorelbine etoposide temozolomide leucovorin oxaliplatin cisplatin carboplatin
    irinotecan topotecan folfox folfiri folfirinox paclitaxel docetaxel cabazitaxel imatinib
    lenalidomide thalidomide pomalidomide bortezomib rituximab trastuzumab pertuzumab bevacizumab
    cetuximab panitumumab pembrolizumab nivolumab atezolizumab durvalumab ipilimumab osimertinib
    gefitinib erlotinib afatinib alectinib crizotinib lorlatinib brigatinib sotorasib olaparib
    abiraterone enzalutamide bicalutamide leuprolide goserelin degarelix megestrol prednisone
    prednisolone dexamethasone hydroxyurea interferon interleukin bcg aspirin metformin
    ibuprofen acetaminophen paracetamol morphine oxycodone fentanyl ondansetron filgrastim
    pegfilgrastim zoledronic denosumab mitomycin bleomycin dacarbazine busulfan melphalan
    chlorambucil bendamustine fludarabine cytarabine azacitidine decitabine arsenic tretinoin
    everolimus sirolimus sunitinib sorafenib pazopanib regorafenib lenvatinib cabozantinib
    palbociclib ribociclib abemaciclib"""
)
KNOWN_GENES = word_set(
    """EGFR ALK ROS1 KRAS NRAS HRAS BRAF HER2 ERBB2 BRCA1 BRCA2 TP53 PIK3CA MET RET NTRK NTRK1
    NTRK2 NTRK3 PDL1 PD1 CTLA4 MSI MMR HPV EBV APC MLH1 MSH2 MSH6 PMS2 PTEN RB1 MYC BCR ABL
    BCRABL JAK2 FLT3 IDH1 IDH2 KIT PDGFRA CDK4 CDK6 ESR1 AR PSA CEA CA125 CA199 AFP HCG LDH
    CDKN2A SMAD4 ATM PALB2 CHEK2 NPM1 CEBPA TERT VHL NF1 NF2 WT1 ARID1A KEAP1 STK11 FGFR FGFR1
    FGFR2 FGFR3 HER3 TMB"""
)
_GENE_TOKEN = re.compile(r"\b([A-Z][A-Za-z]{0,5}(?:-?[A-Z0-9]{1,4})?(?:/[a-z]{2,4})?)\b")
_GENE_SYNONYMS = {"ERBB2": "HER2", "HER2NEU": "HER2", "PDL1": "PDL1", "BCRABL": "BCRABL"}
_CANCER_NAMES = word_set(
    "melanoma lymphoma leukemia leukaemia myeloma sarcoma glioma glioblastoma mesothelioma "
    "neuroblastoma retinoblastoma osteosarcoma hepatoblastoma medulloblastoma seminoma "
    "cholangiocarcinoma adenocarcinoma hodgkin mycosis"
)
_ORGANS = word_set(
    "lung breast colon colorectal rectal bowel prostate ovarian ovary cervical cervix uterine "
    "endometrial pancreatic pancreas liver hepatocellular stomach gastric esophageal oesophageal "
    "bladder kidney renal thyroid skin brain bone testicular head neck oral throat laryngeal "
    "nasopharyngeal anal vulvar penile blood adrenal"
)
#: Organs named on their own ("cells of the ovary"): a wrong organ is a wrong-cancer claim.
_ORGAN_NOUNS = word_set(
    "prostate ovary ovaries cervix lung lungs breast colon rectum pancreas kidney kidneys "
    "bladder stomach esophagus oesophagus uterus testicle testicles testes thyroid"
)
_ORGAN_SYNONYMS = {
    "colorectal": ("colorectal", "colon", "rectal", "bowel", "rectum"),
    "colon": ("colon", "colorectal", "bowel"),
    "rectal": ("rectal", "rectum", "colorectal"),
    "bowel": ("bowel", "colon", "colorectal"),
    "ovarian": ("ovarian", "ovary", "ovaries"),
    "ovary": ("ovarian", "ovary"),
    "cervical": ("cervical", "cervix"),
    "cervix": ("cervical", "cervix"),
    "uterine": ("uterine", "uterus", "endometrial"),
    "endometrial": ("endometrial", "uterine", "endometrium"),
    "pancreatic": ("pancreatic", "pancreas"),
    "pancreas": ("pancreatic", "pancreas"),
    "liver": ("liver", "hepatocellular", "hepatic"),
    "hepatocellular": ("hepatocellular", "liver"),
    "stomach": ("stomach", "gastric"),
    "gastric": ("gastric", "stomach"),
    "esophageal": ("esophageal", "oesophageal", "esophagus", "oesophagus"),
    "oesophageal": ("esophageal", "oesophageal", "esophagus", "oesophagus"),
    "kidney": ("kidney", "renal"),
    "renal": ("renal", "kidney"),
    "leukaemia": ("leukemia", "leukaemia"),
    "leukemia": ("leukemia", "leukaemia"),
    "testicular": ("testicular", "testis", "testes", "testicle"),
    "ovaries": ("ovarian", "ovary", "ovaries"),
    "lungs": ("lung", "pulmonary"),
    "lung": ("lung", "pulmonary"),
    "kidneys": ("kidney", "renal"),
    "rectum": ("rectal", "rectum", "colorectal"),
    "esophagus": ("esophageal", "oesophageal", "esophagus", "oesophagus"),
    "oesophagus": ("esophageal", "oesophageal", "esophagus", "oesophagus"),
    "uterus": ("uterine", "uterus", "endometrial", "endometrium"),
    "testicle": ("testicular", "testis", "testes", "testicle"),
    "testicles": ("testicular", "testis", "testes", "testicle"),
    "testes": ("testicular", "testis", "testes", "testicle"),
}
_CANCER_WORD = r"(?:cancers?|carcinomas?|tumou?rs?|neoplasms?|malignanc(?:y|ies))"


def _norm_number(raw: str) -> str:
    value = raw.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", raw) else raw
    value = value.replace(",", ".")
    return value[:-2] if value.endswith(".0") else value


def _unit(raw: str | None) -> str:
    unit = (raw or "").lower()
    return {"percent": "%", "mg/m²": "mg/m2"}.get(unit, unit.rstrip("s") if unit else "")


def numbers(text: str) -> dict[str, set[str]]:
    """Numbers in the text (values normalized), each with the units seen after it."""
    found: dict[str, set[str]] = {}
    text = strip_markers(text)
    for word, digit in _NUMBER_WORDS.items():
        text = re.sub(rf"\b{word}\b", str(digit), text, flags=re.IGNORECASE)
    for match in _NUMBER.finditer(text):
        unit = _unit(match.group(3))
        for raw in (match.group(1), match.group(2)):
            if raw:
                found.setdefault(_norm_number(raw), set()).add(unit)
    return found


def drugs(text: str) -> set[str]:
    low = text.lower()
    words = set(re.findall(r"[a-z][a-z0-9-]+", low))
    return {w for w in words if w in KNOWN_DRUGS} | set(_DRUG_SUFFIX.findall(low))


def _gene_key(token: str) -> str:
    key = re.sub(r"[-/]", "", token.upper())
    return _GENE_SYNONYMS.get(key, key)


def genes(text: str) -> set[str]:
    """Gene and marker names: the known list, or an upper-case token with a digit (BRCA1, CD20)."""
    found = set()
    for token in _GENE_TOKEN.findall(text):
        key = _gene_key(token)
        upper_with_digit = token.isupper() and any(c.isdigit() for c in token) and len(key) > 2
        if key in KNOWN_GENES and (token.isupper() or "-" in token) or upper_with_digit:
            found.add(key)
    return found


def cancers(text: str) -> set[str]:
    """Cancer sites and types: "lung" in "lung cancer", "melanoma", and small-cell subtypes."""
    low = text.lower()
    found = {n for n in _CANCER_NAMES if re.search(rf"\b{n}s?\b", low)}
    for organ in _ORGANS:
        if re.search(rf"\b{organ}\b(?:\s+[a-z-]+){{0,3}}\s+{_CANCER_WORD}", low):
            found.add(organ)
    found |= {organ for organ in _ORGAN_NOUNS if re.search(rf"\b{organ}\b", low)}
    if re.search(r"\bnon[- ]?small[- ]cell\b|\bnsclc\b", low):
        found.add("non-small cell")
    elif re.search(r"\bsmall[- ]cell\b|\bsclc\b", low):
        found.add("small cell")
    return found


def _present_cancer(term: str, passage_low: str) -> bool:
    if term == "non-small cell":
        return bool(re.search(r"\bnon[- ]?small[- ]cell\b|\bnsclc\b", passage_low))
    if term == "small cell":
        return bool(re.search(r"(?<!non-)(?<!non )(?<!non)\bsmall[- ]cell\b|\bsclc\b", passage_low))
    names = _ORGAN_SYNONYMS.get(term, (term,))
    return any(re.search(rf"\b{re.escape(n)}", passage_low) for n in names)


_ROMAN = {"0": 0, "i": 1, "ii": 2, "iii": 3, "iv": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_STAGE = re.compile(
    r"\bstages?\s+(0|iv|i{1,3}|[1-4])[abc]?\d?"
    r"(?:\s*(?:through|to|-|–|and|or)\s*(?:stage\s+)?(0|iv|i{1,3}|[1-4])[abc]?\d?)?\b",
    re.IGNORECASE,
)


def stages(text: str) -> set[str]:
    """Cancer stages mentioned, ranges expanded: "stages I through III" -> stage 1, 2, 3."""
    found = set()
    for match in _STAGE.finditer(text):
        low = _ROMAN[match.group(1).lower()]
        high = _ROMAN[match.group(2).lower()] if match.group(2) else low
        found |= {f"stage {n}" for n in range(low, max(low, high) + 1)}
    return found


def _stage_near(stage: str, passage: str) -> bool:
    """A stage written loosely: "stages range from 0 (in situ) through IV" names stage 0."""
    n = int(stage.split()[1])
    names = {str(n), ["0", "i", "ii", "iii", "iv"][n]}
    alternatives = "|".join(sorted(names))
    return bool(re.search(rf"\bstages?\b[^.;]{{0,40}}\b(?:{alternatives})\b", passage, re.I))


def missing_terms(sentence: str, passage: str) -> list[str]:
    """Key terms of the sentence that the passage never mentions."""
    missing: list[str] = []
    have = numbers(_STAGE.sub(" ", passage))
    for value, units in numbers(_STAGE.sub(" ", sentence)).items():
        seen = have.get(value)
        if seen is None or not (units - {""} <= seen or "" in seen):
            unit = next(iter(units - {""}), "")
            missing.append(f"{value} {unit}".strip())
    missing += [
        st for st in sorted(stages(sentence) - stages(passage)) if not _stage_near(st, passage)
    ]
    low = passage.lower()
    passage_drugs = drugs(passage)
    missing += [d for d in sorted(drugs(sentence)) if d not in passage_drugs and d not in low]
    passage_genes = genes(passage) | {_gene_key(w) for w in re.findall(r"[\w-]+", passage)}
    missing += [g for g in sorted(genes(sentence)) if g not in passage_genes]
    missing += [c for c in sorted(cancers(sentence)) if not _present_cancer(c, low)]
    return missing


# --------------------------------------------------------------------------------------------
# Conflicts: the passage mentions the same things but says something else about them.

_NEGATION = re.compile(r"\b(?:not|no|never|cannot|none|neither|nor|without)\b|n't\b", re.I)
_ABSOLUTE = re.compile(
    r"\b(?:always|never|all|every|everyone|everybody|entirely|completely|solely|exclusively"
    r"|guaranteed?|guarantees|certainly|no one|nothing)\b"
    r"|(?<!not )\bonly\b(?!\s+(?:after|when|if|a|an|one|about|rarely|sometimes|limited))",
    re.IGNORECASE,
)
_ANTONYMS = [
    tuple(pair.split("/"))
    for pair in (  # noqa: SIM905 - a word list reads better as one string
        "more/less more/fewer higher/lower high/low increase/decrease increases/decreases "
        "increased/decreased raise/lower raises/lowers many/few common/rare quickly/slowly "
        "fast/slow easier/harder aggressive/slow-growing benign/malignant much/little "
        "inner/outer upper/lower before/after early/late larger/smaller most/least "
        "better/worse positive/negative safe/unsafe above/below inside/outside"
    ).split()
]
_CLASS = re.compile(
    r"((?:[\w/-]+\s+){1,3}?)(?:receptor\s+)?(?:inhibitors?|antagonists?|blockers?|agonists?)\b",
    re.IGNORECASE,
)
_GENERIC = word_set(
    "a an the such as and or tyrosine kinase receptor checkpoint immune other some these drugs "
    "drug is are called include including with"
)
_CLAUSE = re.compile(r";|,\s*(?:while|whereas|but)\b|\bwhereas\b|(?<=[.!?])\s+")


def _targets(text: str) -> list[tuple[int, str]]:
    """(position, key) of what drugs act on: genes, and classes like "PARP inhibitor"."""
    found = [(m.start(), _gene_key(m.group(1))) for m in _GENE_TOKEN.finditer(text)]
    found = [(pos, key) for pos, key in found if key in genes(text)]
    for match in _CLASS.finditer(text):
        words = [w for w in match.group(1).split() if w.lower() not in _GENERIC]
        if words:
            found.append((match.start(1), _gene_key(words[-1])))
    return sorted(set(found))


def _passage_targets(drug: str, passage: str) -> set[str]:
    """What the passage says `drug` acts on: the nearest target before it in its clause, or
    the targets after it when none comes before ("trastuzumab ... against HER2")."""
    out: set[str] = set()
    for clause in _CLAUSE.split(passage):
        low = clause.lower()
        for match in re.finditer(rf"\b{re.escape(drug)}\b", low):
            targets = _targets(clause)
            before = [key for pos, key in targets if pos < match.start()]
            out |= {before[-1]} if before else {key for pos, key in targets if pos > match.end()}
    return out


def conflicts(sentence: str, passage: str, window: str) -> list[str]:
    """Ways the passage contradicts the sentence although it shares its words.

    A negation the best-matching window lacks, an absolute ("always", "only", "everyone") the
    passage never uses, an antonym where the window uses the opposite word, a drug tied to
    another target than the passage ties it to.
    """
    found: list[str] = []
    plain = strip_markers(sentence)
    if _NEGATION.search(plain) and not _NEGATION.search(window):
        found.append("a negation the matching passage text does not have")
    for word in dict.fromkeys(m.group(0).lower() for m in _ABSOLUTE.finditer(plain)):
        if not re.search(rf"\b{re.escape(word)}\b", passage, re.IGNORECASE):
            found.append(f"'{word}' absent from the passage")
    said, told = (
        set(re.findall(r"[a-z-]+", plain.lower())),
        set(re.findall(r"[a-z-]+", window.lower())),
    )
    for a, b in _ANTONYMS:
        for x, y in ((a, b), (b, a)):
            if x in said and x not in told and y in told:
                found.append(f"says '{x}' where the passage says '{y}'")
    claimed = {key for _, key in _targets(plain)}
    for drug in sorted(drugs(plain)) if claimed else []:
        acts_on = _passage_targets(drug, passage)
        if acts_on and not acts_on & claimed:
            found.append(f"the passage ties {drug} to {', '.join(sorted(acts_on))}")
    return found


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


def windows(passage: str, size: int = 3) -> list[str]:
    """Runs of 1..size consecutive sentences of the passage, as text."""
    sents = split_sentences(passage) or [passage]
    return list(dict.fromkeys(" ".join(sents[a:b]) for a, b in window_spans(sents, size)))


# --------------------------------------------------------------------------------------------
# Verdicts.

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


@dataclasses.dataclass
class Evidence:
    """What the checker measured for one sentence against its cited passages."""

    cosine: float  # sentence vs the best-matching window of 1-3 passage sentences
    overlap: float  # share of the sentence's content words found in the passages
    window: str
    missing: list[str]  # numbers, stages, drugs, genes, cancers the passages never mention
    conflicts: list[str]  # negation, absolute, antonym or drug-target mismatches


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


def is_factual(sentence: str) -> bool:
    """Whether a sentence states something checkable (not a greeting, question, hedge, advice)."""
    plain = strip_markers(_BULLET.sub("", sentence))
    if _QUESTION.search(sentence) or len(plain.split()) < 3:
        return False
    has_terms = bool(numbers(plain) or drugs(plain) or genes(plain))
    return has_terms or not _NOT_FACTUAL.search(plain)


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
        """Similarity, overlap, missing key terms and conflicts against the cited passages."""
        plain = strip_markers(sentence)
        joined = "\n".join(passages)
        cos, window = max(self.best_window(plain, p) for p in passages)
        return Evidence(
            cosine=cos,
            overlap=overlap(plain, joined),
            window=window,
            missing=missing_terms(plain, joined),
            conflicts=conflicts(plain, joined, window),
        )

    def features(self, sentence: str, passages: Sequence[str]) -> tuple[float, float, list[str]]:
        """(best window cosine, word overlap, problems: missing key terms and conflicts)."""
        ev = self.evidence(sentence, passages)
        return ev.cosine, ev.overlap, ev.missing + ev.conflicts

    def supports(self, cos: float, lex: float, problems: Sequence[str]) -> tuple[bool, float]:
        """(supported, combined score): no problem, and w*cosine + (1-w)*overlap >= support."""
        t = self.thresholds
        score = t.weight * cos + (1 - t.weight) * lex
        return (not problems and score >= t.support), score


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
    ok, score = scorer.supports(ev.cosine, ev.overlap, ev.missing + ev.conflicts)
    reasons = [f"not in the cited passage: {', '.join(ev.missing)}"] if ev.missing else []
    reasons += ev.conflicts
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
