"""The canonical conversation: what the data pipeline writes and every other stage reads.

One JSON object per line:
    {"id": "...", "system": null, "turns": [{"role": "patient", "text": "..."},
     {"role": "doctor", "text": "..."}], "meta": {...}}
Turns alternate patient/doctor and start with the patient.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oncogpt.errors import OncoGPTError

ROLES = ("patient", "doctor")


class ConversationError(OncoGPTError, ValueError):
    """A conversation does not follow the schema; the message says where."""


@dataclasses.dataclass(frozen=True)
class Turn:
    role: str
    text: str


@dataclasses.dataclass(frozen=True)
class Conversation:
    turns: tuple[Turn, ...]
    system: str | None = None
    id: str = ""
    meta: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    @classmethod
    def single(cls, question: str, answer: str | None = None, **kwargs: Any) -> Conversation:
        turns = [Turn("patient", question)] + (
            [Turn("doctor", answer)] if answer is not None else []
        )
        return cls(turns=tuple(turns), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "conversation") -> Conversation:
        if not isinstance(data, dict):
            raise ConversationError(f"{where}: expected an object, got {type(data).__name__}")
        raw_turns = data.get("turns")
        if not isinstance(raw_turns, list) or not raw_turns:
            raise ConversationError(f"{where}: 'turns' must be a non-empty list")
        turns = []
        for i, t in enumerate(raw_turns):
            if not isinstance(t, dict) or t.get("role") not in ROLES:
                raise ConversationError(f"{where}.turns[{i}]: role must be one of {ROLES}")
            if not isinstance(t.get("text"), str):
                raise ConversationError(f"{where}.turns[{i}].text: must be a string")
            turns.append(Turn(t["role"], t["text"]))
        conv = cls(
            turns=tuple(turns),
            system=data.get("system"),
            id=str(data.get("id", "")),
            meta=dict(data.get("meta") or {}),
        )
        conv.check(where)
        return conv

    def check(self, where: str = "conversation") -> None:
        for i, turn in enumerate(self.turns):
            expected = ROLES[i % 2]
            if turn.role != expected:
                order = "patient first, then alternating"
                raise ConversationError(f"{where}.turns[{i}]: expected a {expected} turn ({order})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "system": self.system,
            "turns": [{"role": t.role, "text": t.text} for t in self.turns],
            "meta": self.meta,
        }

    def replace(self, **changes: Any) -> Conversation:
        return dataclasses.replace(self, **changes)

    @property
    def ends_with_patient(self) -> bool:
        return self.turns[-1].role == "patient"

    @property
    def question(self) -> str:
        """The last patient turn."""
        return next(t.text for t in reversed(self.turns) if t.role == "patient")

    @property
    def answer(self) -> str | None:
        """The last doctor turn, if the conversation ends with one."""
        return None if self.ends_with_patient else self.turns[-1].text


def read_conversations(path: str | Path) -> Iterator[Conversation]:
    """Stream conversations from a JSONL file; errors name the file and line."""
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConversationError(f"{where}: invalid JSON: {exc.msg}") from None
            yield Conversation.from_dict(data, where)


def write_conversations(path: str | Path, conversations: list[Conversation]) -> None:
    with Path(path).open("w", encoding="utf-8") as fh:
        for conv in conversations:
            fh.write(json.dumps(conv.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
