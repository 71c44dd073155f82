"""Progress of long jobs: plain lines off a terminal, a tqdm bar on one; counts only."""

from __future__ import annotations

import io
import re

from oncogpt.progress import Progress


def test_plain_lines_have_rate_and_eta_and_stay_few():
    out = io.StringIO()
    with Progress("eval: answering", total=1000, unit="answer", stream=out, every_s=3600) as p:
        for _ in range(1000):
            p.update()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the start and the end, nothing in between within every_s
    assert lines[0].startswith("eval: answering: 0/1000 answers (0%)")
    end = r"eval: answering: 1000/1000 answers \(100%\), [\d.]+ answers/s, 0:0\d elapsed$"
    assert re.match(end, lines[1])


def test_plain_lines_with_eta_and_unknown_total():
    out = io.StringIO()
    p = Progress("data build: cleaning", unit="row", stream=out, every_s=0)
    p.update(5)
    p.close()
    assert out.getvalue().splitlines()[-1].startswith("data build: cleaning: 5 rows, ")
    out = io.StringIO()
    p = Progress("kb build", unit="passage", stream=out, every_s=0)
    p(256, 1000)  # the callback shape build_kb uses
    assert "256/1000 passages (26%)" in out.getvalue() and "ETA" in out.getvalue()


def test_bar_on_a_terminal_shows_rate():
    out = io.StringIO()
    with Progress("export: f16 tensors", total=10, unit="tensor", stream=out, bar=True) as p:
        p.update(10)
    assert "10/10" in out.getvalue() and "tensor/s" in out.getvalue()


def test_kb_build_cli_reports_progress(tmp_path, capsys):
    from oncogpt.cli import main

    src = tmp_path / "notes.md"
    src.write_text("# Nausea\n\nOndansetron prevents nausea from chemotherapy.\n")
    assert main(["kb", "build", "--source", str(src), "--out", str(tmp_path / "kb.sqlite")]) == 0
    err = capsys.readouterr().err
    assert "kb build: embedding: 1/1 passages (100%)" in err
