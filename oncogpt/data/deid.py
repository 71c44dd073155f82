"""Offline de-identification of patient text (HIPAA Safe Harbor, free-text part).

``deidentify(text, config)`` replaces identifiers with typed placeholders (``[NAME]``,
``[DATE]``, ``[PLACE]``, ``[HOSPITAL]`` ...) and counts them; ``find_identifiers`` returns the
spans. Two detectors, combined by default (``DeidConfig``):

* the rules here: a table of compiled regular expressions plus a few lexicons, about 0.3 MB of
  text per second on one core;
* spaCy's small English NER model (``deid_ner``) for names, places and hospitals written
  without a cue, on the sentences that hold an uncommon capitalised word. Its entities rank
  after every rule, and the rules veto them: eponyms, brand and generic drugs, genes
  (ALL CAPS), anything with a digit (staging, doses), kinship words, Chinese herbs/formulas.

Measured (``python -m oncogpt.evaluate.deid --split test --n 300``), test halves: on the
harder ``messages`` set (identifiers placed as real messages place them) recall 0.965 with
the model vs 0.869 with the rules alone (names 0.953 vs 0.902, towns 0.952 vs 0), precision
1.000, medical terms kept 1.000; on the cue-word ``synthetic`` set recall 0.978. Reading every
sentence instead of the gated ones adds no recall there and costs precision (0.987). In the
pipeline benchmark the model costs about 10% of the rules-only build's rows/s
(``benchmarks/data_pipeline.py --deid-cost``).

Design, and why:

* Recall comes from formats (e-mail, phone, dates, addresses) and from *labels* that real text
  puts before opaque numbers ("MRN 12345678", "member ID ..."). An unlabelled random number is
  indistinguishable from a lab value, so it is left alone on purpose.
* Names are found only next to cues (titles, "my name is", "my wife X", greetings, sign-offs,
  "a nurse named X") or as a common given name followed by capitalised words. A bare
  capitalised word never becomes a name, so "Lung cancer" or "Keytruda" at a sentence start
  survive; eponyms (Hodgkin, Ewing, Wilms, Kaposi ...), brand drugs and disease words veto a
  candidate name.
* Placeholders are never re-matched, so ``deidentify`` is idempotent.
* Patterns start with a look-ahead on their possible first characters: Python's ``re`` then
  rejects most positions at once instead of trying every alternative (several times faster).

``python -m oncogpt.evaluate.deid`` measures recall, precision and medical-term survival.
This is a screening tool, not a guarantee: review before any data leaves a secure setting.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass

from oncogpt.text import word_set

KINDS: tuple[str, ...] = (
    "NAME",
    "ADDRESS",
    "ZIP",
    "DATE",
    "AGE",
    "PHONE",
    "FAX",
    "EMAIL",
    "SSN",
    "MRN",
    "HEALTH_PLAN",
    "ACCOUNT",
    "LICENSE",
    "URL",
    "IP",
    "DEVICE",
    "VEHICLE",
    "PLACE",
    "HOSPITAL",
)


PLACES = ("cities", "all", "none")


@dataclass(frozen=True)
class DeidConfig:
    """What the de-identifier replaces besides the rules' formats and cues."""

    ner: bool = True
    """Also run the statistical named-entity model (oncogpt.data.deid_ner) for names, places and
    hospitals written without a cue; False uses the rules alone (about 2x faster)."""
    gate: bool = True
    """Let the model read only sentences with an uncommon capitalised word (deid_ner.triggers);
    False makes it read every sentence (slower; measures what the gate costs in recall)."""
    places: str = "cities"
    """Place names that become [PLACE]: "cities" (everything smaller than a state or province:
    towns, districts, counties, as HIPAA Safe Harbor asks), "all" (countries, states and
    provinces too) or "none" (street addresses and postcodes only)."""
    hospitals: bool = True
    """Replace hospital and clinic names ("Peking Union Medical College Hospital") by
    [HOSPITAL]: they point to where the patient lives."""

    def __post_init__(self) -> None:
        if self.places not in PLACES:
            raise ValueError(f"deid places must be one of {PLACES}, got {self.places!r}")


DEFAULT = DeidConfig()


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str


def _cue(phrases: str) -> str:
    """Comma-separated, case-insensitive cue phrases as one word-bounded regex.

    A space in a phrase matches any run of blanks; the phrases may use regex syntax."""
    phrases = [phrase.strip() for phrase in phrases.split(",")]
    first = sorted({c for phrase in phrases for c in (phrase[0].lower(), phrase[0].upper())})
    body = "|".join(phrase.replace(" ", r"[ \t]+") for phrase in phrases)
    return rf"(?=[{''.join(first)}])\b(?i:{body})(?!\w)"


# --- building blocks ---------------------------------------------------------------------------

# Latin letters incl. accents (Müller, José, Łukasz); re has no \p{Lu}, so build the classes once.
_LATIN = [chr(c) for c in (*range(0x41, 0x5B), *range(0x61, 0x7B), *range(0xC0, 0x250))]
_UP = "[" + "".join(c for c in _LATIN if c.isalpha() and c.isupper()) + "]"
_LO = "[" + "".join(c for c in _LATIN if c.isalpha() and c.islower()) + "]"

# One capitalised name word: Smith, O'Brien, McDonald, Al-Sayed, Jean-Luc; never part of a longer
# word (so "OncoGPT" does not yield "Onco").
_TOKEN = rf"{_UP}(?:{_LO}+|['’](?={_UP}))(?:['’-]?{_UP}{_LO}+)*(?!\w)"
_INITIAL = rf"{_UP}\."
_PARTICLE = r"(?:van|von|der|den|de|da|di|del|della|du|le|la|al|el|bin|ibn|ter|ten|dos|das)"
_NEXT = rf"[ \t]+(?:{_PARTICLE}[ \t]+){{0,2}}(?:{_TOKEN}|{_INITIAL}(?=[ \t]+{_UP}))"
_NAME = rf"(?:{_PARTICLE}[ \t]+){{0,2}}(?:{_INITIAL}[ \t]?){{0,2}}{_TOKEN}(?:{_NEXT}){{0,3}}"
# Lower-case names ("my name is josé smith"), used only after the strongest cues.
_LOWER_TOKEN = rf"{_LO}(?:{_LO}|['’-]{_LO})+"
_LOWER_NAME = rf"{_LOWER_TOKEN}(?:[ \t]+{_LOWER_TOKEN}){{0,2}}"

_MONTHS_FULL = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
)
_MONTHS_ABBR = "jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
_MONTH = rf"(?i:(?:{_MONTHS_FULL})\b(?:\.(?=[ \t]*\d))?|(?:{_MONTHS_ABBR})\b\.?)"
# Without a year, lower-case "may"/"march" after a number are verbs ("these 2 may interact").
_MONTH_STRICT = (
    r"(?:(?i:(?:january|february|april|june|july|august|september|october|november|december)\b"
    r"|(?:jan|feb|apr|jun|jul|aug|sept|sep|oct|nov|dec)\b\.?)|May\b|March\b|Mar\b\.?)"
)
# Abbreviated weekdays only capitalised: "the sun may be a factor" holds no date.
_WEEKDAY = (
    r"(?:(?i:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
    r"|(?:Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)\b\.?)"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON_NUM = r"(?:0?[1-9]|1[0-2])"
_ORD = r"(?:st|nd|rd|th)"
_YEAR = r"(?:19|20)\d{2}"
_UNITS = "one|two|three|four|five|six|seven|eight|nine"
_SPELLED_AGE = (
    rf"(?:ninety(?:[- ](?:{_UNITS}))?|(?:a|one)[- ]hundred(?:[- ](?:and[- ])?"
    rf"(?:{_UNITS}|ten|eleven|twelve|thirteen|fourteen|fifteen))?)"
)
# Safe Harbor: only ages over 89 are identifiers; "ninety-three" and "a hundred and one" too.
_AGE_NUM = rf"(?:9\d|1[01]\d|(?i:{_SPELLED_AGE})(?![\w-]))"
# An age, not a quantity: "aged 95" but not "by age 96 hours" or "turn 90 degrees".
_NOT_UNIT = r"\b(?![ \t]*(?:%|mg|kg|cm|mm|ml|hours?|hrs?|days?|weeks?|months?|minutes?|degrees?))"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_HEX = r"[0-9A-Fa-f]{1,4}"

_PHONE_VALUE = r"\+?\(?\d[\d \t().-]{5,}\d"
# "x204", "ext. 204", "extension 204" after a number belongs to it.
_EXTENSION = r"(?:,?[ \t]*(?i:x|ext\.?|extension)[ \t]*\d{1,5}\b)?"
# E-mail written to dodge filters: "liu42 at gmail dot com", "wei [at] 163 [dot] com".
_AT = r"(?:[ \t]*(?:\(at\)|\[at\]|\{at\}|<at>)[ \t]*|[ \t]+(?:at|AT)[ \t]+)"
_DOT = r"(?:[ \t]*(?:\(dot\)|\[dot\]|\{dot\}|<dot>)[ \t]*|[ \t]+(?:dot|DOT)[ \t]+|\.)"
_TLD = r"(?i:com|org|net|edu|gov|cn|co|uk|de|fr|me|io|info|ca|au|jp|in|hk|tw|sg|nl|se|ch|us)"
# Opaque identifiers after a label: digit groups ("485 777 3456") or one token with a digit.
_ID_VALUE = (
    r"(?:\d{2,5}(?:[ -]\d{2,5}){1,4}\b|(?=[A-Za-z0-9/-]*\d)[A-Za-z0-9][A-Za-z0-9/-]{4,}"
    r"(?:[ ](?=[A-Z0-9]*\d)[A-Z0-9]{2,}\b)*)"
)
_PLATE_VALUE = r"(?=[A-Z0-9 -]*\d)[A-Z0-9]{1,17}(?:[ -][A-Z0-9]{1,4}){0,3}\b"
_UK_POST = r"[A-Z]{1,2}\d[A-Z\d]?[ ]\d[A-Z]{2}"
_CA_POST = r"[A-Z]\d[A-Z][ ]\d[A-Z]\d"
_US_STATE = (
    r"(?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|"
    r"S[CD]|T[NX]|UT|V[TA]|W[AVIY])"
)
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|"
    r"Terrace|Circle|Parkway|Pkwy|Highway|Hwy|Square|Close|Crescent|Grove|Gardens|Row|Trail|Mews|"
    r"Lu|Jie|Dajie|Dadao|Hutong|Xiang|Nong)"
)
_STREET_WORD = r"(?:[A-Z][a-z]+(?:['’][a-z]+)?|[NSEW]\.?|\d+(?:st|nd|rd|th))"
_UNIT_WORD = r"(?i:apt|apartment|suite|ste|unit|flat|room|rm|building|bldg|block|floor|fl)"
_UNIT = rf"(?:,?[ ](?:{_UNIT_WORD}|\#)\.?[ ]?\#?[A-Za-z0-9-]*\d[A-Za-z0-9-]*)"
# The town after a street: before a state or postcode, or ending the clause ("99 Cedar Ave,
# Tampere.").
_CITY = (
    r"(?:,[ ][A-Z][a-z]+(?:[ ][A-Z][a-z]+){0,2}"
    r"(?=,?[ ](?:[A-Z]{2}\b|[A-Z]{1,2}\d|\d{5})|[ \t]*(?:[.;:!?)\n]|$)))"
)


def _labelled(kind: str, labels: str, value: str = _ID_VALUE) -> str:
    """A label ("MRN", "member ID"), an optional "number"/"is"/":"/"#", then the value."""
    return (
        rf"{labels}(?:[ \t]*(?i:number|no\.?|num|\#|id)(?![A-Za-z]))?"
        rf"[ \t]*(?i:is|was|:|=|-|\#)?[ \t]*(?P<{kind}>{value})"
    )


_RELATION = (
    r"(?i:husband|wife|son|daughter|mother|mom|mum|father|dad|brother|sister|friend|partner|"
    r"fianc[ée]e?|aunt|uncle|grand(?:mother|father|ma|pa|son|daughter)|niece|nephew|cousin|"
    r"boyfriend|girlfriend|oncologist|doctor|surgeon|nurse|gp|physician|caregiver|carer|"
    r"neighbou?r|colleague|child|stepson|stepdaughter|radiologist|pathologist|specialist|"
    r"consultant|coordinator)"
)
_SIGN_OFFS = (
    "regards, sincerely, best wishes, many thanks, thanks, thank you, cheers, best, "
    "thanks so much, thank you so much, thanks a lot, thanks again, thank you again, "
    "thanks in advance, thank you in advance, with thanks, gratefully, love"
)
# Header and contact-list fields that hold a person ("Patient: Zhang Wei, 67M").
_NAME_FIELDS = (
    r"patient, pt, name, patient name, full name, contact, emergency contact, next of kin, "
    r"caregiver, carer, informant, referring (?:doctor|physician), attending, from, to, attn, "
    r"cc, reported by, submitted by, written by, guardian, spouse"
)
# Common Chinese family names in pinyin. Left out: those that are also English words a
# sentence may start with ("He", "You", "Bo", "Long").
_CHINESE_SURNAMES = (
    "Wang|Li|Zhang|Liu|Chen|Yang|Huang|Zhao|Wu|Zhou|Xu|Sun|Ma|Zhu|Hu|Guo|Lin|Luo|Gao|Zheng|"
    "Liang|Xie|Song|Tang|Han|Feng|Deng|Cao|Peng|Zeng|Xiao|Tian|Dong|Pan|Yuan|Cai|Jiang|Yu|Du|"
    "Ye|Cheng|Wei|Su|Lu|Ding|Ren|Shen|Yao|Jin|Fu|Zhong|Cui|Tan|Lyu|Fan|Shi|Qin|Hou|Xiong|"
    "Meng|Qiu|Qian|Dai|Mao|Hao|Wan|Gu|Lai|Kong|Bai|Kang|Duan|Lei|Qi|Shao|Wen|Yan|Tao|Chang|"
    "Fang|Mo|Xiang|Niu|Hong|Gong|Yin|Ou|Ouyang|Situ|Zhuge"
)
# One pinyin syllable (initial + final); a given name is one or two of them ("Wei", "Xiuying").
_PINYIN = (
    r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?(?:iang|iong|uang|ang|eng|ian|iao|ing|ong|uai|uan|"
    r"ai|an|ao|ei|en|er|ia|ie|in|iu|ou|ua|ue|ui|un|uo|a|e|i|o|u|ü|v)"
)
_GIVEN_PINYIN = re.compile(rf"(?:{_PINYIN})(?:['’-]?{_PINYIN})?")
# Institutions: Title-case words ending in one of these nouns, perhaps "of <Place>".
_INSTITUTION = (
    r"(?:Hospital|Clinic|Cancer (?:Cent(?:er|re)|Institute|Hospital)|Medical Cent(?:er|re)|"
    r"Health(?:care)? (?:System|Cent(?:er|re))|Infirmary|Oncology Cent(?:er|re)|Sanatorium)"
)
# Words every institution's name may hold; a name made only of them ("the Cancer Hospital")
# identifies nobody.
_GENERIC_INSTITUTION_WORDS = word_set(
    """
    the of and general university medical college cancer hospital hospitals clinic clinics
    center centre institute health healthcare system regional community district county city
    provincial municipal central national people's peoples children's childrens women's
    womens memorial teaching affiliated first second third fourth fifth sixth seventh eighth
    traditional chinese medicine integrated oncology infirmary sanatorium a an our my your
    local big major specialist private public military army new
    """
)


# --- the rule table: (kind, pattern); earlier rules win overlaps -----------------------------
# A pattern's named groups (named after kinds) give the spans; without groups, the whole match.

_RULE_SOURCES: list[tuple[str, str]] = [
    ("EMAIL", r"(?<![\w.+-])[\w.+-]++@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"),
    (
        "EMAIL",
        rf"(?<![\w.+-])(?=[\w.+-]*[A-Za-z0-9])[\w.+-]+(?:{_AT}|[ \t]*@[ \t]*)[\w-]+"
        rf"(?:{_DOT}[\w-]+)*?{_DOT}{_TLD}\b",
    ),
    ("URL", r"(?=[hfwHFW])\b(?:https?://|ftp://|www\.)[^\s<>\"'()\[\]]*[^\s<>\"'()\[\].,;:!?]"),
    (
        "URL",
        r"(?=[a-z0-9-]+\.)\b(?:[a-z0-9-]+\.)+(?:com|org|net|edu|gov|io|info|health|co\.uk|org\.uk"
        r"|nhs\.uk|ca|de|fr|us|au|in|ly|me|ai|app|tv)\b(?:/[^\s<>\"'()]*[^\s<>\"'().,;:!?])?",
    ),
    # Any other domain followed by a path ("bit.ly/3xYz", "t.co/abc").
    ("URL", r"(?=[a-z0-9-]+\.)\b(?:[a-z0-9-]+\.)+[a-z]{2,6}/[^\s<>\"'()]*[^\s<>\"'().,;:!?]"),
    ("DEVICE", r"(?=[0-9A-Fa-f]{2}[:-])\b(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}\b"),  # MAC
    ("IP", rf"(?=\d)(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\w|\.\d)"),
    ("IP", rf"(?=[0-9A-Fa-f])(?<![\w:])(?:{_HEX}:){{7}}{_HEX}(?![\w:])"),
    (
        "IP",
        rf"(?=[0-9A-Fa-f:])(?<![\w:])(?:{_HEX}(?::{_HEX}){{0,6}}::(?:{_HEX}(?::{_HEX}){{0,6}})?"
        rf"|::{_HEX}(?::{_HEX}){{0,6}})(?![\w:])",
    ),
    (
        "SSN",
        _labelled("SSN", _cue(r"ssn, ss\#, social security"), r"\d{3}[- ]?\d{2}[- ]?\d{4}\b"),
    ),
    ("SSN", r"(?=\d)\b\d{3}(?:-\d{2}-| \d{2} )\d{4}\b"),
    ("FAX", rf"{_cue(r'fax')}[^\d\n]{{0,25}}?(?P<FAX>{_PHONE_VALUE})"),
    (
        "MRN",
        _labelled(
            "MRN",
            _cue(
                r"mrn, mr\#, medical record, med rec, hospital (?:number|no\.?|id|\#), "
                r"chart (?:number|no\.?|\#|id), record (?:number|no\.?|\#), "
                r"patient (?:id|number|no\.?), unit number, nhs (?:number|no\.?), "
                r"case (?:number|no\.?)"
            ),
        ),
    ),
    (
        "HEALTH_PLAN",
        _labelled(
            "HEALTH_PLAN",
            _cue(
                r"member(?:ship)? (?:id|number|no\.?|\#), insurance, policy, subscriber, "
                r"health(?: )?plan, beneficiary, medicare, medicaid, group (?:number|no\.?|\#), "
                r"plan id, bcbs, mbi"
            ),
        ),
    ),
    (
        "ACCOUNT",
        _labelled(
            "ACCOUNT",
            _cue(
                r"account, bank account, billing account, patient account, acct\.?, billing, "
                r"iban, card, credit card, invoice"
            ),
        ),
    ),
    ("ACCOUNT", r"(?=\d)\b(?:\d{4}[ -]){3}\d{4}\b"),  # payment card number
    (
        "ACCOUNT",
        r"(?=[A-Z])\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,3})?\b",
    ),  # IBAN
    (
        "VEHICLE",
        _labelled(
            "VEHICLE",
            _cue(
                r"vin, licen[cs]e plate, number plate, plate, car reg(?:istration)?, "
                r"vehicle reg(?:istration)?, car plate, registration plate, "
                r"reg (?:plate|number|no)"
            ),
            _PLATE_VALUE,
        ),
    ),
    (
        "VEHICLE",
        r"(?=[A-Z0-9])\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-Z])[A-HJ-NPR-Z0-9]{17}\b",
    ),
    (
        "LICENSE",
        _labelled(
            "LICENSE",
            _cue(
                r"driver(?:.?s)? licen[cs]e, driving licen[cs]e, licen[cs]e(?! plate), passport, "
                r"certificate, dea, npi"
            ),
        ),
    ),
    ("LICENSE", _labelled("LICENSE", r"\bDL\b")),
    (
        "DEVICE",
        _labelled(
            "DEVICE",
            _cue(r"serial, s/n, device (?:id|number|serial), imei, udi, mac address"),
        ),
    ),
    ("DEVICE", _labelled("DEVICE", r"\bSN\b")),
    # Phones: labelled, North American, international "+", trunk-prefixed "0..." (UK, EU).
    (
        "PHONE",
        _cue(
            r"phone, tel, telephone, mobile, cell(?:phone)?, landline, whats?app, wechat, "
            r"call(?: (?:me|us|her|him))?, text(?: (?:me|us))?, reach (?:me|us), "
            r"contact(?: (?:me|us|number|no\.?))?, home (?:number|no\.?), "
            r"work (?:number|no\.?), number is"
        )
        + rf"[ \t:.#]*(?i:is[ \t]+|at[ \t]+|on[ \t]+)?(?P<PHONE>{_PHONE_VALUE}{_EXTENSION})",
    ),
    (
        "PHONE",
        r"(?=[\d(+])(?<![\w+])(?:\+?1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}\b"
        + _EXTENSION,
    ),
    (
        "PHONE",
        r"(?=[+(0])(?<![\w+])(?:\+|\(\+|00)\d{1,3}\)?(?:[ .-]?\(?\d{1,4}\)?)"
        r"(?:[ .-]?\d{2,5}){1,5}\b" + _EXTENSION,
    ),
    ("PHONE", rf"(?=[0(])(?<![\w+.])\(?0\d{{1,4}}\)?[ -]?\d{{3,4}}[ -]?\d{{3,4}}\b{_EXTENSION}"),
    # Chinese mobiles: eleven digits from 13x-19x, maybe grouped 3-4-4.
    ("PHONE", r"(?=1)(?<![\w+.-])1[3-9]\d(?:[ -]?\d{4}){2}(?![\w-]|\.\d|[ -]\d)"),
    # Dates more precise than a year; a bare year or "3 months" never matches.
    (
        "DATE",
        rf"(?=[MTWFSmtwfs])\b{_WEEKDAY},?[ \t]+(?:the[ \t]+{_DAY}{_ORD}?\b|{_DAY}{_ORD}\b"
        rf"|{_DAY}{_ORD}?[ \t]+{_MONTH}|{_MONTH}[ \t]+{_DAY}{_ORD}?\b)(?:,?[ \t]+{_YEAR}\b)?",
    ),
    ("DATE", rf"(?=[12])\b{_YEAR}[/.-]{_MON_NUM}[/.-]{_DAY}\b(?:T\d{{2}}:\d{{2}}(?::\d{{2}})?)?"),
    ("DATE", rf"(?=\d)(?<![\d.])\b{_DAY}[/.-]{_DAY}[/.-](?:{_YEAR}|\d{{2}})\b(?![.-]\d)"),
    (
        "DATE",
        rf"(?=[\dTt])\b(?:the[ \t]+)?{_DAY}{_ORD}?(?:[ \t]+of)?[ \t-]+"
        rf"(?:{_MONTH},?[ \t-]+(?:{_YEAR}|'?\d{{2}})\b|{_MONTH_STRICT})",
    ),
    (
        "DATE",
        rf"(?=[JFMASONDjfmasond])\b{_MONTH}[ \t]+(?:the[ \t]+)?{_DAY}{_ORD}?\b"
        rf"(?:,?[ \t]+{_YEAR}\b)?",
    ),
    ("DATE", rf"(?=[JFMASONDjfmasond])\b{_MONTH},?[ \t]+{_YEAR}\b"),
    (
        "DATE",
        # "3/14" without a year only after a date cue: fractions, doses and scores are not dates.
        _cue(
            r"on, since, from, until, till, by, dated, before, after, scan, visit, "
            r"appointment, surgery, started, starting, began, next, due, admitted, "
            r"discharged, seen, booked, scheduled"
        )
        + rf"[ \t]+(?:[a-z-]+[ \t]+)?(?P<DATE>{_MON_NUM}/{_DAY})\b(?![/\d])"
        r"(?![ \t]*(?i:of|tablets?|pills?|doses?|strength|pain)\b)",
    ),
    # Ages over 89.
    (
        "AGE",
        rf"(?=[\dNnAaOo])\b{_AGE_NUM}(?:[ \t-]*(?i:years?|yrs?)[ \t-]*(?i:old|of[ \t]+age)\b"
        r"|[ \t-]*(?i:y/o|yo\b|y\.o\.|yr[ \t-]old))",
    ),
    (
        "AGE",
        _cue(r"aged?, age:, turn(?:ed|s|ing)?")
        + rf"[ \t:]*(?:(?i:now|just)[ \t]+)?(?P<AGE>{_AGE_NUM}){_NOT_UNIT}",
    ),
    ("AGE", rf"[,(][ \t]*(?i:now)[ \t]+(?P<AGE>{_AGE_NUM}){_NOT_UNIT}"),  # "my dad (now 93)"
    # An age in apposition: "Grandma, ninety-three, has ...", "Zhang Wei, 95, asked".
    # (checked by _after_person(): anchoring on the word before would try every position)
    ("AGEAPP", rf"(?=[,(])[,(][ \t]*(?P<AGEAPP>{_AGE_NUM})[ \t]*(?=[,)])"),
    # Headers: "Zhang Wei, 93M", "(95 F)", "93/F"; a comma or bracket first, so "99F" as a
    # temperature stays.
    ("AGE", r"[,(][ \t]*(?P<AGE>9\d|1[01]\d)[ \t/]?[MFmf](?![\w.])"),
    (
        "AGE",
        _cue(
            r"mother, father, mom, mum, dad, husband, wife, grand(?:mother|father|ma|pa), "
            r"aunt, uncle, she, he, i, patient"
        )
        + rf"[ \t]+(?i:is|was|am|turned)(?:[ \t]+(?i:now))?[ \t]+(?P<AGE>{_AGE_NUM}){_NOT_UNIT}",
    ),
    # Street addresses, P.O. boxes, units, European forms; the ZIP after them is its own span.
    # "No. 52 Fucheng Road": Chinese addresses number the house before the street.
    (
        "ADDRESS",
        rf"(?=N)\bNo\.?[ \t]*\d{{1,5}}[A-Za-z]?,?[ \t]+(?:{_STREET_WORD}[ \t]+){{1,3}}"
        rf"{_STREET_SUFFIX}\b\.?{_CITY}?",
    ),
    (
        "ADDRESS",
        rf"(?=\d)\b(?P<ADDRESS>\d{{1,6}}[A-Za-z]?(?:-\d+)?,?[ \t]+(?:{_STREET_WORD}[ \t]+){{1,3}}"
        rf"{_STREET_SUFFIX}\b\.?{_UNIT}?{_CITY}?)"
        rf"(?:,?[ ](?:{_US_STATE}[ ])?(?P<ZIP>\d{{5}}(?:-\d{{4}})?|{_UK_POST}|{_CA_POST})\b)?",
    ),
    (
        "ADDRESS",
        # Lower case only with unambiguous suffixes: "12 oak street" but not "3 cycles in place".
        r"(?=\d)(?i:\b\d{1,6}[a-z]?[ \t]+(?:[a-z]+[ \t]+){1,2}"
        r"(?:street|avenue|road|boulevard|lane)\b)",
    ),
    ("ADDRESS", _cue(r"p\.?(?: )?o\.?(?: )?box") + r"[ \t]+\d+"),
    (
        "ADDRESS",
        _cue(r"apt\.?, apartment, suite, flat, room, rm\.?, unit, building, bldg\.?")
        + r"[ ]?#?\d+[A-Za-z]?(?:-\d+)?\b(?![ \t]*(?:%|mg|ml|cm|mm|beds?|patients?)\b)",
    ),
    (
        "ADDRESS",
        # Continental forms, with the postcode that precedes the town: "Hauptstraße 5, 10115
        # Berlin", "12 rue de la Paix, 75002 Paris".
        rf"(?=\w)\b(?P<ADDRESS>{_UP}{_LO}+(?:straße|strasse|weg|platz|gasse|allee)[ \t]+\d+"
        rf"[a-z]?\b|\d{{1,5}},?[ \t]+(?i:rue|calle|via|viale|avenida|rua)[ \t]+"
        rf"(?:{_LO}+[ \t]+){{0,2}}{_UP}{_LO}+)(?:,?[ \t]+(?P<ZIP>\d{{4,5}})(?=[ \t]+{_UP}))?",
    ),
    # Hospitals: "Peking Union Medical College Hospital", "the First Affiliated Hospital of
    # Zhejiang University", "Mayo Clinic"; checked by _clean_institution().
    (
        "HOSPITAL",
        rf"(?=[A-Z])\b(?:(?:{_UP}[\w'’.-]*|of|the|and|&)[ \t]+){{1,7}}{_INSTITUTION}\b"
        rf"(?:[ \t]+of[ \t]+(?:the[ \t]+)?{_UP}{_LO}+(?:[ \t]+{_UP}{_LO}+){{0,4}})?",
    ),
    # Places below a province or state: "Haidian District", "Pudong New Area".
    (
        "PLACE",
        rf"(?=[A-Z])\b{_UP}{_LO}+(?:['’-]?{_LO}+)?(?:[ \t]+{_UP}{_LO}+)?[ \t]+"
        r"(?:District|County|Township|Subdistrict|Prefecture|New Area|Village|Borough)\b",
    ),
    ("ZIP", rf"(?=[A-Z])\b{_US_STATE}[ ](?P<ZIP>\d{{5}}(?:-\d{{4}})?)\b"),
    (
        "ZIP",
        _cue(r"zip, zip(?: )?code, post(?: )?code, postal code, live[sd]? in, living in")
        + rf"[ \t:]*(?:is[ \t]+|the[ \t]+)?(?P<ZIP>\d{{5}}(?:-\d{{4}})?|{_UK_POST}|{_CA_POST})\b",
    ),
    ("ZIP", rf"(?=[A-Z\d])(?<![\w-])(?:{_UK_POST}|{_CA_POST}|\d{{5}}-\d{{4}})\b"),
    # Person names: every rule needs a cue; candidates are then checked by _clean_name().
    (
        "NAME",
        r"(?=[DMPNSR])\b(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Professor|Doctor|Nurse|Sister|Rev)\.?[ \t]+"
        rf"(?:(?:Dr|Prof)\.?[ \t]+)?(?P<NAME>{_NAME})",
    ),
    (
        "NAME",
        _cue(r"my name is, my name's, name:, i am, i'm, i’m, call me, signed")
        + rf"[ \t]+(?P<NAME>{_NAME})",
    ),
    # "this is X" introduces a name only when the sentence goes on like one ("this is Maria,").
    ("NAME", _cue(r"this is") + rf"[ \t]+(?P<NAME>{_NAME})(?=[ \t]*[,.!]|[ \t]+from\b)"),
    ("NAME", _cue(r"my name is") + rf"[ \t]+(?P<NAME>{_LOWER_NAME})(?!\w)"),
    (
        "NAME",
        # "my wife Ana", "his oncologist Dr. ..."; after "the"/"a"/"your" only with a comma:
        # "the nurse, Kofi," (lists like "a child Diarrhea ..." are not names).
        _cue(r"my, our, his, her, their") + rf"[ \t]+{_RELATION}[ \t]*,?[ \t]+(?P<NAME>{_NAME})",
    ),
    ("NAME", _cue(r"the, a, your") + rf"[ \t]+{_RELATION}[ \t]*,[ \t]+(?P<NAME>{_NAME})"),
    ("NAME", _cue(r"patient, patient name:?") + rf"[ \t]*,?[ \t]+(?P<NAME>{_NAME})"),
    (
        "NAME",
        _cue(
            r"doctor, dr, nurse, oncologist, surgeon, physician, specialist, radiologist, "
            r"man, woman, lady, guy, friend, patient, someone, person, he, she, who, i'm, "
            r"i am"
        )
        + rf"[^.\n\d]{{0,30}}?\b(?i:named|called)[ \t]+(?P<NAME>{_NAME})",
    ),
    (
        "NAME",
        _cue(r"hi, hello, hey, dear, good morning, good afternoon, good evening")
        + rf"[ \t]*,?[ \t]+(?P<NAME>{_NAME})(?=[ \t]*(?:[,.!:;\n]|$))",
    ),
    (
        "NAME",
        _cue(_SIGN_OFFS + ", yours (?:sincerely|truly|faithfully), respectfully, warmly, take care")
        + r"[ \t]*[,.!-]?[ \t]*\n?[ \t]*(?:[-–—~]+[ \t]*)?"
        + rf"(?P<NAME>{_NAME})(?=[ \t]*(?:[\n,.!]|$))",
    ),
    # Header fields and contact lists: "Patient: Zhang Wei, 67M", "cc: Rosa Quinn".
    (
        "NAME",
        rf"(?m:^[ \t]*(?:[-*•][ \t]*)?{_cue(_NAME_FIELDS)}[ \t]*[:=–-][ \t]*(?P<NAME>{_NAME}))",
    ),
    ("NAME", rf"(?<![\w.])(?i:pt|patient)[ \t]*:[ \t]*(?P<NAME>{_NAME})"),
    # "Rosa Quinn (daughter)", "daughter: Li Ming", "son - Wang Jun".
    (
        "NAME",
        rf"(?=[A-Z])(?<![\w-])(?P<NAME>{_NAME})[ \t]*[(,][ \t]*(?:my[ \t]+|the[ \t]+)?"
        rf"{_RELATION}\b",
    ),
    (
        "NAME",
        rf"(?m:(?:^|(?<=[;,(]))[ \t]*(?:[-*•][ \t]*)?{_RELATION}[ \t]*(?::|[ \t]-|–)[ \t]*"
        rf"(?P<NAME>{_NAME}))",
    ),
    # Chinese names, family name first ("Zhang Wei", "Liu Xiuying") or last ("Wei Zhang"); and
    # a Chinese family name as a possessive ("Huang's CT").
    (
        "CNAME",
        rf"(?=[A-Z])(?<![\w-])(?:{_CHINESE_SURNAMES})[ \t]+{_UP}{_LO}+(?:['’-]{_LO}+)?(?![\w-])",
    ),
    ("CNAME", rf"(?=[A-Z])(?<![\w-]){_UP}{_LO}+[ \t]+(?:{_CHINESE_SURNAMES})(?![\w'’-])"),
    ("NAME", rf"(?=[A-Z])(?<![\w-])(?P<NAME>(?:{_CHINESE_SURNAMES}))(?=['’]s\b)"),
    # "-- Maria" on its own line; a single "-" would be a bullet ("- Fatigue").
    ("NAME", rf"(?m:^[ \t]*(?:--+|—|~)[ \t]*(?P<NAME>{_NAME})[ \t]*$)"),
    # A lower-case signature is trusted only on the last line, after a sign-off line.
    (
        "NAME",
        _cue(_SIGN_OFFS) + rf"[ \t]*[,.!]?[ \t]*\n[ \t]*(?P<NAME>{_LOWER_NAME})[ \t]*\Z",
    ),
]

# Common given names (several cultures). Left out: those that are also words, places, drugs or
# syllables of eponyms (May, Will, Mark, Grace, Jordan, Virginia, Li as in Li-Fraumeni, Ann as
# in Ann Arbor, Teresa: the machine-translated trade name of osimertinib in our data).
_FIRST_NAMES = word_set(
    """
James John Robert Michael David William Richard Joseph Thomas Charles Christopher Daniel Matthew
Anthony Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason
Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin
Samuel Gregory Alexander Patrick Raymond Jack Dennis Jerry Tyler Aaron Jose Adam Nathan Henry
Douglas Zachary Peter Kyle Walter Ethan Jeremy Harold Keith Roger Noah Gerald Carl Terry Sean
Arthur Lawrence Jesse Dylan Bryan Joe Billy Bruce Albert Willie Gabriel Logan Alan Juan Wayne
Roy Ralph Randy Eugene Vincent Russell Elijah Louis Bobby Philip Johnny Mary Patricia Jennifer
Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Betty Margaret Sandra Ashley
Kimberly Emily Donna Michelle Dorothy Carol Amanda Melissa Deborah Stephanie Rebecca Sharon
Laura Cynthia Kathleen Amy Shirley Angela Helen Anna Brenda Pamela Nicole Emma Samantha
Katherine Christine Debra Rachel Catherine Carolyn Janet Ruth Maria Heather Diane Julie Joyce
Victoria Olivia Kelly Christina Lauren Joan Evelyn Judith Megan Cheryl Andrea Hannah Martha
Jacqueline Frances Gloria Kathryn Sara Janice Jean Alice Doris Abigail Julia Judy Sophia Denise
Marilyn Beverly Danielle Theresa Diana Natalie Brittany Charlotte Marie Kayla Alexis Lori Sophie
Chloe Zoe Isabella Mia Ava Lucy Ella Leah Claire Fiona Siobhan Aoife Liam Connor Declan Niamh
Ciara Mohammed Muhammad Mohamed Ahmed Ali Hassan Hussein Omar Khalid Youssef Ibrahim Mustafa
Fatima Aisha Ayesha Zainab Leila Layla Nadia Yasmin Amina Mariam Samira Rahul Raj Rajesh Amit
Arjun Vikram Sanjay Anil Sunil Ravi Priya Ananya Anjali Pooja Neha Deepa Sunita Lakshmi Wei Ming
Yuki Hiroshi Kenji Takeshi Akira Yoko Keiko Sakura Haruto Ji-hoon Min-jun Seo-yeon Carlos Luis
Miguel Jorge Pedro Alejandro Diego Javier Fernando Ricardo Mateo Santiago Sofia Lucia Valentina
Camila Gabriela Isabel Carmen Rosa Ana Elena Paula Marta Giulia Francesca Giuseppe Giovanni
Marco Luca Matteo Alessandro Hans Klaus Jürgen Stefan Wolfgang Ingrid Greta Lars Nils Sven
Astrid Freya Erik Pierre Jean-Pierre Jean-Luc Jacques Camille Margaux Dmitri Sergei Vladimir
Ivan Olga Irina Tatiana Natasha Svetlana Katarzyna Agnieszka Piotr Tomasz Marek Ewa Kwame Kofi
Kwabena Ama Akua Chinedu Chioma Ngozi Adaeze Emeka Oluwaseun Olumide Ayodele Tunde Thandiwe
Sipho Zanele Thabo Tyrone DeShawn Jamal Malik Aaliyah Imani Keisha
    """
)

# Words that end a name ("Dr. Smith Said" -> "Smith"); compared lower-case.
_NOT_NAME = word_set(
    """
    the a an and or but so if as than then because although though unless while whether once
    both each every either neither such only even yes no not please thanks thank hi hello hey
    dear sir madam maam regards sincerely best kind warm all everyone anyone someone guys folks
    family friend friends i im my me we our you your he she they it this that there here what
    when where why how who which is are was were will would can could should may might must do
    does did have has had been being get got also just very really still now again since after
    before during from with without for in on at to of by about into over under said says told
    asked called named suggested recommended started stopped prescribed diagnosed confirmed
    explained wants thinks sure okay ok well good great fine sorry worried scared afraid tired
    happy merry new old older young same other another next last first second third some any
    many much more most few today tomorrow yesterday morning afternoon evening night day year
    monday tuesday wednesday thursday friday saturday sunday january february march april june
    july august september october november december god lord doctor doc dr mr mrs ms prof nurse
    sister team care portal chat chatdoctor oncogpt gpt ai bot assistant admin staff reception
    office pharmacy pharmacist lab laboratory radiology emergency oncologist surgeon physician
    specialist consultant registrar resident intern student retired group society association
    institute university college school medical memorial general regional hospital clinic
    centre center ward unit room department dept health insurance medicare medicaid patient
    patients individual cancer cancers tumor tumour tumors chemotherapy chemo radiotherapy
    radiation surgery immunotherapy therapy treatment biopsy scan stage grade type cycle cycles
    dose doses oncology lung breast colon prostate liver positive negative diagnosis prognosis
    pathology report results blood test tests hormone targeted palliative hospice remission
    relapse infusion port trial study protocol regimen tablet pain nausea fatigue side effects
    symptoms street avenue road lane drive court place way boulevard chinese western english
    grandma grandpa granny nana mum mom dad mother father husband wife son daughter uncle aunt
    brother sister grandmother grandfather auntie
    american indian african asian european japanese korean german french spanish italian
    russian arabic british canadian australian traditional benign connective
    """
)
# A candidate containing one of these is no person at all: eponyms and trade names ("a cancer
# called Hodgkin lymphoma", "a drug called Keytruda", "Ann Arbor stage IIB").
_EPONYMS = word_set(
    """
    arbor hodgkin non-hodgkin ewing wilms kaposi burkitt merkel hurthle hürthle waldenström
    waldenstrom krukenberg klatskin pancoast sézary sezary castleman fraumeni li-fraumeni
    reed-sternberg sternberg gleason breslow karnofsky whipple hickman ommaya trousseau virchow
    peutz-jeghers hippel-lindau kupffer langerhans sertoli leydig binet dukes rai clark
    masaoka enneking fuhrman nottingham lugano durie
    keytruda opdivo tagrisso xalkori herceptin avastin gleevec imbruvica ibrance lynparza
    tecentriq yervoy alecensa lorbrena rituxan revlimid xeloda zytiga xtandi tarceva iressa
    kadcyla enhertu perjeta darzalex velcade neulasta zofran decadron lumakras nexavar sutent
    votrient stivarga lenvima cabometyx imfinzi bavencio libtayo kisqali verzenio tukysa
    nerlynx tabrecta tepmetko retevmo gavreto vitrakvi rozlytrek tafinlar mekinist braftovi
    mektovi erbitux vectibix lonsurf abraxane taxotere gemzar alimta adriamycin cytoxan oncovin
    tamoxifen arimidex femara aromasin faslodex lupron zoladex prolia xgeva zometa opdualag
    """
)
# Disease / anatomy / institution nouns: inside or right after a candidate they make it an
# eponym or a place ("Edward syndrome", "Merkel cell", "King Edward Medical University").
_MEDICAL_NOUNS = word_set(
    """
    lymphoma lymphomas sarcoma sarcomas tumor tumors tumour tumours disease syndrome cell cells
    carcinoma node nodes nodule sign score scale classification staging stage procedure
    operation resection catheter line reservoir esophagus oesophagus macroglobulinemia
    transformation criteria grade level index test stain body bodies protein phenomenon
    thickness performance status translocation chromosome mutation gene toxin virus wort
    university hospital college school institute clinic centre center foundation medical
    memorial
    """
)
# Generic drug stems (crizotinib, pembrolizumab, carboplatin) and disease suffixes (-itis, -oma).
_MEDICAL_WORD = re.compile(
    r"[a-z-]{3,}(?:mab|nib|lib|parib|platin|rubicin|taxel|tecan|mustine|citabine|fosfamide"
    r"|ciclib|zomib|lisib|degib|trozole|lutamide|relin|lidomide|xifen|sone|olone|mycin|trexate"
    r"|azole|osis|itis|emia|aemia|ectomy|ology|rrhea|rrhoea|rrhagia|algia|pathy|plasia)"
    r"|[a-z-]{4,}omas?"  # lymphoma, melanoma; not Thomas
)
# "St. Louis", "Saint Lucia", "King Edward": places and institutions, not people.
_PLACE_BEFORE = re.compile(
    r"(?:\bSt\.?|\bSaint|\bSan|\bSanta|\bKing|\bQueen|\bLake|\bMount|\bFort)[ \t]+$"
)
_WORD_AFTER = re.compile(r"(?:['’]s?)?[ \t-]+([A-Za-z]+)")
_SURNAME = re.compile(rf"(?:{_CHINESE_SURNAMES})")
# Two pinyin words that are no person: places, exercises and the herbs of Chinese medicine.
_PINYIN_NOT_NAMES = frozenset(
    """hong kong|tai chi|qi gong|feng shui|yin yang|ma huang|huang qi|ren shen|fu ling|bai zhu|
    huang lian|huang qin|bai shao|chai hu|dan shen|shan yao|ban xia|chen pi|san qi|tian ma|
    ling zhi|yun zhi|jin yin|gou qi|zhu ling|dang shen|wu wei|bai he|xi an|xiao yao""".replace(
        "\n", ""
    ).split("|")
)
_FORMULA_WORDS = frozenset(["Tang", "Wan", "San", "Yin", "Gao", "Dan"])
_TITLE_BEFORE = re.compile(r"[A-Z][a-z]+[ \t]+$")
# Preparations of Chinese medicine: "Xiao Chaihu Tang" is a decoction, not Mr. Xiao.
_FORMULA_AFTER = re.compile(
    r"[ \t]+(?:Tang|Wan|San|Pian|Yin|Gao|Dan|Capsules?|Granules?|Tablets?|Pills?|Injection|"
    r"Decoction|Powder|Oral)\b"
)

# Places at least as large as a state or province: kept when ``places`` is "cities".
_REGIONS = frozenset(
    """china|united states|usa|us|america|canada|mexico|brazil|argentina|chile|peru|colombia|
    uk|united kingdom|britain|great britain|england|scotland|wales|ireland|northern ireland|
    france|germany|italy|spain|portugal|netherlands|belgium|switzerland|austria|sweden|norway|
    denmark|finland|iceland|poland|russia|ukraine|greece|turkey|israel|egypt|iran|iraq|saudi
    arabia|pakistan|india|bangladesh|nepal|sri lanka|thailand|vietnam|malaysia|singapore|
    indonesia|philippines|japan|korea|south korea|north korea|taiwan|mongolia|australia|
    new zealand|nigeria|kenya|ghana|ethiopia|south africa|europe|asia|africa|north america|
    south america|latin america|oceania|middle east|the united states|the uk|the us|
    alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia|
    hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|
    michigan|minnesota|mississippi|missouri|montana|nebraska|nevada|new hampshire|new jersey|
    new mexico|new york state|north carolina|north dakota|ohio|oklahoma|oregon|pennsylvania|
    rhode island|south carolina|south dakota|tennessee|texas|utah|vermont|virginia|washington
    state|west virginia|wisconsin|wyoming|ontario|quebec|british columbia|alberta|
    anhui|fujian|gansu|guangdong|guangxi|guizhou|hainan|hebei|heilongjiang|henan|hubei|hunan|
    jiangsu|jiangxi|jilin|liaoning|inner mongolia|ningxia|qinghai|shaanxi|shandong|shanxi|
    sichuan|tibet|xinjiang|yunnan|zhejiang|hong kong|macau|macao""".replace("\n", "").split("|")
)
_STREET_END = re.compile(rf"\b{_STREET_SUFFIX}\b")
_INSTITUTION_WORD = re.compile(
    r"\b(?:Hospital|Clinic|Infirmary|Sanatorium|Cancer Cent(?:er|re)|Medical Cent(?:er|re)|"
    r"Cancer Institute|Health System)\b"
)

# A common given name, optionally followed by surnames: "Sarah Connor", "Wei Zhang".
_GIVEN_NAME_RULE = (
    "NAME",
    rf"(?=[A-Z])(?<![\w-])(?P<NAME>(?:{'|'.join(sorted(_FIRST_NAMES, key=len, reverse=True))})"
    rf"(?!\w)(?:{_NEXT}){{0,3}})",
)


# Rules whose matches need a check of their own before they become a kind.
_INTERNAL = {"CNAME": "NAME", "AGEAPP": "AGE"}


def _compile(sources: list[tuple[str, str]]) -> list[tuple[str, re.Pattern[str], tuple[str, ...]]]:
    """Compile the table once; remember which named groups are kinds (the sub-spans)."""
    rules = []
    for kind, source in sources:
        pattern = re.compile(source)
        groups = tuple(g for g in pattern.groupindex if g in KINDS or g in _INTERNAL)
        rules.append((kind, pattern, groups))
    return rules


_RULES = _compile([*_RULE_SOURCES, _GIVEN_NAME_RULE])
_PERSON_BEFORE = re.compile(
    rf"(?:\b{_RELATION}|(?i:grandma|grandpa|granny|mum|mom|dad|here)|{_UP}{_LO}+)[ \t]*$"
)
_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(KINDS) + r")\]")
_WORD = re.compile(r"\S+")
_DIGIT = re.compile(r"\d")
_EXTENSION_AT = re.compile(r"(?i)[ \t,]*(?:x|ext)")


def _candidates(text: str) -> list[tuple[int, int, int, str]]:
    """Every rule match as (priority, start, end, kind); named groups give sub-spans."""
    found: list[tuple[int, int, int, str]] = []
    for priority, (kind, pattern, groups) in enumerate(_RULES):
        for match in pattern.finditer(text):
            spans = [(g, match.span(g)) for g in groups if match.start(g) >= 0]
            for span_kind, (start, end) in spans or [(kind, match.span())]:
                if end > start:
                    found.append((priority, start, end, span_kind))
    return found


def _is_medical(word: str) -> bool:
    return word in _EPONYMS or word in _MEDICAL_NOUNS or bool(_MEDICAL_WORD.fullmatch(word))


def _clean_name(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Trim a name candidate at its first non-name word; None when it is no person at all."""
    words = [
        (m.end(), re.sub(r"['’]s$", "", m.group().strip(".,;:!?").lower()))
        for m in _WORD.finditer(text, start, end)
    ]
    if any(len(word) > 1 and _is_medical(word) for _, word in words):
        return None  # "Edward syndrome", "Hodgkin", "Keytruda", "Sporotrichosis"
    if _PLACE_BEFORE.search(text, max(0, start - 8), start) or text[start - 1 : start] == "-":
        return None  # "St. Louis encephalitis", "Paterson-Kelly"
    keep = start
    for word_end, word in words:
        if len(word) == 1:  # an initial ("A." in "Dr. A. Brown") never ends a name
            continue
        if word in _NOT_NAME:
            break
        keep = word_end
    after = _WORD_AFTER.match(text, keep)
    if keep == start or (after and _is_medical(after.group(1).lower())):
        return None  # "Dr. Please ..."; "Ewing sarcoma", "Merkel cell"
    return start, keep


def _chinese_name(text: str, start: int, end: int) -> tuple[int, int] | None:
    """A family name and a pinyin given name (either order); not a place, herb or formula."""
    first, _, second = text[start:end].partition(" ")
    surname_first = bool(_SURNAME.fullmatch(first))
    if not _GIVEN_PINYIN.fullmatch((second if surname_first else first).lower()):
        return None
    if not surname_first and (second in _FORMULA_WORDS or _TITLE_BEFORE.search(text, 0, start)):
        return None  # "Xiao Chaihu Tang": a run of pinyin words is a formula, not a name
    if text[start:end].lower() in _PINYIN_NOT_NAMES or _FORMULA_AFTER.match(text, end):
        return None
    return _clean_name(text, start, end)


def _clean_institution(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Drop a leading "the"/"of"; None when every word is generic ("the Cancer Hospital")."""
    while (m := re.match(r"(?:the|of|and|&)[ \t]+", text[start:end])) is not None:
        start += m.end()
    words = [w.strip(".,").lower() for w in text[start:end].split()]
    if all(w in _GENERIC_INSTITUTION_WORDS or w in _NOT_NAME for w in words):
        return None
    return start, end


def _valid(text: str, start: int, end: int, kind: str) -> tuple[int, int] | None:
    """Kind-specific checks on a candidate span; the (possibly trimmed) span, or None."""
    if kind == "NAME":
        return _clean_name(text, start, end)
    if kind == "CNAME":
        return _chinese_name(text, start, end)
    if kind == "AGEAPP":  # "Grandma, ninety-three, has ...", "Zhang Wei, 95, asked"
        comma = text.rfind(",", 0, start) if text[start - 1 : start] != "(" else start - 1
        before = text.rfind("(", 0, start)
        at = max(comma, before)
        return (
            (start, end) if at >= 0 and _PERSON_BEFORE.search(text, max(0, at - 40), at) else None
        )
    if kind == "HOSPITAL":
        return _clean_institution(text, start, end)
    if kind in ("PHONE", "FAX"):
        number = _EXTENSION_AT.split(text[start:end])[0]  # the extension's digits don't count
        return (start, end) if 7 <= len(_DIGIT.findall(number)) <= 15 else None
    return start, end


def _resolve(candidates: list[tuple[int, int, int, str]]) -> list[Span]:
    """Keep non-overlapping spans: earlier rules first, then longer spans."""
    candidates.sort(key=lambda c: (c[0], c[1] - c[2], c[1]))
    starts: list[int] = []
    chosen: list[Span] = []
    for _, start, end, kind in candidates:
        i = bisect_left(starts, start)
        if (i > 0 and chosen[i - 1].end > start) or (i < len(starts) and starts[i] < end):
            continue
        starts.insert(i, start)
        chosen.insert(i, Span(start, end, kind))
    return chosen


def _entity_kind(text: str, start: int, end: int, label: str, config: DeidConfig) -> str | None:
    """What a model entity becomes under ``config``, or None when the rules veto it."""
    words = [w.strip(".,;:()'’").lower() for w in text[start:end].split()]
    if not text[start].isupper() or text[start:end].isupper():
        return None  # "mg/dL", "NSCLC"
    if any(_DIGIT.search(w) or _is_medical(w) for w in words):
        return None  # "Gleason 4+3=7", "Xalkori", "NSCLC": staging, drugs and genes stay
    if label == "PERSON":
        return "NAME"
    if _INSTITUTION_WORD.search(text, start, end):
        return "HOSPITAL" if config.hospitals else None
    if label == "FAC" and _STREET_END.search(text, start, end):
        return "ADDRESS"  # "Cedar Ave, Tampere" without a house number
    if label in ("GPE", "LOC") and config.places != "none":
        keep = _REGIONS if config.places == "cities" else frozenset()
        return None if " ".join(words) in keep else "PLACE"
    return None  # other organisations and facilities: the rules find street addresses


def _herb_or_formula(name: str) -> bool:
    """ "Huang Qi", "Xiao Chaihu Tang": Chinese medicine the model takes for people."""
    words = name.split()
    return name.lower() in _PINYIN_NOT_NAMES or (len(words) >= 3 and words[-1] in _FORMULA_WORDS)


def _entities(text: str, config: DeidConfig) -> list[tuple[int, int, int, str]]:
    """The model's entities as candidates ranked after every rule; names pass _clean_name()."""
    from oncogpt.data.deid_ner import entities

    found = []
    for start, end, label in entities(text, config.gate):
        kind = _entity_kind(text, start, end, label, config)
        if kind == "NAME" and _herb_or_formula(text[start:end]):
            continue
        span = _clean_name(text, start, end) if kind == "NAME" else (start, end)
        if kind and span:
            found.append((len(_RULES), *span, kind))
    return found


def find_identifiers(text: str, config: DeidConfig = DEFAULT) -> list[Span]:
    """Sorted, non-overlapping spans of identifiers in ``text`` (placeholders are skipped)."""
    protected = [m.span() for m in _PLACEHOLDER.finditer(text)]
    kept: list[tuple[int, int, int, str]] = []
    for priority, start, end, kind in _candidates(text):
        span = _valid(text, start, end, kind)
        if span is None or (kind == "HOSPITAL" and not config.hospitals):
            continue
        if kind == "PLACE" and config.places == "none":
            continue
        kept.append((priority, span[0], span[1], _INTERNAL.get(kind, kind)))
    if config.ner:
        kept += _entities(text, config)
    return _resolve([c for c in kept if not any(s < c[2] and c[1] < e for s, e in protected)])


def deidentify(text: str, config: DeidConfig = DEFAULT) -> tuple[str, Counter[str]]:
    """Replace identifiers by typed placeholders ("[NAME]", "[DATE]"...); count them per kind."""
    spans = find_identifiers(text, config)
    parts: list[str] = []
    position = 0
    for span in spans:
        parts += [text[position : span.start], f"[{span.kind}]"]
        position = span.end
    parts.append(text[position:])
    return "".join(parts), Counter(span.kind for span in spans)
