from __future__ import annotations

import json

import pytest

from oncogpt.cli import main
from oncogpt.conversation import Conversation, write_conversations

QUESTIONS = [
    ("Is EGFR lung cancer treated with osimertinib?", "Yes, osimertinib is a first choice."),
    ("What does a rising CEA mean after colon surgery?", "It can signal recurrence; get a CT."),
    ("Can I take ibuprofen during chemotherapy?", "Ask your team; platelets matter."),
    ("What is stage IIIB breast cancer?", "Spread to the chest wall or skin."),
]


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "test.json"
    rows = [
        {"instruction": "If you are a doctor…", "question": q, "output": a} for q, a in QUESTIONS
    ]
    path.write_text(json.dumps(rows))
    return path


def _rows(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _eval(model, data, out, *extra):
    argv = ["eval", "--model", str(model), "--data", str(data), "--out", str(out),
            "--max-new-tokens", "4", "--batch-size", "2", *extra]  # fmt: skip
    assert main(argv) == 0


def test_eval_resumes_and_compares(tiny_model_dir, data_file, tmp_path):
    out = tmp_path / "base"
    _eval(tiny_model_dir, data_file, out, "--limit", "2")
    assert [r["idx"] for r in _rows(out)] == [0, 1]
    with (out / "results.jsonl").open("a") as fh:
        fh.write('{"idx": 2, "quest')  # a line cut by a kill
    _eval(tiny_model_dir, data_file, out)
    rows = [r for r in _rows_tolerant(out)]
    assert sorted(r["idx"] for r in rows) == [0, 1, 2, 3]
    for key in ("rouge_l", "chrf", "bleu", "bertscore_f", "embed_cosine", "perplexity"):
        assert key in rows[0]["metrics"]
    assert {r["category"] for r in rows} <= {"research", "therapeutic"}
    other = tmp_path / "other"
    _eval(tiny_model_dir, data_file, other, "--name", "other")
    assert main(["eval", "compare", str(out), str(other), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "research" in report or "therapeutic" in report
    assert (tmp_path / "report" / "metrics_by_category.png").stat().st_size > 1000


def _rows_tolerant(out):
    for line in (out / "results.jsonl").read_text().splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def test_items_seen_in_training_are_refused(tiny_model_dir, data_file, tmp_path):
    train = tmp_path / "trained"
    train.mkdir()
    q, a = QUESTIONS[0]
    write_conversations(train / "train.jsonl", [Conversation.single(q, a)])
    out = tmp_path / "run"
    _eval(tiny_model_dir, data_file, out, "--train-data", str(train))
    assert json.loads((out / "run.json").read_text())["removed_training_overlap"] == 1
    assert 0 not in {r["idx"] for r in _rows(out)}


def test_yardsticks_are_scored_like_a_model(tiny_model_dir, data_file, tmp_path):
    """`--answers generic|nearest` write ordinary run folders that `eval compare` reads."""
    from oncogpt.evaluate.yardsticks import GENERIC_ANSWER

    train = tmp_path / "built"
    train.mkdir()
    # the same topics asked in other words (the items are not near-duplicates of them)
    cases = [
        ("Which tablet works for lung tumours with an EGFR mutation?", "Osimertinib."),
        ("My carcinoembryonic antigen went up two years after bowel surgery", "Get a CT."),
        ("Are painkillers like Advil safe while on chemo?", "Ask about platelets."),
    ]
    convs = [
        Conversation.single(q, a, id=f"t{i}", meta={"stage": "oncology"})
        for i, (q, a) in enumerate(cases)
    ]
    write_conversations(train / "train.jsonl", convs)
    _eval(tiny_model_dir, data_file, tmp_path / "generic", "--answers", "generic")
    assert {r["answer"] for r in _rows(tmp_path / "generic")} == {GENERIC_ANSWER}
    _eval(tiny_model_dir, data_file, tmp_path / "nearest", "--answers", "nearest",
          "--train-data", str(train))  # fmt: skip
    answers = {r["idx"]: r["answer"] for r in _rows(tmp_path / "nearest")}
    assert [answers[i] for i in (0, 1, 2)] == ["Osimertinib.", "Get a CT.", "Ask about platelets."]
    assert "perplexity" not in _rows(tmp_path / "nearest")[0]["metrics"]  # no model to score


def test_nearest_needs_training_data(tiny_model_dir, data_file, tmp_path, capsys):
    # YardstickError is an OncoGPTError: the CLI reports it in one line, no traceback
    code = main(["eval", "--data", str(data_file), "--out", str(tmp_path / "n"),
                 "--answers", "nearest"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "train_data" in err and len(err.strip().splitlines()) == 1
