"""Key terms and contradiction rules of the reference checker (`oncogpt.rag.check`).

Key terms: numbers with units, cancer stages, drugs, genes and markers, cancer sites and types
(the lexicons and patterns are here); `missing_terms` lists those of a sentence that a passage
never mentions, `misplaced_terms` the numbers and drugs that it has only away from the text that
matches the sentence, and `other_drugs` the drugs of a matching passage sentence about another
one. Claim words: qualifiers ("severe", "usually", "permanent", "before"), which the matching
text must also say (`missing_qualifiers`), and units of time, which the passage must name
(`missing_durations`). Conflicts: negations, absolutes, antonyms and drug-target bindings by
which a passage contradicts a sentence although it shares its words (`conflicts`).

Plain regex and word lists: imports nothing from `oncogpt.rag.check` or `oncogpt.rag.sentences`
(both import this module), no numpy and no encoder.
"""

from __future__ import annotations

import re

from oncogpt.text import word_set

from .cite import strip_markers

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
#: Drugs that passages usually name by their class ("proton pump inhibitors such as
#: omeprazole"): a question naming another drug of the class is covered by the class name. A
#: blind question set found "Vizimpro ... can she keep taking her pantoprazole?" answered "the
#: sources do not cover pantoprazole" beside a passage on acid medicines with dacomitinib.
DRUG_CLASSES = dict.fromkeys(
    ("omeprazole", "esomeprazole", "pantoprazole", "lansoprazole", "dexlansoprazole",
     "rabeprazole"),
    "proton pump inhibitor",
)  # fmt: skip

#: Trade names of cancer drugs, read as their generic name so that "Tagrisso" in a question
#: and "osimertinib" in a passage are one drug (FDA labels; NCI drug dictionary). Supportive
#: drugs (loperamide, apixaban) are left out on purpose: a question naming one would otherwise
#: be answered "the sources do not cover loperamide" when the passage says "Imodium".
BRAND_NAMES = {
    "tagrisso": "osimertinib", "iressa": "gefitinib", "tarceva": "erlotinib",
    "gilotrif": "afatinib", "giotrif": "afatinib", "vizimpro": "dacomitinib",
    "conmana": "icotinib", "xalkori": "crizotinib", "alecensa": "alectinib",
    "zykadia": "ceritinib", "alunbrig": "brigatinib", "lorbrena": "lorlatinib",
    "lumakras": "sotorasib", "krazati": "adagrasib", "retevmo": "selpercatinib",
    "tabrecta": "capmatinib", "tepmetko": "tepotinib", "rozlytrek": "entrectinib",
    "vitrakvi": "larotrectinib", "tafinlar": "dabrafenib", "mekinist": "trametinib",
    "zelboraf": "vemurafenib", "keytruda": "pembrolizumab", "opdivo": "nivolumab",
    "tecentriq": "atezolizumab", "imfinzi": "durvalumab", "yervoy": "ipilimumab",
    "libtayo": "cemiplimab", "herceptin": "trastuzumab", "perjeta": "pertuzumab",
    "kadcyla": "trastuzumab emtansine", "enhertu": "trastuzumab deruxtecan",
    "avastin": "bevacizumab", "erbitux": "cetuximab", "vectibix": "panitumumab",
    "cyramza": "ramucirumab", "xeloda": "capecitabine", "temodar": "temozolomide",
    "temodal": "temozolomide", "gleevec": "imatinib", "glivec": "imatinib",
    "tykerb": "lapatinib", "nerlynx": "neratinib", "tukysa": "tucatinib",
    "ibrance": "palbociclib", "kisqali": "ribociclib", "verzenio": "abemaciclib",
    "lynparza": "olaparib", "zejula": "niraparib", "rubraca": "rucaparib",
    "arimidex": "anastrozole", "femara": "letrozole", "aromasin": "exemestane",
    "nolvadex": "tamoxifen", "faslodex": "fulvestrant", "zytiga": "abiraterone",
    "xtandi": "enzalutamide", "erleada": "apalutamide", "nubeqa": "darolutamide",
    "lupron": "leuprolide", "zoladex": "goserelin", "nexavar": "sorafenib",
    "lenvima": "lenvatinib", "stivarga": "regorafenib", "cabometyx": "cabozantinib",
    "sutent": "sunitinib", "votrient": "pazopanib", "inlyta": "axitinib",
    "afinitor": "everolimus", "revlimid": "lenalidomide", "velcade": "bortezomib",
    "rituxan": "rituximab", "mabthera": "rituximab", "imbruvica": "ibrutinib",
    "gemzar": "gemcitabine", "taxol": "paclitaxel", "abraxane": "paclitaxel",
    "taxotere": "docetaxel", "alimta": "pemetrexed", "navelbine": "vinorelbine",
    "adriamycin": "doxorubicin", "camptosar": "irinotecan", "eloxatin": "oxaliplatin",
    "paraplatin": "carboplatin", "platinol": "cisplatin", "lonsurf": "trifluridine tipiracil",
    # the pairs "generic (Trade)" that the shipped KB writes and the table lacked
    "trodelvy": "sacituzumab govitecan", "onivyde": "irinotecan", "lytgobi": "futibatinib",
    "qinlock": "ripretinib", "talzenna": "talazoparib", "jemperli": "dostarlimab",
    "oncovin": "vincristine", "calquence": "acalabrutinib", "brukinsa": "zanubrutinib",
    "zometa": "zoledronic", "xgeva": "denosumab",
}  # fmt: skip
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
    """Drug names, trade names read as generic ones ("Xeloda" is {"capecitabine"})."""
    low = text.lower()
    words = set(re.findall(r"[a-z][a-z0-9-]+", low))
    generic = {g for w in words if w in BRAND_NAMES for g in BRAND_NAMES[w].split()}
    return {w for w in words if w in KNOWN_DRUGS} | set(_DRUG_SUFFIX.findall(low)) | generic


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


def site_names(sites: set[str]) -> set[str]:
    """The sites with their synonyms ("colon" also as "colorectal" and "bowel")."""
    return {name for site in sites for name in (site, *_ORGAN_SYNONYMS.get(site, ()))}


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


#: Small cell lung cancer's two stages: treatment differs, so one is not the other.
_EXTENT_STAGE = re.compile(r"\b(limited|extensive)[- ]stage\b", re.IGNORECASE)


def stages(text: str) -> set[str]:
    """Cancer stages mentioned, ranges expanded: "stages I through III" -> stage 1, 2, 3;
    "extensive-stage" and "limited-stage" as such."""
    found = {f"{m.lower()}-stage" for m in _EXTENT_STAGE.findall(text)}
    for match in _STAGE.finditer(text):
        low = _ROMAN[match.group(1).lower()]
        high = _ROMAN[match.group(2).lower()] if match.group(2) else low
        found |= {f"stage {n}" for n in range(low, max(low, high) + 1)}
    return found


def _stage_near(stage: str, passage: str) -> bool:
    """A stage written loosely: "stages range from 0 (in situ) through IV" names stage 0."""
    if not stage.startswith("stage "):
        return False
    n = int(stage.split()[1])
    names = {str(n), ["0", "i", "ii", "iii", "iv"][n]}
    alternatives = "|".join(sorted(names))
    return bool(re.search(rf"\bstages?\b[^.;]{{0,40}}\b(?:{alternatives})\b", passage, re.I))


def _missing_numbers(sentence: str, passage: str) -> list[str]:
    missing = []
    have = numbers(_STAGE.sub(" ", passage))
    for value, units in numbers(_STAGE.sub(" ", sentence)).items():
        seen = have.get(value)
        if seen is None or not (units - {""} <= seen or "" in seen):
            unit = min(units - (seen or set()) - {""}, default="")
            missing.append(f"{value} {unit}".strip())
    return missing


def _missing_drugs(sentence: str, passage: str) -> list[str]:
    low, passage_drugs = passage.lower(), drugs(passage)
    return [d for d in sorted(drugs(sentence)) if d not in passage_drugs and d not in low]


def missing_terms(sentence: str, passage: str) -> list[str]:
    """Key terms of the sentence that the passage never mentions."""
    missing = _missing_numbers(sentence, passage)
    missing += [
        st for st in sorted(stages(sentence) - stages(passage)) if not _stage_near(st, passage)
    ]
    missing += _missing_drugs(sentence, passage)
    passage_genes = genes(passage) | {_gene_key(w) for w in re.findall(r"[\w-]+", passage)}
    missing += [g for g in sorted(genes(sentence)) if g not in passage_genes]
    low = passage.lower()
    missing += [c for c in sorted(cancers(sentence)) if not _present_cancer(c, low)]
    return missing


def misplaced_terms(sentence: str, passage: str, matching: str) -> list[str]:
    """Numbers and drugs of the sentence that the passage has, but not in `matching`, its text
    that matches the sentence: CEA "every 3 to 6 months for about 3 years" against a passage
    whose 3 years are the CT schedule's, its CEA schedule 5 years."""
    absent = set(_missing_numbers(sentence, passage) + _missing_drugs(sentence, passage))
    elsewhere = _missing_numbers(sentence, matching) + _missing_drugs(sentence, matching)
    return [term for term in elsewhere if term not in absent]


def other_drugs(sentence: str, matching: str) -> list[str]:
    """The drugs of `matching`, the passage sentence that matches the sentence best, when it
    names none of the sentence's: a passage on dacomitinib that mentions gefitinib in passing
    does not support "Gefitinib is a first-generation EGFR inhibitor approved as first
    treatment ..." because its matching sentence says so of dacomitinib."""
    said, there = drugs(sentence), drugs(matching)
    return sorted(there) if said and there and not said & there else []


# --------------------------------------------------------------------------------------------
# Claim words: what the sentence says of its subject, beyond the key terms.

#: Degree, frequency, permanence and sequence: "diarrhea can be severe", "is usually given",
#: "can be permanent", "checked before treatment". A passage text on the same drug that does not
#: say so does not support the claim (read on real answers, resources/kb/support_real_cross.jsonl).
#: Each qualifier is there when the text has a word of its group of near-synonyms: "usually"
#: paraphrases "typically" or "often". ("Common" is no qualifier: "commonly used" says too
#: little.)
_QUALIFIER_GROUPS = [
    word_set(group)
    for group in (  # noqa: SIM905 - word lists read better as strings
        "usually typically generally often commonly mostly normally",
        "most majority",
        "rare rarely uncommon uncommonly infrequent infrequently seldom",
        "severe severely serious seriously",
        "fatal deadly life-threatening",
        "mild mildly minor slight",
        "permanent permanently lifelong irreversible",
        "lasting long-lasting long-term",
        "temporary temporarily short-term short-lived",
        "sudden suddenly abrupt abruptly",
        "before prior beforehand",
        "after afterward afterwards following",
    )
]
_LEADS = ("usually", "most", "rare", "rarely", "uncommon", "severe", "severely", "fatal",
          "life-threatening", "mild", "mildly", "permanent", "permanently", "lifelong", "lasting",
          "long-lasting", "temporary", "sudden", "suddenly", "before", "after")  # fmt: skip
#: The qualifiers checked, each with the words that count as saying it.
QUALIFIERS = {
    word: frozenset().union(*(g for g in _QUALIFIER_GROUPS if word in g)) for word in _LEADS
}
_TIME_UNIT = re.compile(
    r"\b(hours?|days?|weeks?|months?|years?|hourly|daily|weekly|monthly|yearly|annual(?:ly)?)\b",
    re.IGNORECASE,
)
_PER_UNIT = {
    "hourly": "hour",
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "yearly": "year",
}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z][a-z-]*", strip_markers(text).lower()))


def missing_qualifiers(sentence: str, text: str) -> list[str]:
    """The sentence's qualifiers (`QUALIFIERS`) that the text says in none of their words."""
    told = _words(text)
    return sorted(w for w in _words(sentence) & QUALIFIERS.keys() if not QUALIFIERS[w] & told)


def durations(text: str) -> set[str]:
    """Units of time named: "for a day or two" -> {"day"}; "daily" is "day", "annually" "year"."""
    units = {u.lower() for u in _TIME_UNIT.findall(strip_markers(text))}
    return {_PER_UNIT.get(u, "year" if u.startswith("annual") else u.rstrip("s")) for u in units}


def missing_durations(sentence: str, text: str) -> list[str]:
    """Units of time of the sentence that the text does not name: flu-like symptoms "lasting
    days to weeks" against "for a day or two"."""
    return sorted(durations(sentence) - durations(text))


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
        "better/worse positive/negative safe/unsafe above/below inside/outside "
        "nearby/distant"
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
