"""Safety layer applied by the generation engine to every front end.

* :func:`assess` grades a patient's message: "emergency" (go to urgent care now), "today"
  (contact the care team today) or "none", and finds requests to harm. The red-flag rules
  (:mod:`oncogpt.safety.rules`) and the learned triage (:mod:`oncogpt.safety.triage`) are
  OR-ed: either can raise the grade, and the assessment says which did and why.
* :func:`safety_frame` / :func:`apply_safety` (:mod:`oncogpt.safety.policy`) apply the one
  policy: graded message first, crisis answer instead of the model's for harm, disclaimer last.

OncoGPT is a research model, not for clinical use: these reduce harm, they do not triage
patients. ``oncogpt eval rules`` measures them on the public labels' held-out half.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from oncogpt.safety.policy import (
    CRISIS_MESSAGE,
    DISCLAIMER,
    EMERGENCY,
    NONE,
    SEPARATOR,
    THOUGHTS,
    THOUGHTS_MESSAGE,
    TODAY,
    TODAY_MESSAGE,
    URGENCIES,
    URGENT_CARE_MESSAGE,
    SafetyFrame,
    safety_frame,
)
from oncogpt.safety.rules import harm_of, red_flag_reasons
from oncogpt.safety.triage import Reading, default_triage
from oncogpt.text import normalize

__all__ = [
    "CRISIS_MESSAGE",
    "DISCLAIMER",
    "EMERGENCY",
    "NONE",
    "SEPARATOR",
    "THOUGHTS",
    "THOUGHTS_MESSAGE",
    "TODAY",
    "TODAY_MESSAGE",
    "URGENCIES",
    "URGENT_CARE_MESSAGE",
    "SafetyAssessment",
    "SafetyFrame",
    "apply_safety",
    "assess",
    "safety_frame",
]


@dataclass(frozen=True)
class SafetyAssessment:
    """What :func:`assess` found in a patient's message."""

    urgency: str  # "emergency" | "today" | "none"
    red_flag_reasons: tuple[str, ...]  # the rules that fired
    harm: str | None  # "self" | "others" | "thoughts" | None
    learned: Reading | None = None  # the learned triage's reading, when it ran

    @property
    def red_flag(self) -> bool:
        return self.urgency == EMERGENCY

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why: the rule names, then the learned triage's grade and score when it raised it."""
        out = list(self.red_flag_reasons)
        if self.learned is not None and self.learned.urgency != NONE:
            score = (
                self.learned.emergency if self.learned.urgency == EMERGENCY else self.learned.today
            )
            out.append(f"learned_{self.learned.urgency}(p={score:.2f})")
        return tuple(out)

    def frame(self, disclaimer: bool = False) -> SafetyFrame:
        return safety_frame(self.urgency, self.harm, disclaimer)


def assess(text: str, learned: bool = True) -> SafetyAssessment:
    """Assess the patient's message: the rules, then (unless ``learned`` is False or the
    triage is switched off) the learned triage, which can only raise the grade."""
    norm = normalize(text)
    reasons = red_flag_reasons(norm)
    harm = harm_of(norm)
    reading = _read(text) if learned and harm is None else None
    urgency = EMERGENCY if reasons else reading.urgency if reading is not None else NONE
    return SafetyAssessment(urgency, reasons, harm, reading)


@lru_cache(maxsize=256)
def _read(text: str) -> Reading | None:
    """The learned reading; cached because the server and the engine assess the same turn."""
    triage = default_triage()
    return triage.read(text) if triage is not None else None


def apply_safety(answer: str, assessment: SafetyAssessment, disclaimer: bool = False) -> str:
    """The answer inside the safety frame (see :func:`safety_frame`)."""
    return assessment.frame(disclaimer).wrap(answer)
