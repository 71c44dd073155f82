"""Safety rules: red flags described now, and requests to harm.

* :func:`red_flag_reasons` finds emergencies described *now* in normalised text: neutropenic
  fever, breathing difficulty, chest pain, heavy bleeding, altered consciousness, cord
  compression, severe pain, cannot swallow or keep fluids down, SVC swelling, fainting...;
* :func:`harm_of` finds requests for help to harm oneself or others, and thoughts of death or
  suicide told without a request (often by a relative).

Rule-based, offline and fast (about 0.2 ms of CPU per message), and explainable: each rule has
a reason name. The learned triage (:mod:`oncogpt.safety.triage`) sits behind them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oncogpt.safety.policy import THOUGHTS
from oncogpt.text import GatedPattern, lead

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

# "cant"/"couldnt": patients often drop the apostrophe.
_CANT = "can't|cannot|can not|couldn't|could not|unable to|cant|couldnt"


RED_FLAG_RULES: tuple[RedFlagRule, ...] = (
    RedFlagRule(
        "neutropenic_fever",
        # "tumour fever" stays a red flag: on chemotherapy, infection cannot be told from it at
        # home (a low-grade fever, under 38 C, is graded "today" by the learned head instead)
        r"fever(?<!anti fever)(?<!low grade fever)(?<!low fever)(?! clinic)|febrile|"
        r"high temperature|temperature (?:of |is |was |reached )?(?:above |over )?(?:38|39|40)|"
        + lead("38|39|40", r"(?:\.\d)? ?(?:°|degrees?\b|c\b)")
        + r"|body (?:is |feels )?(?:slightly |a bit )?hot|chills|rigou?rs|shivering|shivery|"
        + lead("temp|temperature", r" (?:is |was |of |reached |now )?(?:3[89]|40)(?:[.,]\d)?\b"),
        context=_CANCER_CONTEXT,
    ),
    RedFlagRule(
        "breathing_difficulty",
        lead("difficult|hard|trouble|struggl|unable|" + _CANT, r"\w* (?:\w+ )?(?:to )?breath")
        + r"|breath\w* (?:is |was |has been |became )?(?:a bit |very |so |quite |more )?"
        r"(?:difficult|hard|laboured|labored|rapid|fast|heavy|short)|short of breath|shortness of "
        r"breath|breathless|out of breath|dyspn|respiratory failure|respiratory distress|gasping|"
        r"suffocat|wheez|panting|"
        + lead(_CANT + "|can only", r" (?:lie down|lie flat|sleep on (?:my|his|her) back)")
        + "|"
        + lead("can only|has to|have to|must", r" sleep (?:\w+ ){0,2}sitting")
        + "|"
        + lead(
            "oxygen saturation|spo2|blood oxygen",
            r" (?:\w+ ){0,3}(?:low|dropp|fell|below|"
            r"[5-8]\d\b)",
        )
        + "|"
        + lead(_CANT, r" catch (?:his |her |my |their )?breath")
        # Breathlessness on slight effort: "holds his breath and panics when he turns over".
        + "|"
        + lead(
            "hold|holds|holding",
            r" (?:his |her |my |their )?breath (?:\w+ ){0,4}(?:when|on|if|"
            r"after|panic)",
        )
        + "|"
        + lead(
            _CANT,
            r" (?:speak|say|finish|talk in) (?:a |one )?(?:full |whole |complete )?"
            r"sentences?",
        )
        + "|"
        + lead("sats|o2 sat|oxygen level|oxygen reading", r" (?:\w+ ){0,3}(?:[5-8]\d)\b")
        + r"|trach\w* (?:is |was )?(?:blocked|plugged)|stridor|noisy breathing|"
        r"breathing (?:is |very )?(?:noisy|slow\b)|"
        + lead("noise|whistle|high pitch", r"\w* (?:\w+ ){0,2}(?:when|while) breathing")
        + "|"
        + lead(_CANT, r" get (?:any |enough )?air")
        + "|"
        + lead(
            "breathing|respiratory rate|breaths",
            r" (?:is |of |at )?(?:[3-6]\d) (?:times |breaths )?(?:a|per) min",
        )
        # Dependence on oxygen: "can't do without oxygen", "needs oxygen all the time".
        + "|"
        + lead(_CANT + "|no longer", r" (?:do |go |manage |be |live )?without (?:the )?oxygen")
        + "|"
        + lead(_CANT, r" take (?:the )?oxygen off")
        + r"|needs? (?:the )?oxygen (?:all the time|all day|constantly|day and night|24)"
        r"|on oxygen (?:all the time|all day|constantly|day and night|24)"
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
        r"cough\w* (?:up |out )?(?:a mouthful of |mouthfuls of |a lot of |much |some |fresh |"
        r"bright red |dark red |"
        r"a (?:big |large |great )?amount of |a large amount of |a cup of |a cupful of )?blood|"
        r"spit\w* (?:up |out )?blood|vomit\w* (?:up )?(?:a lot of |some )?blood|"
        r"hemoptysis|haemoptysis|hematemesis|haematemesis|melena|melaena|tarry stool|"
        r"stools? (?:\w+ ){0,3}(?:black|tarry)|"
        r"blood in (?:the |his |her |my )?(?:stool|vomit)|black (?:and tarry )?stool|bloody stool|"
        r"bleeding (?:\w+ ){0,4}(?:heavily|badly|a lot|profusely|(?:won't|doesn't|does not|can't|"
        r"cannot) stop)|"
        + lead(
            "nosebleed|nose bleed",
            r"s? (?:\w+ ){0,3}(?:won't|will not|doesn't|does not|do not|"
            r"don't|can't|cannot) stop",
        )
        + r"|bleeding (?:is |was )?(?:very |so )?heavy|"
        + lead(
            "a lot of|lots of|much|heavy|fresh",
            r" (?:fresh |red )?blood (?:comes |coming |came )?(?:out )?from (?:the |his |her |my )?"
            r"(?:nose|mouth|vagina|rectum|anus|stoma|wound|tumou?r)",
        )
        + "|"
        + lead(
            "heavy|severe|massive|uncontrolled|profuse|persistent",
            r" (?:\w+ )?(?:bleeding|hemorrhage|haemorrhage)",
        )
        + r"|hematuria persists|bloody sputum|bloody phlegm|"
        + lead("sputum|phlegm", r" (?:\w+ ){0,2}blood(?! ?streak)")
        + r"|blood in the sputum(?! ?streak)|blood in sputum|blood with sputum|"
        r"clots of blood in (?:the |his |her |my )?urine|"
        r"blood clots? in (?:the |his |her |my )?urine|"
        + lead("won't|will not|doesn't|does not|can't|cannot", " stop bleeding")
        + r"|bleeding (?:\w+ ){0,6}(?:and )?it (?:won't|will not|doesn't|does not|can't) stop|"
        r"bleeding (?:\w+ ){0,6}(?:won't|will not|doesn't|does not|did not|didn't|can't|cannot) "
        r"stop|"
        r"bleeding from the tumou?r",
    ),
    RedFlagRule(
        "altered_consciousness",
        r"confusion|"
        + lead(
            "is|was|became|become|becomes|gets|got|getting|seems|seemed|very|mentally|now",
            " confused",
        )
        + r"|disorient|delirium|delirious|coma(?<![a-z]coma)\b|comatose|unconscious|unresponsive|"
        r"not responding|lost consciousness|loss of consciousness|losing consciousness|seizure|"
        r"convuls|epileptic|lethargic|talking nonsense|talks nonsense|says strange things|"
        + lead("doesn't|does not|didn't|did not", r" respond (?:\w+ ){0,2}(?:when|to)")
        + "|"
        + lead("can't|cannot|hard to|difficult to", " wake")
        + "|"
        + lead("doesn't|does not|didn't", r" recogni[sz]e")
        + "|"
        + lead("very|extremely|so|unusually", " drowsy")
        + r"|not making sense|making no sense|"
        + lead("had|having|has", r" (?:a )?fits?\b"),
    ),
    RedFlagRule(
        # stroke-like signs or brain metastasis with new deficits
        "neuro_deficit",
        r"slurred speech|"
        + lead(_CANT, r" speak (?:clearly|properly)")
        + r"|sudden\w* (?:\w+ ){0,3}(?:blind|paraly|numb|weak|(?:can't|cannot|couldn't) "
        r"(?:move|speak|see|open))|hemipleg|facial droop|face droop|face is droop|became blind|"
        + lead("lost|loss of|losing", r" (?:his |her |my )?(?:vision|sight)")
        + r"|one side of (?:the|his|her|my) body|mouth (?:is )?crooked|crooked mouth|"
        r"speech (?:is |has become |became |has gone |went )?(?:slurred|jumbled|garbled)|"
        r"dragging (?:his|her|my) (?:left |right )?(?:foot|leg)|"
        + lead(
            _CANT, r" (?:lift|raise|move) (?:his |her |my |the )?(?:right|left) (?:arm|leg|hand)"
        ),
    ),
    RedFlagRule(
        "raised_intracranial_pressure",
        lead("high|increased|raised|elevated", " intracranial pressure")
        + "|"
        + lead(
            "severe|intense|terrible|worst|persistent",
            r" headaches?,? (?:\w+ ){0,4}(?:vomit|blurred vision)",
        )
        + r"|headache and vomiting|headaches and vomiting|headache with vomiting|"
        r"worst headache|thunderclap headache|sudden\w* (?:\w+ ){0,2}headache",
    ),
    RedFlagRule(
        "cord_compression",
        lead(
            "leg|lower limb|lower extremit|feet",
            r"\w* (?:\w+ ){0,3}(?:numb|weak|paraly|(?:can't|cannot) move)",
        )
        + "|"
        + lead("numb|weak", r"\w* (?:\w+ ){0,3}(?:legs?|lower limbs?|feet)\b")
        + "|"
        + lead(_CANT, r" (?:stand or )?walk")
        + r"|paralys|paralyz|bladder control|bowel control|incontinen|urinary retention|"
        r"saddle (?:area )?numb|numb\w* (?:in |around )?(?:the |his |her |my )?(?:saddle|groin|"
        r"buttocks|bottom)|"
        + lead("wet|wets|wetting", r" (?:him|her|my|them)sel(?:f|ves)")
        + "|"
        + lead(
            _CANT + "|lost",
            r" control (?:of )?(?:his |her |my |the )?(?:bladder|bowel|urine|urination|stool)",
        )
        + "|"
        + lead(_CANT, r" move (?:the |his |her |my |both )?legs?\b")
        + "|"
        + lead(_CANT, r" (?:urinate|pee)")
        + "|"
        + lead(
            _CANT + "|no longer|doesn't|does not",
            r" feel (?:his |her |my |the |their )?(?:legs|feet|lower body)",
        ),
        context=_CORD_CONTEXT,
    ),
    RedFlagRule(
        "severe_pain",
        lead(
            "severe|excruciating|unbearable|intolerable|extreme|intense|terrible|agoni|"
            "uncontroll|unrelenting|aggravat|worsening|increasing",
            r"\w* (?:\w+ ){0,2}pain",
        )
        + r"|pain\w* (?:\w+ ){0,4}(?:unbearable|intolerable|uncontrolled|excruciating|severe|"
        r"worse and worse|killing|aggravat|intensif|getting worse|not working|doesn't help|"
        r"don't help|do not help|does not help|no relief|no effect|useless|terrible|intense)|"
        + lead("hurts|hurt|hurting|painful", r" (?:so |very )?(?:badly|bad|a lot)")
        + "|"
        + lead("really|very|so|extremely", " painful")
        + r"|whole body (?:is )?(?:in )?pain|in pain\b|in a lot of pain|in so much pain|"
        r"in severe pain|in constant pain|"
        + lead("can't|cannot", " (?:bear|stand) the pain")
        + "|"
        + lead("pain|painful|hurts", r" (?:\w+ ){0,5}(?:can't|cannot|unable to) sleep"),
    ),
    RedFlagRule(
        "cannot_swallow_or_keep_fluids",
        lead(
            "difficult|hard|trouble|unable|can't|cannot|can not|couldn't",
            r"\w* (?:\w+ )?(?:to )?swallow(?! (?:pills?|tablets?|capsules?))",
        )
        + r"|dysphagia|"
        + lead(_CANT, r" (?:eat or drink|drink|keep (?:\w+ ){0,2}down)")
        # Any vomiting going on now: a patient on treatment who vomits can dehydrate fast, and
        # "is it persistent?" is for a clinician to judge (recall first).
        + r"|vomit|throw up|throwing up|threw up|"
        + lead(
            "hasn't|has not|haven't|have not|hadn't",
            r" (?:eaten|drunk|eaten or drunk) (?:\w+ ){0,3}(?:for|in) (?:\w+ ){0,2}days",
        )
        + "|"
        + lead(
            "not|doesn't|does not|didn't|did not|hasn't|has not",
            r" (?:eat|eaten|drink|drunk)(?: or| and| nor) (?:drink|drunk|eat|eaten) (?:\w+ ){0,3}"
            r"(?:for )?(?:\d|two|three|four|five|several|a few) days",
        )
        + r"|intestinal obstruction|bowel obstruction",
    ),
    RedFlagRule(
        # kidney failure / tumour lysis / dehydration
        "no_urine",
        r"no urine|little urine|"
        + lead("hasn't|has not|haven't|have not|not", r" (?:urinated|passed (?:any )?urine|peed)")
        + "|"
        + lead("hardly|barely", r" (?:peeing|urinating|pass\w* (?:any )?urine)")
        + "|"
        + lead(_CANT, r" (?:urinate|pee|pass urine)")
        + r"|anuria|oliguria",
    ),
    RedFlagRule(
        # raised calcium with bone disease: thirst, confusion, constipation, can kill. Also the
        # symptoms without the word (NCI PDQ "Hypercalcemia"), read on the fresh grounded
        # question set: "very thirsty, constipated, sleepy and a little confused".
        "hypercalcaemia",
        r"hypercalc|high (?:blood |serum )?calcium|calcium (?:\w+ ){0,2}(?:high|elevated|raised)|"
        + lead("thirsty|thirst", r"\w*\W+(?:\w+\W+){0,8}?(?:confus|drowsy|sleepy)")
        + "|"
        + lead("confused|confusion|drowsy|sleepy", r"\W+(?:\w+\W+){0,8}?thirst"),
    ),
    RedFlagRule(
        # dehydration on treatment
        "severe_diarrhoea",
        r"diarrh\w* (?:\w+ ){0,5}(?:[6-9]|\d\d|six|seven|eight|nine|ten|many) times|"
        r"severe diarrh|diarrh\w* (?:\w+ ){0,6}(?:dizz|faint|dehydrat)|"
        + lead("7|8|9", r" (?:\w+ )?stools (?:a|per|each) day")
        + "|"
        + lead("1|2|3|4|5|6|7|8|9", r"\d (?:\w+ )?stools (?:a|per|each) day")
        + "|"
        + lead("seven|eight|nine|ten|fifteen|twenty", r" (?:\w+ )?stools (?:a|per|each) day"),
        context=_CANCER_CONTEXT,
    ),
    RedFlagRule(
        "anaphylaxis",
        r"anaphyla|throat (?:is )?(?:closing|swelling)|swollen (?:lips|tongue|throat)|"
        + lead("lips|tongue|throat", r" (?:\w+ )?swell"),
    ),
    RedFlagRule(
        "svc_swelling",
        lead("face|facial|neck", r" (?:\w+ ){0,2}(?:swell|swollen|puff|edema|oedema)")
        + r"|swollen face|swollen neck|swelling (?:of|in) (?:the |his |her |my )?(?:face|neck)|"
        r"superior vena cava|svc\b(?<![a-z]svc)",
    ),
    RedFlagRule(
        "circulation",
        r"heart (?:is |was )?racing|pulse (?:is |was )?racing|racing heart|"
        + lead("pulse|heart rate", r" (?:\w+ ){0,3}(?:1[3-9]\d|[2-4]\d)\b")
        + r"|blood pressure (?:\w+ ){0,2}(?:dropp|fell|very low|too low)|cold sweat|"
        r"in shock\b|into shock\b|"
        + lead("blood pressure|bp", r" (?:\w+ ){0,3}(?:2[0-4]\d|1[89]\d) ?/ ?1[1-9]\d\b"),
    ),
    RedFlagRule(
        "fainting",
        r"faint(?:ed|ing|s)?\b|passed out|passing out|syncope|collapsed(?<!lung collapsed)|"
        r"blacked out",
    ),
    RedFlagRule(
        "thrombosis",
        r"pulmonary embol|deep vein thrombosis|dvt\b(?<![a-z]dvt)|blood clot|"
        + lead(
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
    r"side effects? (?:such as|like|include|including|are)|when should|is it true|heard that|"
    r"can (?:make|lead to)|may (?:make|lead to|happen))\b"
)
# A question about a condition, not a report of it: "what is superior vena cava syndrome?"
_ASKING_ABOUT_RX = re.compile(r"\b(?:what|how dangerous|how serious) (?:is|are) (?:an? |the )?$")
# "Is vomiting a side effect of cisplatin?" asks about a side effect, it does not report one.
_SIDE_EFFECT_AFTER_RX = re.compile(r"^(?: \w+){0,3} side effects?\b")
# Mild or occasional symptoms are not emergencies ("occasionally chest pain").
_MILD_RX = re.compile(r"\b(?:occasional(?:ly)?|slight(?:ly)?|mild(?:ly)?|a little)\b")
# Past events ("last year he had fever", "coughed blood in 2019") unless the sentence also says
# it is happening now.
_HISTORY_RX = re.compile(
    r"\b(?:\d+|one|two|three|four|five|six|several|many|a few) years? ago|a year ago|last year|"
    r"the year before|(?:19|20)\d\d|for (?:\d+|two|three|four|five|ten|many|several) years|"
    r"for (?:more than |over |nearly |almost |about )?(?:\d+|two|three|four|five|six|several|many) "
    r"months|last month|(?:\d+|a|one|two|three|four|five|six|several) months? ago|"
    r"at (?:the time of )?diagnosis|"
    r"when (?:it|the cancer|the tumou?r|he|she|i) was (?:found|diagnosed)|"
    r"previously|used to|history of|once had|at (?:the )?age (?:of )?\d+|as a (?:child|baby|kid)|"
    r"years ago|when (?:i|he|she) was (?:a teenager|a child|a kid|young|little)|"
    r"in (?:his|her|my) (?:teens|twenties|thirties|forties)|"
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
# A resolution later in the sentence ("vomiting in the first days, it stopped after 3 days",
# "headache and vomiting before the operation, after it they are gone").
_RESOLVED_LATER_RX = re.compile(
    r"\b(?:it|they|these|this|both|all|which)(?: \w+){0,2} (?:(?:has|have|had|is|are|was|were) )?"
    r"(?:now )?(?:disappeared|subsided|resolved|went away|gone|stopped|eased|got better|"
    r"alleviated|relieved|settled)\b"
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
    lead("kill|killing|end|ending", r" (?:my ?self|myself)"),
    lead(
        # a denial ("no thoughts of harming myself") is not a request
        "want|going|trying|tried|thinking|thought(?<!no thought)(?<!any thought)|urge|plan",
        r"\w* (?:about |of )?(?:to )?(?:hurt|harm|cut)\w* (?:my ?self|myself)",
    ),
    # a denial, or a question about the team's screening ("the nurse asks about suicidal
    # thoughts at every visit"), is not a request
    r"self harm|suicid(?<!not suicid)(?<!no suicid)(?<!n't suicid)(?<!denies suicid)"
    r"(?<!asks about suicid)(?<!asked about suicid)(?<!ask about suicid)",
    # third person only with a wish: "the disease will end his life" is a prognosis
    r"take my (?:own )?life|end my (?:own )?life|end it all|"
    + lead("want|wish|plan|going|trying", r"\w* to (?:end|take) (?:his|her) (?:own )?life")
    + "|"
    r"i want to die|i wanna die|i'd rather die(?! than)|i would rather die(?! than)|want to end it|"
    r"better off dead|"
    r"i wish i (?:was|were) dead|not worth living|no reason to live|nothing to live for",
    lead(
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
    lead(
        "i|we",
        rf" (?:\w+ )?(?:want|wanna|would like|am going|are going|plan|need|intend|"
        rf"thinking about|decided)\w* (?:to )?{_HARM_VERB}\w* {_PERSON}",
    ),
    # "how do I hurt him less" or "how can I not hurt him" are not requests to harm
    rf"how (?:can|do|could|should|to) (?:i |we )?(?:\w+ )?{_KILL_VERB} {_PERSON}",
    rf"how (?:much|many) (?:\w+ ){{0,5}}(?:to|would|will|could|does it take to) "
    rf"(?:kill|poison) {_PERSON}",
    lead("lethal dose|fatal dose", rf" (?:\w+ ){{0,4}}to kill {_PERSON}"),
    rf"poison(?:ing)? (?:my|our) {_PERSON}|help me {_HARM_VERB} {_PERSON}",
)
# Thoughts of death or suicide told without a request for means, often by a relative: "last
# night he said he wishes he wouldn't wake up", "keeps saying she is a burden on us". NIMH's
# warning signs of suicide (nimh.nih.gov, "Warning Signs of Suicide") list talking about
# wanting to die and about being a burden to others; NCI's Depression PDQ lists thoughts of
# death among the signs of depression, common with cancer. A blind question set
# (benchmarks/data/grounded_questions_fresh2.jsonl) found such a message answered about sleep,
# with no word on the risk.
_WHO = r"(?:he|she|they|i|mum|mom|dad|my \w+)"
THOUGHTS_PATTERNS: tuple[str, ...] = (
    lead("wish|wishes|wished", rf" {_WHO} (?:would|could|did)(?:n't| not| never) wake up"),
    lead("wish|wishes|wished", rf" {_WHO} (?:was|were|could be) dead"),
    r"go to sleep and (?:not|never) wake up|fall asleep and (?:not|never) wake up",
    # "she wants to die at home" is a wish about where, not a wish to die
    lead(
        "he |she |they ",
        r"(?:\w+ ){0,2}(?:wants?|wanted|wishes|wish) to die"
        r"(?! (?:at|in|peacefully|with|surrounded|comfortably|naturally|there|here))",
    ),
    r"kill (?:himself|herself|themselves)",
    # "sorry for being a burden" in a message is an apology for asking
    lead(
        "is a burden|am a burden|'m a burden|'s a burden|like a burden|being a burden",
        r"(?<!sorry for being a burden)(?<!sorry about being a burden)",
    ),
    r"better off without (?:me|him|her|them)|no point (?:in )?(?:living|going on)|"
    r"doesn't want to be here any ?more|does not want to be here any ?more",
)
_SELF_RX = GatedPattern.compile("|".join(SELF_HARM_PATTERNS))
_THOUGHTS_RX = GatedPattern.compile("|".join(THOUGHTS_PATTERNS))
_OTHERS_RX = GatedPattern.compile("|".join(OTHERS_HARM_PATTERNS))

# --------------------------------------------------------------------------------------------
# Assessment
# --------------------------------------------------------------------------------------------


def _clause_before(text: str, start: int) -> str:
    window = text[max(0, start - _WINDOW) : start]
    cuts = [m.end() for m in _CLAUSE_RX.finditer(window)]
    return window[cuts[-1] :] if cuts else window


def _rest_of_sentence(text: str, end: int) -> str:
    after = text[end : end + _WINDOW]
    stop = _SENTENCE_END_RX.search(after)
    return after[: stop.start()] if stop else after


def _sentence_around(text: str, start: int, end: int) -> str:
    before = text[max(0, start - _WINDOW) : start]
    cuts = [m.end() for m in _SENTENCE_END_RX.finditer(before)]
    return (before[cuts[-1] :] if cuts else before) + " " + _rest_of_sentence(text, end)


def is_current(text: str, start: int, end: int) -> bool:
    """Whether the mention at ``text[start:end]`` is an event happening now: not negated,
    not hypothetical or preventive, not resolved, not only history."""
    clause = _clause_before(text, start)
    if any(
        rx.search(clause) for rx in (_NEGATION_RX, _HYPOTHETICAL_RX, _MILD_RX, _ASKING_ABOUT_RX)
    ):
        return False
    # what follows the mention, from the end of its last word ("vomit|ing stopped")
    after = _WORD_TAIL_RX.sub("", text[end : end + 60], count=1)
    if _MILD_RX.match(after.lstrip()):
        return False
    if _RESOLVED_RX.match(after) or _SIDE_EFFECT_AFTER_RX.match(after):
        return False
    if _RESOLVED_LATER_RX.search(_rest_of_sentence(text, end)):
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
    """ "self", "others", "thoughts" or None for normalised ``text``. Others is checked first so
    that "the lethal dose for my husband" is not read as a self-harm question; "thoughts" (of
    death or suicide, told without a request) only when neither request is made."""
    if _OTHERS_RX.search(text):
        return "others"
    if _SELF_RX.search(text):
        return "self"
    if _THOUGHTS_RX.search(text):
        return THOUGHTS
    return None
