"""Safety layer applied by the generation engine to every front end.

* :func:`assess` reads the patient's message and flags emergencies described *now* (red flags:
  neutropenic fever, breathing difficulty, chest pain, heavy bleeding, altered consciousness,
  cord compression, severe pain, cannot swallow or keep fluids down, SVC swelling, fainting...)
  and requests for help to harm oneself or others.
* :func:`apply_safety` prepends an urgent-care instruction to the model's answer for red flags,
  whatever the model said, and replaces the answer by a crisis message for harm.

Rule-based, offline and fast (about 0.2 ms of CPU per message). OncoGPT is a research model, not
for clinical use: these rules reduce harm, they do not triage patients.

``python -m oncogpt.safety --eval`` measures red-flag recall/precision on ``../shared/data``.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from oncogpt.data.categorize import GatedPattern

URGENT_CARE_MESSAGE = (
    "URGENT: what you describe can be a medical emergency. Seek urgent care now: call your "
    "local emergency number (911 in the US, 112 in Europe, 999 in the UK, 120 in China), go to "
    "the nearest emergency department, or call your oncology team's 24-hour line. Do not wait "
    "for an answer here."
)
DISCLAIMER = (
    "OncoGPT is a research model. Its answers are not medical advice and must not be used for "
    "clinical decisions; always consult a qualified doctor."
)
CRISIS_MESSAGE = (
    "I can't help with that, but I don't want you to face this alone. If you are thinking about "
    "ending your life or harming yourself or someone else, please talk to someone right now:\n"
    "- If anyone is in immediate danger, call your local emergency number (911 in the US, 112 "
    "in Europe, 999 in the UK) or go to the nearest emergency department.\n"
    "- US: call or text 988 (Suicide & Crisis Lifeline).\n"
    "- UK and Ireland: call Samaritans on 116 123 (free, 24 hours).\n"
    "- Elsewhere: find a free, confidential helpline at https://findahelpline.com.\n"
    "You can also tell a family member, a friend, or your doctor or oncology team how you feel "
    "today. A serious illness is a heavy burden, and there are people who want to help you "
    "carry it."
)

# Repository root is parents[1] of oncogpt/safety.py; the shared data sits beside it.
DATA_DIR: Path = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# --------------------------------------------------------------------------------------------
# Red-flag rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedFlagRule:
    """One emergency. ``pattern`` finds a mention; ``context`` (optional) must also occur
    somewhere in the message, e.g. fever only counts in a patient with cancer treatment."""

    reason: str
    pattern: str
    context: str | None = None


# Fever is an emergency for a patient on chemotherapy (neutropenic sepsis): the context is any
# cancer or cancer-treatment word, nearly always present in OncoGPT conversations.
_CANCER_CONTEXT = (
    r"chemo|cancer|tumou?r|carcinoma|malignan|metasta|leuka?emia|lymphoma|myeloma|sarcoma|"
    r"radiotherapy|radiation|immunotherapy|targeted|oncolog|neutropeni|white (?:blood )?cells?"
)
# Cord compression needs spine/bone disease or advanced (metastatic) cancer.
_CORD_CONTEXT = (
    r"spin\w*|vertebra|lumbar|thoracic|sacr\w*|bone|back pain|metasta|spread|advanced|"
    r"late stage|stage (?:iv|4)|fourth stage"
)

_CANT = "can't|cannot|can not|couldn't|could not|unable to"


def _lead(heads: str, tail: str) -> str:
    """``_lead("a|b", " x")`` = ``"a x|b x"``. Alternatives that each start with a literal let
    Python's regex engine skip ahead fast; a leading group, ``\\b`` or lookbehind is ~5x slower,
    so word-start checks are written as a lookbehind *after* the literal."""
    return "|".join(head + tail for head in heads.split("|"))


RED_FLAG_RULES: tuple[RedFlagRule, ...] = (
    RedFlagRule(
        "neutropenic_fever",
        r"fever(?<!anti fever)(?! clinic)|febrile|high temperature|temperature (?:of |is |was |"
        r"reached )?(?:above |over )?(?:38|39|40)|"
        + _lead("38|39|40", r"(?:\.\d)? ?(?:°|degrees?\b|c\b)")
        + r"|body (?:is |feels )?(?:slightly |a bit )?hot|chills",
        context=_CANCER_CONTEXT,
    ),
    RedFlagRule(
        "breathing_difficulty",
        _lead("difficult|hard|trouble|struggl|unable|" + _CANT, r"\w* (?:\w+ )?(?:to )?breath")
        + r"|breath\w* (?:is |was |has been |became )?(?:a bit |very |so |quite |more )?"
        r"(?:difficult|hard|laboured|labored|rapid|fast|heavy)|short of breath|shortness of "
        r"breath|breathless|out of breath|dyspn|respiratory failure|respiratory distress|gasping|"
        r"suffocat|wheez|panting|"
        + _lead(_CANT + "|can only", r" (?:lie down|lie flat|sleep on (?:my|his|her) back)")
        + "|"
        + _lead(
            "oxygen saturation|spo2|blood oxygen",
            r" (?:\w+ ){0,3}(?:low|dropp|fell|below|"
            r"[5-8]\d\b)",
        )
        + "|"
        + _lead(_CANT, r" catch (?:his |her |my |their )?breath")
        + r"|lips (?:are |is |have )?(?:turning |turned |gone |going )?(?:blue|purple)|"
        r"turning blue|cyanos|cyanotic",
    ),
    RedFlagRule(
        "chest_pain",
        r"chest (?:\w+ ){0,2}pain|pain in (?:the |my |his |her )?chest|chest hurts|chest aches|"
        r"chest (?:is )?crushing",
    ),
    RedFlagRule(
        "bleeding",
        r"cough\w* (?:up |out )?(?:a mouthful of |a lot of |much |some |fresh )?blood|"
        r"spit\w* (?:up |out )?blood|vomit\w* (?:up )?(?:a lot of |some )?blood|"
        r"hemoptysis|haemoptysis|hematemesis|haematemesis|melena|melaena|tarry stool|"
        r"stools? (?:\w+ ){0,3}(?:black|tarry)|"
        r"blood in (?:the |his |her |my )?(?:stool|vomit)|black (?:and tarry )?stool|bloody stool|"
        r"bleeding (?:\w+ )?(?:heavily|badly|a lot|profusely|(?:won't|doesn't|does not|can't|"
        r"cannot) stop)|nosebleeds? (?:\w+ ){0,3}(?:won't|doesn't|does not|can't|cannot) stop|"
        + _lead(
            "heavy|severe|massive|uncontrolled|profuse|persistent",
            r" (?:\w+ )?(?:bleeding|hemorrhage|haemorrhage)",
        )
        + r"|hematuria persists|bloody sputum|bloody phlegm|"
        + _lead("sputum|phlegm", r" (?:\w+ ){0,2}blood(?! ?streak)")
        + r"|blood in the sputum(?! ?streak)|blood in sputum|blood with sputum|"
        r"clots of blood in (?:the |his |her |my )?urine|"
        r"blood clots? in (?:the |his |her |my )?urine|"
        + _lead("won't|will not|doesn't|does not|can't|cannot", " stop bleeding")
        + r"|bleeding (?:\w+ ){0,6}(?:and )?it (?:won't|will not|doesn't|does not|can't) stop|"
        r"bleeding from the tumou?r",
    ),
    RedFlagRule(
        "altered_consciousness",
        r"confusion|"
        + _lead(
            "is|was|became|become|becomes|gets|got|getting|seems|seemed|very|mentally", " confused"
        )
        + r"|disorient|delirium|delirious|coma(?<![a-z]coma)\b|comatose|unconscious|unresponsive|"
        r"not responding|lost consciousness|loss of consciousness|losing consciousness|seizure|"
        r"convuls|epileptic|lethargic|talking nonsense|"
        + _lead("can't|cannot|hard to|difficult to", " wake")
        + "|"
        + _lead("doesn't|does not|didn't", r" recogni[sz]e")
        + "|"
        + _lead("very|extremely|so|unusually", " drowsy")
        + r"|not making sense|making no sense|"
        + _lead("had|having|has", r" (?:a )?fits?\b"),
    ),
    RedFlagRule(
        # stroke-like signs or brain metastasis with new deficits
        "neuro_deficit",
        r"slurred speech|"
        + _lead(_CANT, r" speak (?:clearly|properly)")
        + r"|sudden\w* (?:\w+ ){0,3}(?:blind|paraly|numb|weak|(?:can't|cannot|couldn't) "
        r"(?:move|speak|see|open))|hemipleg|facial droop|face droop|face is droop|became blind|"
        + _lead("lost|loss of|losing", r" (?:his |her |my )?(?:vision|sight)")
        + r"|one side of (?:the|his|her|my) body",
    ),
    RedFlagRule(
        "raised_intracranial_pressure",
        _lead("high|increased|raised|elevated", " intracranial pressure")
        + "|"
        + _lead(
            "severe|intense|terrible|worst|persistent",
            r" headaches? (?:\w+ ){0,4}(?:vomit|blurred vision)",
        )
        + r"|headache and vomiting|headaches and vomiting|headache with vomiting|"
        r"worst headache|thunderclap headache|sudden\w* (?:\w+ ){0,2}headache",
    ),
    RedFlagRule(
        "cord_compression",
        _lead(
            "leg|lower limb|lower extremit|feet",
            r"\w* (?:\w+ ){0,3}(?:numb|weak|paraly|(?:can't|cannot) move)",
        )
        + "|"
        + _lead("numb|weak", r"\w* (?:\w+ ){0,3}(?:legs?|lower limbs?|feet)\b")
        + "|"
        + _lead(_CANT, r" (?:stand or )?walk")
        + r"|paralys|paralyz|bladder control|bowel control|incontinen|urinary retention|"
        + _lead(_CANT + "|lost", r" control (?:of )?(?:his |her |my |the )?(?:bladder|bowel)")
        + "|"
        + _lead(_CANT, r" (?:urinate|pee)")
        + "|"
        + _lead(
            _CANT + "|no longer|doesn't|does not",
            r" feel (?:his |her |my |the |their )?(?:legs|feet|lower body)",
        ),
        context=_CORD_CONTEXT,
    ),
    RedFlagRule(
        "severe_pain",
        _lead(
            "severe|excruciating|unbearable|intolerable|extreme|intense|terrible|agoni|"
            "uncontroll|unrelenting|aggravat|worsening|increasing",
            r"\w* (?:\w+ ){0,2}pain",
        )
        + r"|pain\w* (?:\w+ ){0,4}(?:unbearable|intolerable|uncontrolled|excruciating|severe|"
        r"worse and worse|killing|aggravat|intensif|getting worse|not working|doesn't help|"
        r"don't help|do not help|does not help|no relief|no effect|useless|terrible|intense)|"
        + _lead("hurts|hurt|hurting|painful", r" (?:so |very )?(?:badly|bad|a lot)")
        + "|"
        + _lead("really|very|so|extremely", " painful")
        + r"|whole body (?:is )?(?:in )?pain|in pain\b|in a lot of pain|in so much pain|"
        r"in severe pain|in constant pain|"
        + _lead("can't|cannot", " (?:bear|stand) the pain")
        + "|"
        + _lead("pain|painful|hurts", r" (?:\w+ ){0,5}(?:can't|cannot|unable to) sleep"),
    ),
    RedFlagRule(
        "cannot_swallow_or_keep_fluids",
        _lead(
            "difficult|hard|trouble|unable|can't|cannot|can not|couldn't",
            r"\w* (?:\w+ )?(?:to )?swallow(?! (?:pills?|tablets?|capsules?))",
        )
        + r"|dysphagia|"
        + _lead(_CANT, r" (?:eat or drink|drink|keep (?:\w+ ){0,2}down)")
        # Any vomiting going on now: a patient on treatment who vomits can dehydrate fast, and
        # "is it persistent?" is for a clinician to judge (recall first).
        + r"|vomit|throw up|throwing up|threw up|"
        + _lead(
            "hasn't|has not|haven't|have not|hadn't",
            r" (?:eaten|drunk|eaten or drunk) (?:\w+ ){0,3}(?:for|in) (?:\w+ ){0,2}days",
        )
        + r"|intestinal obstruction|bowel obstruction",
    ),
    RedFlagRule(
        # kidney failure / tumour lysis / dehydration
        "no_urine",
        r"no urine|little urine|"
        + _lead("hasn't|has not|haven't|have not|not", r" (?:urinated|passed urine|peed)")
        + "|"
        + _lead(_CANT, r" (?:urinate|pee|pass urine)")
        + r"|anuria|oliguria",
    ),
    RedFlagRule(
        # raised calcium with bone disease: thirst, confusion, constipation, can kill
        "hypercalcaemia",
        r"hypercalc|high (?:blood |serum )?calcium|calcium (?:\w+ ){0,2}(?:high|elevated|raised)",
    ),
    RedFlagRule(
        # dehydration on treatment
        "severe_diarrhoea",
        r"diarrh\w* (?:\w+ ){0,5}(?:[6-9]|\d\d|six|seven|eight|nine|ten|many) times|"
        r"severe diarrh|diarrh\w* (?:\w+ ){0,6}(?:dizz|faint|dehydrat)",
        context=_CANCER_CONTEXT,
    ),
    RedFlagRule(
        "anaphylaxis",
        r"anaphyla|throat (?:is )?(?:closing|swelling)|swollen (?:lips|tongue|throat)|"
        + _lead("lips|tongue|throat", r" (?:\w+ )?swell"),
    ),
    RedFlagRule(
        "svc_swelling",
        _lead("face|facial|neck", r" (?:\w+ ){0,2}(?:swell|swollen|puff|edema|oedema)")
        + r"|swollen face|swollen neck|swelling (?:of|in) (?:the |his |her |my )?(?:face|neck)|"
        r"superior vena cava|svc\b(?<![a-z]svc)",
    ),
    RedFlagRule(
        "circulation",
        r"heart (?:is |was )?racing|pulse (?:is |was )?racing|racing heart|"
        + _lead("pulse|heart rate", r" (?:\w+ ){0,3}(?:1[3-9]\d|[2-4]\d)\b")
        + r"|blood pressure (?:\w+ ){0,2}(?:dropp|fell|very low|too low)|cold sweat|"
        r"in shock\b|into shock\b",
    ),
    RedFlagRule(
        "fainting",
        r"faint(?:ed|ing|s)?\b|passed out|passing out|syncope|collapsed(?<!lung collapsed)|"
        r"blacked out",
    ),
    RedFlagRule(
        "thrombosis",
        r"pulmonary embol|deep vein thrombosis|dvt\b(?<![a-z]dvt)|blood clot|"
        + _lead(
            "leg|arm|calf",
            r" (?:\w+ ){0,3}(?:swollen|swelling) (?:\w+ ){0,4}(?:painful|"
            r"pain|red|warm)",
        ),
    ),
)

# Negation just before a mention ("no fever", "without chest pain", "did not faint").
# "can't"/"cannot" are not negations of a symptom ("can't eat and has fever"), and "no longer",
# "not sure", "don't know" do not negate what follows.
_NEGATION_RX = re.compile(
    r"\b(?:no|not|never|without|nor|den(?:y|ies|ied)|free of|absence of|negative for|ruled? out|"
    r"(?:did|does|do|has|have|had|is|was|are|were|wo)n't)\b(?! longer| sure| only| just| know)"
)
# Hypothetical or preventive mentions ("to prevent fever", "if he gets a fever").
_HYPOTHETICAL_RX = re.compile(
    r"\b(?:prevent\w*|avoid\w*|in case|if|what if|risk of|chance of|prone to|watch (?:out )?for|"
    r"signs? of|worried about|afraid of|causes?(?! of)|"
    r"side effects? (?:such as|like|include|including|are)|when should)\b"
)
# "Is vomiting a side effect of cisplatin?" asks about a side effect, it does not report one.
_SIDE_EFFECT_AFTER_RX = re.compile(r"^(?: \w+){0,3} side effects?\b")
# Mild or occasional symptoms are not emergencies ("occasionally chest pain").
_MILD_RX = re.compile(r"\b(?:occasional(?:ly)?|slight(?:ly)?|mild(?:ly)?|a little)\b")
# Past events ("last year he had fever", "coughed blood in 2019") unless the sentence also says
# it is happening now.
_HISTORY_RX = re.compile(
    r"\b(?:\d+|one|two|three|four|five|six|several|many|a few) years? ago|a year ago|last year|"
    r"the year before|(?:19|20)\d\d|for (?:\d+|two|three|four|five|ten|many|several) years|"
    r"previously|used to|history of|once had|"
    r"at (?:that|the) time|at the (?:beginning|start)|initially|at first|"
    r"before (?:the )?(?:surgery|operation|diagnosis|chemo\w*|treatment)"
)
_CURRENT_RX = re.compile(
    r"\b(?:now|currently|recently|again|still|these days|today|yesterday|this (?:morning|week)|"
    r"since|for the past|keeps?|persist\w*|worse|worsen\w*)\b"
)
# A mention followed by its resolution ("the cough disappeared", "vomiting stopped").
_RESOLVED_RX = re.compile(
    r"^\W*(?:\w+ ){0,3}?(?:(?:has |have |had |was |were )?(?:disappeared|subsided|subsides|"
    r"resolved|went away|gone|stopped|relieved|eased|improved|got better|under control))\b"
)
# Clause boundaries for negation scope; sentence boundaries for history scope.
_CLAUSE_RX = re.compile(r"[,;:.!?\n]| but | and | however | although | whereas ")
_SENTENCE_END_RX = re.compile(r"[.;!?\n]")
_WINDOW = 120
_WORD_TAIL_RX = re.compile(r"^\w+")


@dataclass(frozen=True)
class _CompiledRule:
    reason: str
    rx: GatedPattern
    context: re.Pattern[str] | None


# Every rule pattern starts each alternative with a literal, so each gets a substring gate.
_RULES: tuple[_CompiledRule, ...] = tuple(
    _CompiledRule(
        r.reason, GatedPattern.compile(r.pattern), re.compile(r.context) if r.context else None
    )
    for r in RED_FLAG_RULES
)

# --------------------------------------------------------------------------------------------
# Harm rules
# --------------------------------------------------------------------------------------------

_PERSON = (
    r"(?:my |his |her |their |our |the |a |an )?(?:husband|wife|mother|father|mom|mum|dad|son|"
    r"daughter|child|children|kids?|baby|brother|sister|boss|neighbou?r|partner|boyfriend|"
    r"girlfriend|grandmother|grandfather|grandpa|grandma|mother in law|father in law|patient|"
    r"man|woman|person|people|someone|somebody|him|her|them)\b"
)
_HARM_VERB = r"(?:kill|poison|murder|hurt|harm|strangle|smother|suffocate|get rid of|overdose)"
_KILL_VERB = r"(?:kill|poison|murder|strangle|smother|suffocate|get rid of)"

# Requests to harm oneself. "hurt myself" needs an intent ("I fell and hurt myself" is not a
# crisis); "suicide" counts unless denied. A "lethal dose" question counts when it is for
# oneself or for killing someone, not "is this dose safe for my father?".
SELF_HARM_PATTERNS: tuple[str, ...] = (
    _lead("kill|killing|end|ending", r" (?:my ?self|myself)"),
    _lead(
        "want|going|trying|tried|thinking|thought|urge|plan",
        r"\w* (?:about |of )?(?:to )?(?:hurt|harm|cut)\w* (?:my ?self|myself)",
    ),
    r"self harm|suicid(?<!not suicid)(?<!no suicid)(?<!n't suicid)(?<!denies suicid)",
    # third person only with a wish: "the disease will end his life" is a prognosis
    r"take my (?:own )?life|end my (?:own )?life|end it all|"
    + _lead("want|wish|plan|going|trying", r"\w* to (?:end|take) (?:his|her) (?:own )?life")
    + "|"
    r"i want to die|i wanna die|i'd rather die(?! than)|i would rather die(?! than)|want to end it|"
    r"better off dead|"
    r"i wish i (?:was|were) dead|not worth living|no reason to live|nothing to live for",
    _lead(
        "don't|doesn't|do not|does not|no longer",
        r" want to (?:live|be alive|go on)(?! (?:in|with|at|like|here|there|alone|on))",
    ),
    r"overdose (?:\w+ ){0,3}(?:to die|and die|on purpose)|"
    r"how many (?:\w+ ){0,4}(?:to die|to end (?:it|my life)|would kill me)|"
    r"lethal dose (?:\w+ ){0,3}(?:to die|for me)|fatal dose (?:\w+ ){0,3}(?:to die|for me)",
)
# Requests to harm others: an agent or a "how to/how much" request plus a person as target, so
# "chemo would kill him", "the pain is killing me" or "kill cancer cells" do not count.
OTHERS_HARM_PATTERNS: tuple[str, ...] = (
    _lead(
        "i|we",
        rf" (?:\w+ )?(?:want|wanna|would like|am going|are going|plan|need|intend|"
        rf"thinking about|decided)\w* (?:to )?{_HARM_VERB}\w* {_PERSON}",
    ),
    # "how do I hurt him less" or "how can I not hurt him" are not requests to harm
    rf"how (?:can|do|could|should|to) (?:i |we )?(?:\w+ )?{_KILL_VERB} {_PERSON}",
    rf"how (?:much|many) (?:\w+ ){{0,5}}(?:to|would|will|could|does it take to) "
    rf"(?:kill|poison) {_PERSON}",
    _lead("lethal dose|fatal dose", rf" (?:\w+ ){{0,4}}to kill {_PERSON}"),
    rf"poison(?:ing)? (?:my|our) {_PERSON}|help me {_HARM_VERB} {_PERSON}",
)
_SELF_RX = GatedPattern.compile("|".join(SELF_HARM_PATTERNS))
_OTHERS_RX = GatedPattern.compile("|".join(OTHERS_HARM_PATTERNS))

# --------------------------------------------------------------------------------------------
# Assessment
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SafetyAssessment:
    """What :func:`assess` found in a patient's message."""

    red_flag: bool
    red_flag_reasons: tuple[str, ...]
    harm: str | None  # "self" | "others" | None


_SPACES_RX = re.compile(r"\s+")


def _normalize(text: str) -> str:
    """Lower-case, unify apostrophes, hyphens and whitespace."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("-", " ")
    return _SPACES_RX.sub(" ", text.lower())


def _clause_before(text: str, start: int) -> str:
    window = text[max(0, start - _WINDOW) : start]
    cuts = [m.end() for m in _CLAUSE_RX.finditer(window)]
    return window[cuts[-1] :] if cuts else window


def _sentence_around(text: str, start: int, end: int) -> str:
    before = text[max(0, start - _WINDOW) : start]
    cuts = [m.end() for m in _SENTENCE_END_RX.finditer(before)]
    after = text[end : end + _WINDOW]
    stop = _SENTENCE_END_RX.search(after)
    return (
        (before[cuts[-1] :] if cuts else before) + " " + (after[: stop.start()] if stop else after)
    )


def is_current(text: str, start: int, end: int) -> bool:
    """Whether the mention at ``text[start:end]`` is an event happening now: not negated,
    not hypothetical or preventive, not resolved, not only history."""
    clause = _clause_before(text, start)
    if _NEGATION_RX.search(clause) or _HYPOTHETICAL_RX.search(clause) or _MILD_RX.search(clause):
        return False
    # what follows the mention, from the end of its last word ("vomit|ing stopped")
    after = _WORD_TAIL_RX.sub("", text[end : end + 60], count=1)
    if _MILD_RX.match(after.lstrip()):
        return False
    if _RESOLVED_RX.match(after) or _SIDE_EFFECT_AFTER_RX.match(after):
        return False
    sentence = _sentence_around(text, start, end)
    return not (_HISTORY_RX.search(sentence) and not _CURRENT_RX.search(sentence))


def red_flag_reasons(text: str) -> tuple[str, ...]:
    """Reason names of the red-flag rules that fire on normalised ``text``."""
    reasons = []
    for rule in _RULES:
        if not rule.rx.may_match(text):
            continue
        if rule.context is not None and not rule.context.search(text):
            continue
        if any(is_current(text, m.start(), m.end()) for m in rule.rx.finditer(text)):
            reasons.append(rule.reason)
    return tuple(reasons)


def harm_of(text: str) -> str | None:
    """ "self", "others" or None for normalised ``text``. Others is checked first so that "the
    lethal dose for my husband" is not read as a self-harm question."""
    if _OTHERS_RX.search(text):
        return "others"
    if _SELF_RX.search(text):
        return "self"
    return None


def assess(text: str) -> SafetyAssessment:
    """Assess the patient's message."""
    norm = _normalize(text)
    reasons = red_flag_reasons(norm)
    return SafetyAssessment(red_flag=bool(reasons), red_flag_reasons=reasons, harm=harm_of(norm))


def apply_safety(answer: str, assessment: SafetyAssessment) -> str:
    """Apply the assessment to the model's answer.

    Harm: the crisis message replaces the answer (never pass on what the model said).
    Red flag: the urgent-care message is prepended, whatever the model said; applying twice
    does not prepend it twice.
    """
    if assessment.harm is not None:
        return CRISIS_MESSAGE
    if assessment.red_flag and not answer.startswith(URGENT_CARE_MESSAGE):
        return f"{URGENT_CARE_MESSAGE}\n\n{answer}" if answer.strip() else URGENT_CARE_MESSAGE
    return answer


# --------------------------------------------------------------------------------------------
# Evaluation (``python -m oncogpt.safety --eval``)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BinaryScores:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else math.nan


def binary_scores(pairs: Iterable[tuple[bool, bool]]) -> BinaryScores:
    """Counts from (predicted, gold) pairs."""
    tp = fp = fn = tn = 0
    for pred, gold in pairs:
        tp += pred and gold
        fp += pred and not gold
        fn += gold and not pred
        tn += not pred and not gold
    return BinaryScores(tp, fp, fn, tn)


def evaluate(data_dir: Path = DATA_DIR) -> dict[str, BinaryScores]:
    """Red-flag scores on the labelled questions per split (dev = even idx, heldout = odd)."""
    from oncogpt.data.categorize import load_labeled, split_of

    rows = [(lab, assess(item["question"]).red_flag) for item, lab in load_labeled(data_dir)]
    return {
        split: binary_scores(
            (pred, bool(lab["red_flag"]))
            for lab, pred in rows
            if split in ("all", split_of(lab["idx"]))
        )
        for split in ("dev", "heldout", "all")
    }


def _corpus_rates(data_dir: Path) -> dict[str, float]:
    """Harm and red-flag rates on both corpora, and the speed of :func:`assess`."""
    from oncogpt.data.categorize import load_general, load_labeled

    oncology = [item["question"] for item, _ in load_labeled(data_dir)]
    general = [item["input"] for item in load_general(data_dir)]
    start = time.process_time()  # CPU time: robust to a busy shared machine
    onc = [assess(text) for text in oncology]
    ms = 1000 * (time.process_time() - start) / len(oncology)
    gen = [assess(text) for text in general]
    return {
        "cpu_ms_per_message": ms,
        "harm_oncology": sum(a.harm is not None for a in onc) / len(onc),
        "harm_general": sum(a.harm is not None for a in gen) / len(gen),
        "red_flag_general": sum(a.red_flag for a in gen) / len(gen),
    }


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", action="store_true", help="measure on ../shared/data")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    if not args.eval:
        parser.print_help()
        return 0
    if not (args.data_dir / "oncogpt_qa_public.json").exists():
        print(f"data not found in {args.data_dir}")
        return 1
    print("red flags; dev = even idx (rules developed on it), heldout = odd idx (not inspected)")
    print(
        f"{'split':>8} {'recall':>7} {'prec':>7} {'F1':>7} {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4}"
    )
    scores = evaluate(args.data_dir)
    for split, sc in scores.items():
        print(
            f"{split:>8} {sc.recall:7.3f} {sc.precision:7.3f} {sc.f1:7.3f} "
            f"{sc.tp:4d} {sc.fp:4d} {sc.fn:4d} {sc.tn:4d}"
        )
    print(f"false negatives: {scores['all'].fn} of all 500 ({scores['heldout'].fn} held-out)")
    for key, value in _corpus_rates(args.data_dir).items():
        print(f"{key:>18}: {value:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
