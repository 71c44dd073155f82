"""Answers that are not a model's, scored like a model's, so that a model's figures mean something.

* ``generic``: one fixed, sensible sentence given to every question. A model that does not beat
  it has learned nothing specific to the question.
* ``nearest``: the real doctor's answer to the most similar *training* question, found by MiniLM
  embedding search over the oncology stage of the training split. A strong yardstick: embedding
  cosine mostly rewards topic (echoing the question scores well on it), ROUGE-L rewards saying
  what a doctor said; copying the closest case is what a retrieval system would do.

``oncogpt eval --answers generic|nearest`` writes an ordinary run folder, so that ``oncogpt eval
compare`` gives paired differences against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oncogpt.conversation import read_conversations
from oncogpt.errors import OncoGPTError

YARDSTICKS = ("generic", "nearest")
GENERIC_ANSWER = (
    "The right next step depends on the type and stage of the cancer, the treatment so far and "
    "the patient's general condition, so please discuss these results and options with the "
    "treating oncologist, and seek care promptly if symptoms get worse."
)


class YardstickError(OncoGPTError, ValueError):
    """A yardstick cannot be built (e.g. `nearest` without training data)."""


def training_cases(train_data: str | Path, stage: str = "oncology") -> list[tuple[str, str]]:
    """(first question, doctor's answer to it) of every conversation of a training stage."""
    path = Path(train_data) / "train.jsonl"
    if not path.is_file():
        raise YardstickError(f"{path}: no training split to search for nearest cases")
    return [
        (c.turns[0].text, c.turns[1].text)
        for c in read_conversations(path)
        if c.meta.get("stage") == stage and len(c.turns) >= 2
    ]


def nearest_case_answers(
    questions: Sequence[str], cases: Sequence[tuple[str, str]], encoder: Any = None
) -> list[str]:
    """The answer of the training case whose question is closest to each question."""
    if not cases:
        raise YardstickError("no training cases to search")
    if encoder is None:
        from oncogpt.rag.encoder import Encoder

        encoder = Encoder()
    case_vectors = encoder.encode([q for q, _ in cases])
    question_vectors = encoder.encode(list(questions))
    best = (question_vectors @ case_vectors.T).argmax(axis=1)
    return [cases[int(i)][1] for i in best]


def yardstick_answers(kind: str, questions: Sequence[str], train_data: str | None) -> list[str]:
    """The `kind` yardstick's answer to each question."""
    if kind == "generic":
        return [GENERIC_ANSWER] * len(questions)
    if kind == "nearest":
        if train_data is None:
            raise YardstickError("--answers nearest needs --train_data (the training folder)")
        return nearest_case_answers(questions, training_cases(train_data))
    raise YardstickError(f"answers must be model or one of {YARDSTICKS}, got {kind!r}")
