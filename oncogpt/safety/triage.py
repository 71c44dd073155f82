"""The learned triage behind the red-flag rules.

A softmax head (:mod:`oncogpt.heads`) over MiniLM embeddings grades a message "emergency",
"today" or "routine". It reads the whole message and each of its sentences and keeps the most
urgent reading: an emergency is often one sentence inside a long story ("... now he must sit up
the whole night to breathe. Is there any medicine ...") and averaging it with the rest of the
story hides it. The head and its two thresholds ship in ``oncogpt/resources/triage``; they are
fitted by ``python -m oncogpt.train.heads`` on the project's own labelled messages, with the
thresholds chosen on the public labels' even half (see the head's metadata for the figures).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oncogpt.heads import LinearHead
from oncogpt.text import split_sentences

HEAD_FILE = Path(__file__).resolve().parents[1] / "resources" / "triage" / "triage_head.safetensors"
#: Set to "rules" to assess with the rules alone (e.g. where the encoder cannot load).
ENV_MODE = "ONCOGPT_TRIAGE"
#: Sentences beyond this many are not scored one by one (a long story costs one pass each).
MAX_SENTENCES = 24


@dataclass(frozen=True)
class Reading:
    """The learned triage's reading of one message."""

    emergency: float  # highest p(emergency) over the message and its sentences
    today: float  # highest p(emergency) + p(today)
    urgency: str  # "emergency" | "today" | "none" by the head's thresholds


@dataclass(frozen=True)
class LearnedTriage:
    head: LinearHead
    emergency_threshold: float
    today_threshold: float

    @classmethod
    def load(cls, path: Path = HEAD_FILE) -> LearnedTriage:
        head = LinearHead.load(path)
        thresholds = head.info.get("thresholds", {})
        return cls(
            head, float(thresholds.get("emergency", 0.5)), float(thresholds.get("today", 0.5))
        )

    def read_embeddings(self, embeddings: np.ndarray) -> Reading:
        p = self.head.probabilities(embeddings)
        emergency = p[:, self.head.labels.index("emergency")]
        today = emergency + p[:, self.head.labels.index("today")]
        e, t = float(emergency.max()), float(today.max())
        urgency = (
            "emergency"
            if e >= self.emergency_threshold
            else "today"
            if t >= self.today_threshold
            else "none"
        )
        return Reading(round(e, 4), round(t, 4), urgency)

    def read(self, text: str) -> Reading:
        from oncogpt.rag.encoder import default_encoder

        return self.read_embeddings(default_encoder().encode(message_views(text)))


def message_views(text: str) -> list[str]:
    """The texts the head reads: the whole message, then each sentence when there are several."""
    sentences = [s for s in split_sentences(text) if len(s.split()) >= 3]
    return [text] + (sentences[:MAX_SENTENCES] if len(sentences) > 1 else [])


_LOCK = threading.Lock()
_DEFAULT: LearnedTriage | None = None


def default_triage() -> LearnedTriage | None:
    """The shipped learned triage, or None when it is switched off or not shipped."""
    global _DEFAULT
    if os.environ.get(ENV_MODE, "").lower() == "rules" or not HEAD_FILE.is_file():
        return None
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = LearnedTriage.load(HEAD_FILE)
        return _DEFAULT
