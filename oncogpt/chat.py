"""`oncogpt chat`: a terminal chat with history trimmed to the context, streaming answers.

Works on a terminal and piped (`echo question | oncogpt chat`). Ctrl-C during an answer stops
that answer, not the program.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TextIO

from oncogpt.conversation import Conversation, Turn
from oncogpt.generate import Engine, GenerationError, SamplingConfig

GREETING = (
    "Hello, I am OncoGPT, your oncology assistant for research. Describe your situation and "
    "ask your question. Commands: /reset (new conversation), /save FILE, /exit."
)


class ChatSession:
    """One conversation's history and the commands that act on it."""

    def __init__(
        self,
        engine: Engine,
        sampling: SamplingConfig,
        out: TextIO | None = None,
        retriever: object | None = None,
        compose: str = "extract",
    ):
        self.engine = engine
        self.compose = compose
        """How cited answers are composed (see `oncogpt.rag.compose`)."""
        self.sampling = sampling
        self.out = out or sys.stdout
        self.retriever = retriever
        """With a retriever, answers are grounded in the knowledge base and cited."""
        self.turns: list[Turn] = []
        self.stop = threading.Event()

    def command(self, line: str) -> bool:
        """Run a /command; False means exit."""
        name, _, arg = line.partition(" ")
        if name in ("/exit", "/quit"):
            return False
        if name == "/reset":
            self.turns = []
            self.print("(new conversation)")
        elif name == "/save" and arg.strip():
            self.save(Path(arg.strip()))
        else:
            self.print("commands: /reset, /save FILE, /exit")
        return True

    def save(self, path: Path) -> None:
        try:
            conv = Conversation(turns=tuple(self.turns))
            path.write_text(json.dumps(conv.to_dict(), indent=2, ensure_ascii=False))
            self.print(f"(saved {len(self.turns)} turns to {path})")
        except OSError as exc:
            self.print(f"(could not save: {exc})")

    def ask(self, question: str) -> None:
        if not question.strip():
            self.print("(empty message: type a question)")
            return
        if self.retriever is not None:
            return self.ask_cited(question)
        conv = Conversation(turns=(*self.turns, Turn("patient", question)))
        self.stop.clear()
        answer = ""
        self.out.write("OncoGPT: ")
        try:
            for piece in self.engine.reply(conv, self.sampling, not self.turns, self.stop):
                answer += piece
                self.out.write(piece)
                self.out.flush()
        except GenerationError as exc:
            self.print(f"\n({exc})")
            return
        except KeyboardInterrupt:
            self.stop.set()
            self.print("\n(answer stopped)")
        self.print("")
        self.turns += [Turn("patient", question), Turn("doctor", answer.strip())]

    def ask_cited(self, question: str) -> None:
        """A grounded answer, streamed sentence by sentence as it is composed (each sentence
        is a passage sentence, or a rewrite already checked against it); the reference check
        and the references follow."""
        from oncogpt.rag.ask import ask_with_citations
        from oncogpt.safety import DISCLAIMER, assess

        prefix = assess(question).frame().prefix
        shown: list[str] = []

        def show(sentence: str) -> None:
            self.out.write(("OncoGPT: " + prefix if not shown else " ") + sentence)
            self.out.flush()
            shown.append(sentence)

        streams = self.compose != "free"
        try:
            cited = ask_with_citations(
                self.engine, self.retriever, question, self.sampling, compose=self.compose,
                on_sentence=show if streams else None,
            )  # fmt: skip
        except GenerationError as exc:
            self.print(f"OncoGPT: ({exc})")
            return
        notice = f"\n\n{DISCLAIMER}" if not self.turns else ""
        full = f"{cited.render()}{notice}"
        head = prefix + " ".join(shown)
        if shown and full.startswith(head):
            self.print(full[len(head) :])
        else:  # nothing streamed (not covered, free mode), or the check changed the text
            self.print(("\n" if shown else "") + f"OncoGPT: {full}")
        self.turns += [Turn("patient", question), Turn("doctor", cited.answer)]

    def print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def run_chat(
    engine: Engine,
    sampling: SamplingConfig,
    stdin: TextIO | None = None,
    retriever: object | None = None,
    compose: str = "extract",
) -> int:
    stdin = stdin or sys.stdin
    session = ChatSession(engine, sampling, retriever=retriever, compose=compose)
    session.print(GREETING)
    interactive = stdin.isatty()
    while True:
        if interactive:
            session.out.write("Patient: ")
            session.out.flush()
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            session.print("")
            continue
        if not line:
            return 0
        line = line.strip()
        if not interactive:
            session.print(f"Patient: {line}")
        if line.startswith("/"):
            if not session.command(line):
                return 0
            continue
        session.ask(line)
