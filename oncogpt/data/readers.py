"""Readers: Alpaca JSON/JSONL, the OncoGPT test format, ShareGPT/messages, CSV, conversations.

Each reader yields `(where, row)` pairs where `where` names the file and line or JSON index, and
`row` is a Conversation. A file that cannot be parsed raises `SourceError` naming the place.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oncogpt.conversation import Conversation, ConversationError, Turn
from oncogpt.errors import OncoGPTError
from oncogpt.text import literal_list

FORMATS = ("alpaca", "sharegpt", "csv", "conversations")
SHAREGPT_ROLES = {
    "human": "patient",
    "user": "patient",
    "patient": "patient",
    "gpt": "doctor",
    "assistant": "doctor",
    "doctor": "doctor",
    "bot": "doctor",
}


class SourceError(OncoGPTError, ValueError):
    """An input file is malformed; the message names the file and line or JSON index."""


def _json_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """Rows of a JSON list or of a JSONL file, with their place."""
    with path.open(encoding="utf-8") as fh:
        head = fh.read(1 << 16).lstrip()
        fh.seek(0)
        if head.startswith("["):
            try:
                rows = json.load(fh)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
            for i, row in enumerate(rows):
                yield f"{path}[{i}]", row
            return
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{lineno}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None


def _field(row: Any, name: str, where: str, required: bool = True) -> str:
    if not isinstance(row, dict):
        raise SourceError(f"{where}: expected an object, got {type(row).__name__}")
    value = row.get(name)
    if value is None:
        if required:
            raise SourceError(f"{where}: missing field {name!r} (fields: {sorted(row)})")
        return ""
    if not isinstance(value, str):
        raise SourceError(f"{where}.{name}: expected a string, got {type(value).__name__}")
    return value


def read_alpaca(path: Path, options: dict[str, Any]) -> Iterator[tuple[str, Conversation]]:
    """`instruction, input, output` (the OncoGPT test set names `input` `question`).

    `instruction: system` makes the instruction the system text (the OncoGPT/ChatDoctor data,
    whose instruction is the constant "If you are a doctor…"); `prepend` puts it before the input
    (Alpaca, where it is the task).
    """
    input_field = options.get("input_field", "input")
    mode = options.get("instruction", "prepend")
    for where, row in _json_rows(path):
        instruction = _field(row, "instruction", where, required=False)
        question = _field(row, input_field, where, required=False)
        answer = _field(row, options.get("output_field", "output"), where)
        system = None
        if mode == "system":
            system = instruction or None
        elif mode == "prepend" and instruction:
            question = f"{instruction}\n\n{question}" if question else instruction
        yield where, Conversation.single(question, answer, system=system)


def read_sharegpt(path: Path, options: dict[str, Any]) -> Iterator[tuple[str, Conversation]]:
    """ShareGPT (`conversations: [{from, value}]`) or `messages: [{role, content}]`."""
    for where, row in _json_rows(path):
        if not isinstance(row, dict):
            raise SourceError(f"{where}: expected an object, got {type(row).__name__}")
        key = "messages" if "messages" in row else "conversations"
        messages = row.get(key)
        if not isinstance(messages, list):
            raise SourceError(f"{where}: missing list 'messages' or 'conversations'")
        system, turns = None, []
        for j, m in enumerate(messages):
            role = m.get("role", m.get("from")) if isinstance(m, dict) else None
            text = m.get("content", m.get("value")) if isinstance(m, dict) else None
            if role == "system":
                system = text
            elif role in SHAREGPT_ROLES and isinstance(text, str):
                turns.append(Turn(SHAREGPT_ROLES[role], text))
            else:
                raise SourceError(f"{where}.{key}[{j}]: unknown role {role!r} or missing text")
        yield where, _checked(Conversation(turns=tuple(turns), system=system), where)


def _literal_list(value: str) -> str:
    """CSV cells holding Python-literal lists ("['a', 'b']") become "a, b"."""
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            return ", ".join(str(i) for i in literal_list(text))
        except ValueError:
            return value
    return value


def read_csv(path: Path, options: dict[str, Any]) -> Iterator[tuple[str, Conversation]]:
    """CSV with named columns: `question`/`answer` are format strings over the columns."""
    question_fmt = options.get("question", "{question}")
    answer_fmt = options.get("answer", "{answer}")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            cells = {k: _literal_list(v or "") for k, v in row.items() if k is not None}
            try:
                question = question_fmt.format(**cells)
                answer = answer_fmt.format(**cells)
            except KeyError as exc:
                raise SourceError(
                    f"{where}: no column {exc} (columns: {reader.fieldnames})"
                ) from None
            yield where, Conversation.single(question, answer)


def read_conversations_file(
    path: Path, options: dict[str, Any]
) -> Iterator[tuple[str, Conversation]]:
    """The canonical schema (what `oncogpt data build` writes and the starter set uses)."""
    for where, row in _json_rows(path):
        try:
            yield where, Conversation.from_dict(row, where)
        except ConversationError as exc:
            raise SourceError(str(exc)) from None


def _checked(conv: Conversation, where: str) -> Conversation:
    if not conv.turns:
        raise SourceError(f"{where}: a conversation without turns")
    try:
        conv.check(where)
    except ConversationError as exc:
        raise SourceError(str(exc)) from None
    return conv


READERS = {
    "alpaca": read_alpaca,
    "sharegpt": read_sharegpt,
    "csv": read_csv,
    "conversations": read_conversations_file,
}


def read_source(
    path: Path, fmt: str, options: dict[str, Any]
) -> Iterator[tuple[str, Conversation]]:
    if fmt not in READERS:
        raise SourceError(f"{path}: unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if path.is_dir() and fmt == "conversations":
        return _read_folder(path, options)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    return READERS[fmt](path, options)


def _read_folder(path: Path, options: dict[str, Any]) -> Iterator[tuple[str, Conversation]]:
    """A folder of canonical JSONL parts (the shipped corpus), read in name order."""
    files = sorted(path.glob("*.jsonl"))
    if not files:
        raise SourceError(f"{path}: a folder with no .jsonl files")
    for file in files:
        yield from read_conversations_file(file, options)
