"""The safety policy, in one function that every front end's answer passes through.

:func:`safety_frame` turns an assessment into what surrounds (or replaces) the model's answer:

* a request to harm oneself or others: the crisis message *replaces* the answer (never pass
  on what the model said);
* thoughts of death or suicide told without a request: the thoughts message goes first, with
  where to get help now, and the answer follows;
* urgency "emergency": the emergency message goes first, whatever the model says;
* urgency "today": the contact-your-team-today message goes first;
* the research-only disclaimer goes last when asked for (once a conversation).

The engine's streaming reply, its batch answers, the cited answers and the server's stop
sequences (which must never cut the safety text) all read the same frame, so the policy is
written once. Two grades instead of one banner for everything: a banner on every mention of a
symptom teaches patients to ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass

EMERGENCY = "emergency"
TODAY = "today"
NONE = "none"
URGENCIES: tuple[str, ...] = (EMERGENCY, TODAY, NONE)
#: The harm found by :func:`oncogpt.safety.rules.harm_of` that keeps the answer.
THOUGHTS = "thoughts"

URGENT_CARE_MESSAGE = (
    "URGENT: what you describe can be a medical emergency. Seek urgent care now: call your "
    "local emergency number (911 in the US, 112 in Europe, 999 in the UK, 120 in China), go to "
    "the nearest emergency department, or call your oncology team's 24-hour line. Do not wait "
    "for an answer here."
)
# Same-day contact, following NCI's and ASCO's "when to call your doctor" lists: problems that
# need a clinician's advice today, not at the next visit, and the signs that make them urgent.
TODAY_MESSAGE = (
    "Contact your care team today: what you describe needs advice from your doctor or nurse "
    "today, not at the next routine visit. Call your oncology team's number (or its "
    "out-of-hours line). If it gets worse - a fever of 38 C (100.4 F) or higher, trouble "
    "breathing, chest pain, confusion or bleeding - call your local emergency number."
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
# For thoughts of death or suicide told without a request (harm "thoughts"): the answer still
# follows, since a relative asking "what can we do" needs it. Following NIMH's "Warning Signs
# of Suicide", 988 Lifeline (which also takes calls from people worried about someone) and
# NCI's Depression PDQ (depression is common with cancer, and treatable).
THOUGHTS_MESSAGE = (
    "Talking about wanting to die, not wanting to wake up, or being a burden can be a sign of "
    "suicidal thoughts or depression, and it needs attention today, not at the next visit.\n"
    "- If someone may act on these thoughts now, stay with them and call your local emergency "
    "number (911 in the US, 112 in Europe, 999 in the UK) or go to the nearest emergency "
    "department.\n"
    "- US: call or text 988 (Suicide & Crisis Lifeline), also if you are worried about someone "
    "else. UK and Ireland: Samaritans on 116 123. Elsewhere: https://findahelpline.com.\n"
    "- Tell the oncology team today: depression is common with cancer, and it can be treated."
)
#: Between a safety message and the answer, and between the answer and the disclaimer.
SEPARATOR = "\n\n"
GRADE_MESSAGES: dict[str, str] = {EMERGENCY: URGENT_CARE_MESSAGE, TODAY: TODAY_MESSAGE}


@dataclass(frozen=True)
class SafetyFrame:
    """What the policy puts around an answer: ``prefix + answer + suffix``, or ``replacement``
    instead of the answer."""

    prefix: str = ""
    suffix: str = ""
    replacement: str | None = None

    @property
    def protected_chars(self) -> int:
        """Characters of safety text an answer starts with (stop sequences never cut them)."""
        return len(self.replacement) if self.replacement is not None else len(self.prefix)

    def wrap(self, answer: str) -> str:
        """The whole answer as the patient sees it; wrapping twice adds nothing twice."""
        if self.replacement is not None:
            return self.replacement
        body = answer.strip()
        if self.prefix and body.startswith(self.prefix.strip()):
            body = body[len(self.prefix.strip()) :].strip()
        if self.suffix and body.endswith(self.suffix.strip()):
            body = body[: -len(self.suffix.strip())].strip()
        if not body:
            return (self.prefix + self.suffix).strip()
        return f"{self.prefix}{body}{self.suffix}"


def safety_frame(urgency: str, harm: str | None, disclaimer: bool = False) -> SafetyFrame:
    """The one safety policy: the frame for a message's urgency and harm."""
    if harm is not None and harm != THOUGHTS:
        return SafetyFrame(replacement=CRISIS_MESSAGE)
    grade = THOUGHTS_MESSAGE if harm == THOUGHTS else GRADE_MESSAGES.get(urgency)
    return SafetyFrame(
        prefix=grade + SEPARATOR if grade else "",
        suffix=SEPARATOR + DISCLAIMER if disclaimer else "",
    )
