"""Rule/lexicon-based categorisation of oncology conversations.

Three offline, fast (about 0.5 ms of CPU per conversation) classifiers that describe and
filter data:

* oncology relevance: is the conversation about cancer at all (weighted lexicon);
* category: ``research`` (understanding: diagnosis, results, staging, prognosis, causes) versus
  ``therapeutic`` (what to do: treatment choice, drugs, side effects, care);
* site: the primary cancer site (or organ of concern) of the conversation.

The lexicons are written for the phrasing of the OncoGPT data: machine-translated Chinese
consultations ("lung adenocarcinoma", "cardia", "turned into lung") and HealthCareMagic-style
English questions. Research use only, never clinical use.

``oncogpt eval rules`` measures them on the public labels' held-out half.

Why the category stays with the rules (measured 2026-12-03): a learned head, a softmax over the
question's MiniLM embedding plus ``tanh(cue score / 2)`` for both cues, fitted on the even half
(threshold 0.25 chosen by 5-fold out-of-fold accuracy, 0.916 there; adding the written corpus's
category labels lowered it to 0.83-0.87), reached 0.836 on the held-out odd half against the
rules' 0.840: it sent 37 of 67 research questions to therapeutic. The embedding alone reached
0.864 out of fold. Neither generalises past the rules, so the rules decide and no head ships.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from oncogpt.text import GatedPattern, lead, normalize

SITES: tuple[str, ...] = (
    "lung",
    "breast",
    "colorectal",
    "esophageal",
    "liver",
    "cervical",
    "head_neck",
    "gastric",
    "pancreatic",
    "thyroid",
    "ovarian",
    "prostate",
    "uterine",
    "bone_soft_tissue",
    "kidney",
    "nasopharyngeal",
    "skin",
    "lymphoma",
    "brain",
    "bladder",
    "leukemia",
    "other",
    "none",
)
CATEGORIES: tuple[str, ...] = ("research", "therapeutic")


# --------------------------------------------------------------------------------------------
# Fast regex matching
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# Oncology relevance
# --------------------------------------------------------------------------------------------

# Weighted cancer lexicon. "benign" is deliberately absent: "benign prostatic hyperplasia" or
# "benign positional vertigo" are general medicine; a benign-vs-malignant question still scores
# through "malignant". "tumor" alone is weaker than "cancer" (fibroid, "tumor" of the brain in
# general dialogues) but still a strong hint.
ONCOLOGY_LEXICON: dict[str, float] = {
    # "malignant hypertension" is a blood-pressure emergency, not a cancer
    r"cancer|carcinoma|malignan(?!t hypertension)|metasta|oncolog|neoplas|sarcoma|lymphoma|"
    r"leuk(?:a)?emia": 2.0,
    r"melanoma|myeloma|blastoma|glioma|mesothelioma|seminoma|hodgkin": 1.5,
    r"chemo|radiotherapy|radiation therapy|immunotherapy|targeted therapy|targeted drug": 1.5,
    r"tumor|tumour|space occupying|gamma knife|palliative|hospice|remission|recurrence": 1.0,
    r"tinib\b|mab\b|platin\b|taxel\b|pemetrexed|gemcitabine|capecitabine|xeloda|herceptin": 1.0,
    r"tamoxifen|letrozole|anastrozole|mastectomy|lobectomy|gastrectomy|colectomy": 1.0,
    r"stage (?:i{1,3}v?|iv|[1-4])[abc]?\b|t\d ?n\d ?m\d": 1.0,
    r"egfr|her2|brca|pd l?1\b|cea\b|afp\b|psa\b|ca ?125|ca ?19 ?9": 0.7,
    r"biopsy|patholog|pet ?ct|lump|nodule|cysts?\b|mass\b": 0.5,
}
# Raw weighted sum needed to call a conversation oncological (about one "cancer" word plus a
# little context, or two clear cancer words).
ONCOLOGY_THRESHOLD = 2.0
# The answer counts less than the question: doctors often "rule out cancer" in general medicine.
ANSWER_WEIGHT = 0.35
_ONCOLOGY_RX: tuple[tuple[GatedPattern, float], ...] = tuple(
    (GatedPattern.compile(pattern), weight) for pattern, weight in ONCOLOGY_LEXICON.items()
)
# A single occurrence saturates per pattern family beyond this count, so one long list of lump
# descriptions does not make a dermatology question oncological.
_MAX_HITS_PER_PATTERN = 3


def oncology_raw_score(text: str) -> float:
    """Weighted count of cancer lexicon hits in already normalised ``text``."""
    total = 0.0
    for rx, weight in _ONCOLOGY_RX:
        hits = sum(1 for _ in rx.finditer(text))
        total += weight * min(hits, _MAX_HITS_PER_PATTERN)
    return total


def _oncology_score(question: str, answer: str) -> float:
    return oncology_raw_score(question) + ANSWER_WEIGHT * oncology_raw_score(answer)


# --------------------------------------------------------------------------------------------
# Category: research (understand) vs therapeutic (act)
# --------------------------------------------------------------------------------------------

_SUBJ = r"(?:i|he|she|we|they|it|you|my \w+|the patient|patients?|this|that)"


# Research cues: prognosis, diagnosis, interpretation of results, causes.
RESEARCH_CUES: dict[str, float] = {
    # prognosis
    rf"how long (?:can|will|could|would|does|do) {_SUBJ}(?: \w+)? (?:live|survive|last)": 3.0,
    r"how long (?:can|will) (?:life|survival) be|time ?frame|how much time": 3.0,
    r"life expectancy|survival (?:rate|time|period)|prognosis|cure rate|5 year|five year": 2.0,
    rf"can {_SUBJ}(?: \w+)?(?: still)? be cured|curable": 3.0,
    r"possibility of (?:a )?cure|chance of (?:a )?(?:cure|survival|recovery)|cure possible": 3.0,
    r"incurable|turnaround|full recovery|fully recover|how hopeful|any hope\b": 2.0,
    # diagnosis / is it cancer / staging
    lead(
        "is|was|are",
        r" (?:it|this|that|these|they|[\d.*x]+ ?(?:cm|mm)?) (?:a |an )?(?:\w+ )?"
        r"(?:cancer|cancerous|tumou?r|malignant|benign|disease)",
    ): 3.0,
    lead(
        "could|can|may|might|will",
        r" (?:it|this|that|these|they)(?: \w+)? (?:be|mean|indicate|become)",
    ): 3.0,
    lead(
        "is|are",
        r" (?:this|that|these|the|my|his|her) (?:lump|nodule|mass|shadow|spot|growth|cyst|lesion)"
        r"s?(?: \w+){0,4} (?:a |an )?(?:cancer|cancerous|malignant|benign|tumou?r)",
    ): 3.0,
    lead(
        "do|does|did",
        rf" {_SUBJ} (?:\w+ ){{0,2}}(?:have|has) (?:\w+ ){{0,3}}"
        r"(?:cancer|tumou?r|leuka?emia)",
    ): 3.0,
    r"how likely|what are the (?:chances|odds)|chances? (?:of|that)|risk of|"
    r"at (?:higher )?risk": 2.0,
    r"become (?:cancer|malignant)|turn (?:into )?(?:cancer|malignant)|cancer ?related": 2.0,
    r"benign or (?:malignant|not)|malignant or benign|"
    r"is (?:it|this) (?:serious|dangerous|rare)": 2.0,
    r"what stage|which (?:stage|period)|"
    + lead("in the|at the", r" (?:late|advanced|early|terminal) stage\?"): 2.0,
    lead("has|have|did", r" (?:it|the cancer|the tumou?r) (?:spread|metasta\w*|transferred)"): 2.0,
    lead(
        "is|has", r" (?:it|this|that) (?:a |an |been )?(?:metasta\w*|recurrence|relapse|spread)"
    ): 2.0,
    r"cause (?:\w+ )?(?:to )?(?:relapse|recur\w*|cancer)|easy to (?:relapse|recur)": 2.0,
    # results / causes / meaning
    r"reason|what caus|cause of|causes of|why\b|how could|what's the situation|"
    r"what is the situation|come back|came back": 2.0,
    r"what (?:does|do) (?:this|these|it|that|the \w+) (?:mean|indicate)|"
    r"what (?:it|this) (?:is|might be|may be|could be)": 2.0,
    lead("do|does", r" (?:this|these|it)(?: \w+)? (?:indicate|mean|show)")
    + r"|related to|is (?:it|this) related|any problems?|anything to worry|worry about": 2.0,
    lead("connection|relation|relationship|link|linked", r" (?:between|with|to)"): 1.5,
    r"getting (?:better|worse)|get (?:better|worse)|"
    r"is (?:it|the condition) (?:better|improving)": 2.0,
    r"what happened|is (?:this|that|it) (?:true|possible|normal)|what to expect|accurate": 1.5,
    r"effect (?:\w+ ){0,4}(?:is|was) not|drug resistance|resistant|signs? of": 1.5,
    # worry about having cancer, work-up (tests are part of understanding the disease)
    lead(
        "worried|worry|scared|afraid|concerned|paranoid|fear",
        r"\w* (?:\w+ ){0,6}(?:cancer|malignan\w*|tumou?r)",
    )
    + "|"
    + lead("if|whether", r" (?:\w+ ){0,4}(?:cancer|malignant)\b"): 2.0,
    lead("other|more|further|any|genetic", r" (?:tests?|testing|examinations?|checks?)")
    + "|tested for|screening|"
    + lead("high|what|any", r" (?:possibility|probability|likelihood)\b"): 2.0,
}

# Therapeutic cues: treatment choice, drugs, dose, side effects, symptom relief, daily care.
THERAPEUTIC_CUES: dict[str, float] = {
    r"what (?:kind of |type of |other |good |better )?(?:medicines?|drugs?|treatments?|"
    r"medications?|creams?|pain meds)": 3.0,
    r"how (?:to|should|can|do|could) (?:\w+ ){0,3}(?:treat|deal|adjust|relieve|alleviate|"
    r"prolong|proceed|prescribe|take)": 3.0,
    r"what (?:should|can|could|shall) (?:i|we|he|she|they|our \w+) do|what to do|next step": 3.0,
    r"is there any (?:\w+ ){0,3}(?:way|method|medicine|drug|treatment|solution|option)": 3.0,
    lead(
        "any|other|better|good", r" (?:\w+ )?(?:treatments?|methods|options?|solutions?|ways?)\b"
    ): 2.0,
    lead(
        "can|could|should|may|must",
        r" (?:i|he|she|we|they|my \w+|the patient) (?:still )?"
        r"(?:take|use|eat|have|do|stop|continue|change|undergo|inject|try|drink|go|get)\b",
    ): 2.5,
    # ... but not "do I need other tests", which is work-up (research)
    lead(
        "do i|does he|does she|do we|do they|does it|is it necessary|need to take|need to use|"
        "need to do|need to have",
        r"(?: need)?(?! (?:to )?(?:do |have |be )?(?:\w+ )?"
        r"(?:tests?|tested|examinations?|checks?|scans?))",
    ): 2.5,
    r"should (?:i|he|she|we|they)|surgery or\b|chemotherapy or\b|radiotherapy or\b|"
    r"medicine or\b": 2.0,
    r"side effect|adverse reaction|adverse effect|toxicity|reaction to|reactions to": 2.0,
    # "suppress\b" so "bone marrow suppression" (a narrative of past events) does not count
    r"relieve|alleviate|reduce|control|suppress\b|prevent|improve|relief": 1.5,
    r"recommend|suggestion|advice|advise|prescri|dose\b|dosage|regimen|plan\b|scheme": 1.5,
    r"traditional chinese medicine|chinese medicine|tcm\b|herbal|decoction|conditioning": 1.0,
    r"can (?:\w+ ){1,3}cure|cured (?:by|with)|"
    + lead("is|are", r" (?:\w+ ){0,2}(?:effective|useful|meaningful|feasible|suitable)"): 1.5,
    r"what (?:is|are) the effect|how effective|what (?:is|are) the advantages?": 1.5,
    r"diet|nutrition|eat\b|care for|nursing|pay attention|hospital(?:ized|isation)?\b": 0.7,
    r"treat|therapy|medicine|drugs?\b|surgery|operation|chemotherapy|radiotherapy": 0.5,
}

_RESEARCH_RX = tuple((GatedPattern.compile(p), w) for p, w in RESEARCH_CUES.items())
_THERAPEUTIC_RX = tuple((GatedPattern.compile(p), w) for p, w in THERAPEUTIC_CUES.items())
# Narrative sentences ("he had chemotherapy in May") describe history rather than the request,
# so cues there count much less than in the sentences that actually ask something.
NARRATIVE_WEIGHT = 0.1
# A full stop between digits ("2.4*1.8 cm") does not end a sentence.
_SENTENCE_RX = re.compile(r"(?:[^.?!;\n]|\.(?=\d))+[.?!;\n]*")
# A sentence asks when it has a question mark, opens like a question, or carries a request.
_ASK_START_RX = re.compile(
    r"\W*(?:\d\W*)?(?:how|what|which|why|whether|is|are|was|can|could|should|do|does|did|"
    r"will|would|may|must|any|if)\b"
)
_ASK_WORD_RX = re.compile(
    r"ask|wonder|want to know|would like to know|please|help|advi[cs]e|consult|excuse me|seek"
)


def _asks(sentence: str) -> bool:
    return (
        "?" in sentence
        or _ASK_START_RX.match(sentence) is not None
        or _ASK_WORD_RX.search(sentence) is not None
    )


def _sentences(text: str) -> list[tuple[int, int, bool]]:
    """Sentence spans (start, end, asks); the last sentence always counts as asking."""
    out = [
        (m.start(), m.end(), _asks(m.group(0)))
        for m in _SENTENCE_RX.finditer(text)
        if m.group(0).strip(" .,")
    ]
    if out:
        out[-1] = (out[-1][0], out[-1][1], True)
    return out


def _cue_score(text: str, sentences: Sequence[tuple[int, int, bool]], cues: Sequence) -> float:
    """Sum of cue weights, each cue counted once per sentence, narrative sentences discounted.

    One ``finditer`` per cue over the whole text (then a bisect to find the sentence) is much
    faster than searching every sentence with every cue.
    """
    starts = [start for start, _, _ in sentences]
    total = 0.0
    for rx, weight in cues:
        seen: set[int] = set()
        for m in rx.finditer(text):
            k = bisect_right(starts, m.start()) - 1
            if k < 0 or k in seen:
                continue
            seen.add(k)
            total += weight * (1.0 if sentences[k][2] else NARRATIVE_WEIGHT)
    return total


def category_scores(question: str) -> dict[str, float]:
    """Research and therapeutic cue scores of an already normalised question."""
    sentences = _sentences(question)
    return {
        "research": _cue_score(question, sentences, _RESEARCH_RX),
        "therapeutic": _cue_score(question, sentences, _THERAPEUTIC_RX),
    }


def _decide_category(scores: dict[str, float]) -> str:
    # Therapeutic needs a "what to do" cue that outweighs the research cues. A question with no
    # cue at all, or as many of each, asks to understand ("I found a lump...", "my PSA is 6.5"):
    # research. On the public labels' even half all 5 such questions are research, although
    # therapeutic is the majority class (73%).
    return "therapeutic" if scores["therapeutic"] > scores["research"] else "research"


# --------------------------------------------------------------------------------------------
# Site
# --------------------------------------------------------------------------------------------

# Cancer words that turn an organ mention into a strong cue ("lung [squamous cell] carcinoma");
# "anti-cancer drugs" after "oral" must not make an oral cancer.
_CA = (
    r"(?<!anti )(?:cancer\w*|carcinoma\w*|adenocarcinoma\w*|tumou?rs?\b|malignan\w*|ca\b|neoplasm)"
)
# Up to two words between an organ and its cancer word ("lung squamous cell carcinoma"), but
# not across a preposition: "nodules in both lungs after breast cancer" is not a lung cancer.
_GAP = r"(?: (?!(?:after|before|from|with|and|or|of|to|in|on|for|by|following|the)\b)\w+){0,2}"
_CA_HEADS = "cancer|carcinoma|adenocarcinoma|tumor|tumour|malignancy|neoplasm"


def _entries(entries: str) -> tuple[str, ...]:
    """``"a|b c|d*"`` -> ``("a", "b c", "d*")``: keeps the lexicon tables compact."""
    return tuple(entries.split("|")) if entries else ()


@dataclass(frozen=True)
class SiteLexicon:
    """Lexicon of one site. Entries are lower-case literals matched from a word start; a
    trailing ``*`` lets the word continue ("esophag*" = esophagus, esophageal), otherwise only a
    plural ``s``/``es`` may follow. Hyphens are spaces after normalisation ("non small cell")."""

    organs: tuple[str, ...] = ()  # "<organ> [up to two words] <cancer word>" is a strong cue
    terms: tuple[str, ...] = ()  # strong on their own: subtypes, site-specific drugs, surgery
    weak: tuple[str, ...] = ()  # anatomy that only hints at the site (organs count here too)


def _site(organs: str = "", terms: str = "", weak: str = "") -> SiteLexicon:
    return SiteLexicon(_entries(organs), _entries(terms), _entries(weak))


SITE_LEXICON: dict[str, SiteLexicon] = {
    "lung": _site(
        "lung|pulmonary|bronch*|lobe|pleura*",
        "nsclc|sclc|non small cell|small cell lung|small cell carcinoma|lung squamous|"
        "lung sarcomatoid|lung neuroendocrine|lung large cell|central lung|peripheral lung|"
        "mesothelioma|lobectomy|"
        # drugs and driver genes that are (almost) only used for lung cancer
        "gefitinib|iressa|icotinib|osimertinib|tagrisso|erlotinib|tarceva|afatinib|crizotinib|"
        "alectinib|almonertinib|aumolertinib|ensartinib|pemetrexed|anlotinib|egfr|alk|ros1",
        "hilar|hilum|mediastin*|cough*|sputum|hemoptysis",
    ),
    "breast": _site(
        "breast|mammary",
        "ductal carcinoma|lobular carcinoma|triple negative|mastectomy|lumpectomy|herceptin|"
        "trastuzumab|pertuzumab|tamoxifen|letrozole|anastrozole|exemestane|her2|brca*|"
        "breast nodule|breast lump|breast mass|latissimus dorsi",
        "armpit|axilla*|nipple|mammogram*",
    ),
    "colorectal": _site(
        "colon|colorectal|rectal|rectum|bowel|intestin*|sigmoid",
        "colostomy|colectomy|ostomy|folfox|folfiri|xelox|oxaliplatin|cetuximab|bevacizumab|"
        "avastin|rectum",
        "colonoscopy|stool|anus|anal",
    ),
    # "cardia/cardiac cancer" is the translation of gastric-cardia cancer, grouped with the
    # esophagus in Chinese practice
    "esophageal": _site(
        "esophag*|oesophag*|cardia|cardiac|gastroesophageal",
        "esophagectomy|esophageal|oesophageal",
        "swallow*",
    ),
    "liver": _site(
        "liver|hepat*",
        "hcc|afp|alpha fetoprotein|sorafenib|lenvatinib|tace",
        "alt|ast|transaminase*|ferritin",
    ),
    "cervical": _site(
        "cervical|cervix", "cin1|cin2|cin3|cin 1|cin 2|cin 3|pap smear|colposcopy|hpv"
    ),
    "head_neck": _site(
        "laryn*|throat|oral|tongue|mouth|pharyn*|hypopharyn*|tonsil*|parotid|salivary|"
        "head and neck|gum|lip",
        "laryngectomy|chewing tobacco|oral lesion|oral sore",
        "hoarse*|jaw",
    ),
    "gastric": _site(
        "gastric|stomach", "gastrectomy|signet ring|h pylori|h. pylori", "gastroscopy|endoscopy"
    ),
    "pancreatic": _site("pancrea*", "whipple|ampulla*"),
    "thyroid": _site(
        "thyroid", "papillary carcinoma|papillary thyroid|thyroidectomy|thyroid nodule"
    ),
    "ovarian": _site("ovar*", "ca125|ca 125|teratoma|oophorectomy|oopherectomy", "pelvic"),
    "prostate": _site("prostat*", "psa|gleason|goserelin|bicalutamide|abiraterone"),
    "uterine": _site("endometri*|uter*|womb", "hysterectomy|choriocarcinoma"),
    "bone_soft_tissue": _site(
        "bone|soft tissue",
        "sarcoma|osteosarcoma|chondrosarcoma|liposarcoma|rhabdomyosarcoma|ewing|giant cell tumor",
        "thigh|knee|wrist",
    ),
    "kidney": _site("kidney|renal", "nephrectomy|renal cell"),
    "nasopharyngeal": _site("nasal|nose", "nasopharyn*"),
    "skin": _site("skin|sweat gland", "melanoma|basal cell|mole", "scalp"),
    "lymphoma": _site(terms="lymphoma|hodgkin*|non hodgkin*"),
    "brain": _site(
        "brain",
        "glioma|glioblastoma|astrocytoma|meningioma|medulloblastoma",
        "intracranial",
    ),
    "bladder": _site("bladder|ureter*|urothelial", "cystoscopy|urothelial", "hematuria|urin*"),
    "leukemia": _site(terms="leukemia|leukaemia|aml|cll|cml|myeloma", weak="blood cancer"),
    # sites outside the list; the organ names alone are weak ("spleen ... appear normal")
    "other": _site(
        "gallbladder|gall bladder|spleen|splenic|testic*|testis|adrenal|thym*|penile|vulvar|"
        "vaginal|bile duct|biliary|appendix|small intestine|duoden*",
        "cholangiocarcinoma|testic*|testis|thymoma",
    ),
}
# Sites whose organ words are only counted as weak: "cervical" also means the neck (cervical
# spine, cervical lymph nodes), so only "cervical ... cancer" or the cervix itself counts.
_WEAK_EXCLUDED_ORGANS = {"cervical": ("cervical",), "esophageal": ("cardiac",)}

STRONG_WEIGHT = 3.0
# A lesion in an organ ("a nodule in the right lung", "thyroid nodule") names the organ of
# concern even when nobody has said "cancer" yet.
LESION_WEIGHT = 1.5
WEAK_WEIGHT = 0.5
# The primary is usually named first ("lung cancer with brain metastases").
FIRST_STRONG_BONUS = 1.5
# Organs named as metastasis targets ("lung metastases", "spread to the lungs") are not the
# primary: their mentions count only this much.
METASTASIS_DISCOUNT = 0.1
# Below this best score the conversation names no site: "none".
SITE_MIN_SCORE = 1.4

# Metastasis zones: the organ named right before "metastasis" or after "spread to" etc.
_TARGET = (
    r"(?:lungs?|pulmonary|liver|hepatic|brain|intracranial|bones?|bone marrow|lymph nodes?|"
    r"pleura\w*|adrenal|kidneys?|spine|skull|peritone\w*|abdomin\w*|chest)"
)
_MET_ZONE_RX = re.compile(
    rf"(?:(?:{_TARGET})(?: and | or |, ?)?){{1,4}} ?(?:metasta\w*|transfers?|spread)"
    rf"|(?:metasta\w*|spread\w*|transferr?\w*|turned|invad\w*|moved|involv\w*|recurr\w*)"
    rf" (?:\w+ ){{0,2}}(?:to|into|in|on)\b[^.;]{{0,60}}"
    rf"|metasta\w* (?:in|on|of) (?:the |both )?[^.;]{{0,30}}"
)
# Words without which no metastasis zone can exist (cheap substring gate before the regex).
_MET_GATE = ("metasta", "transfer", "spread", "turned", "invad", "moved", "involv", "recurr")
_LESION_HEADS = "nodule|lump|mass|cyst|shadow|lesion|space occupying"
_LESION = r"(?:nodules?|lumps?|mass(?:es)?|cysts?|shadows?|lesions?|space occupying)"


def _entry_branches(entries: Iterable[str], tail: str = "") -> list[str]:
    """One regex branch per lexicon entry (see :class:`SiteLexicon`), followed by ``tail``.

    Each branch starts with its literal and checks the word start with a lookbehind placed
    *after* it: literal-led alternations are several times faster in Python's ``re`` than a
    leading ``\\b`` or group."""
    branches = []
    for entry in entries:
        word = re.escape(entry.rstrip("*"))
        end = r"\w*" if entry.endswith("*") else r"(?:e?s)?\b"
        branches.append(rf"{word}(?<![a-z0-9]{word}){end}{tail}")
    return branches


@dataclass(frozen=True)
class _SiteMatcher:
    gate: tuple[str, ...]  # substrings, one of which must occur for any cue to match
    strong: re.Pattern[str] | None
    lesion: re.Pattern[str] | None
    weak: re.Pattern[str] | None


def _compile_branches(branches: Sequence[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(branches)) if branches else None


def _build_matcher(site: str, lex: SiteLexicon) -> _SiteMatcher:
    excluded = _WEAK_EXCLUDED_ORGANS.get(site, ())
    organs = [e for e in lex.organs if e not in excluded]
    organ_alt = "|".join(_entry_branches(organs))
    lesion = _entry_branches(organs, rf"{_GAP} {_LESION}")
    if organs:
        lesion += [
            rf"{head}(?:s|es)? (?:in|on|of) (?:(?:my|his|her|the|both|left|right|upper|lower) )*"
            rf"(?:{organ_alt})"
            for head in _LESION_HEADS.split("|")
        ]
    strong = _entry_branches(lex.organs, rf"{_GAP} {_CA}") + _entry_branches(lex.terms)
    if lex.organs:  # "cancer of the esophagus", "tumor in the left lung"
        strong += [
            rf"{head}\w* (?:of|in) (?:the |his |her |my |(?:left|right) )*"
            rf"(?:{'|'.join(_entry_branches(lex.organs))})"
            for head in _CA_HEADS.split("|")
        ]
    return _SiteMatcher(
        gate=tuple(e.rstrip("*") for e in lex.organs + lex.terms + lex.weak),
        strong=_compile_branches(strong),
        lesion=_compile_branches(lesion),
        weak=_compile_branches(_entry_branches(organs + list(lex.weak))),
    )


# Matching every site regex against every text would cost more than 1 ms per conversation;
# the substring gate skips the sites whose words do not occur at all (most of them).
_SITE_MATCHERS: dict[str, _SiteMatcher] = {
    s: _build_matcher(s, lx) for s, lx in SITE_LEXICON.items()
}
_NO_POSITION = 10**9


def _in_spans(pos: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(start <= pos < end for start, end in spans)


def _site_hits(text: str) -> tuple[dict[str, float], str | None]:
    """Per-site scores of one text and the site of the first strong non-metastatic hit."""
    spans = []
    if any(g in text for g in _MET_GATE):
        spans = [m.span() for m in _MET_ZONE_RX.finditer(text)]
    strong: dict[str, float] = {}
    lesion: dict[str, float] = {}
    weak: dict[str, float] = {}
    first: tuple[int, str | None] = (_NO_POSITION, None)
    for site, matcher in _SITE_MATCHERS.items():
        if not any(g in text for g in matcher.gate):
            continue
        for rx, found in ((matcher.strong, strong), (matcher.lesion, lesion), (matcher.weak, weak)):
            for m in rx.finditer(text) if rx is not None else ():
                in_met = _in_spans(m.start(), spans)
                found[site] = found.get(site, 0.0) + (METASTASIS_DISCOUNT if in_met else 1.0)
                if found is strong and not in_met and m.start() < first[0]:
                    first = (m.start(), site)
    return _combine_tiers(strong, lesion, weak), first[1]


def _combine_tiers(
    strong: dict[str, float], lesion: dict[str, float], weak: dict[str, float]
) -> dict[str, float]:
    """Weighted sum of the cue tiers. A lesion elsewhere in a patient with a named cancer
    ("gastric cancer ... nodules in both lungs") is most likely a metastasis or incidental, so
    lesions count fully only when no other site has a strong cue."""
    scores: dict[str, float] = {}
    for site in strong.keys() | lesion.keys() | weak.keys():
        other_named = any(v >= 1.0 for s, v in strong.items() if s != site)
        lesion_weight = WEAK_WEIGHT if other_named else LESION_WEIGHT
        scores[site] = (
            STRONG_WEIGHT * strong.get(site, 0.0)
            + lesion_weight * lesion.get(site, 0.0)
            + WEAK_WEIGHT * weak.get(site, 0.0)
        )
    return scores


def site_scores(question: str, answer: str = "") -> dict[str, float]:
    """Score every site on normalised text; the question counts fully, the answer a third."""
    scores: dict[str, float] = {}
    for text, weight in ((question, 1.0), (answer, 1.0 / 3.0)):
        hits, first_site = _site_hits(text)
        for site, score in hits.items():
            scores[site] = scores.get(site, 0.0) + weight * score
        if first_site is not None:
            scores[first_site] += weight * FIRST_STRONG_BONUS
    return scores


def _decide_site(scores: dict[str, float]) -> str:
    if not scores:
        return "none"
    best = max(scores, key=lambda s: (scores[s], -SITES.index(s)))
    return best if scores[best] >= SITE_MIN_SCORE else "none"


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Categorization:
    """Result of :func:`categorize`.

    ``scores`` holds ``oncology``, ``research``, ``therapeutic`` and ``site:<name>`` for every
    site with a non-zero score, so callers can apply their own thresholds.
    """

    oncology: bool
    oncology_score: float
    category: str
    site: str
    scores: dict[str, float]


def categorize(question: str, answer: str = "") -> Categorization:
    """Categorise one conversation (patient question and optional doctor answer)."""
    q, a = normalize(question), normalize(answer)
    onco = _oncology_score(q, a)
    cat_scores = category_scores(q)
    s_scores = site_scores(q, a)
    scores = {"oncology": onco, **cat_scores}
    scores.update({f"site:{s}": round(v, 4) for s, v in s_scores.items()})
    return Categorization(
        oncology=onco >= ONCOLOGY_THRESHOLD,
        oncology_score=onco,
        category=_decide_category(cat_scores),
        site=_decide_site(s_scores),
        scores=scores,
    )
