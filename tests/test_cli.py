from __future__ import annotations

import subprocess
import sys

import pytest

from oncogpt.cli import main


def test_ask_answers_with_a_model_folder(tiny_model_dir, capsys):
    code = main(
        [
            "ask",
            "Is it cancer?",
            "--no-cite",
            "--model",
            str(tiny_model_dir),
            "--max-new-tokens",
            "5",
            "--greedy",
            "true",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Patient: Is it cancer?" in out
    assert "research model" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "x", "--model", "/nowhere"], "no such model folder"),
        (["ask", "x", "--temperature", "-1"], "temperature must be >= 0"),
        (["ask", "x", "--top-k", "lots"], "top_k"),
    ],
)
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["ask", "chat"])
def test_answers_are_grounded_unless_asked_otherwise(command):
    from oncogpt.cli import build_parser

    parser = build_parser()
    assert parser.parse_args([command]).cite is True
    assert parser.parse_args([command, "--no-cite"]).cite is False


def test_models_lists_the_default_model():
    out = subprocess.run(
        [sys.executable, "-m", "oncogpt", "models"], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[0].split()[:4] == ["NAME", "BASE", "ADAPTER", "STATUS"]
    default = next(line for line in out.splitlines() if line.startswith("default "))
    assert default.split()[1] == "SmolLM2-135M-Instruct"  # the listing names the real base
    from oncogpt.models import SHIPPED_ADAPTER

    shipped = (SHIPPED_ADAPTER / "adapter_config.json").is_file()
    assert ("oncogpt (shipped)" in default) == shipped
