from __future__ import annotations

import json
from pathlib import Path

import pytest

from oncogpt.cli import main
from oncogpt.config import ConfigError, load_config
from oncogpt.conversation import read_conversations
from oncogpt.data.clean import normalize_text, quality_problem, repair_grammar
from oncogpt.data.config import DataConfig
from oncogpt.data.dedup import NearDuplicateIndex
from oncogpt.data.pipeline import build_dataset
from oncogpt.data.readers import SourceError, read_source
from tests.conftest import shared_data

ANSWER = "Osimertinib is the usual first choice for EGFR mutant lung cancer in this setting."


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def sources(tmp_path) -> dict[str, Path]:
    alpaca = [
        {
            "instruction": "Answer the patient.",
            "input": f"Question number {i} about EGFR lung cancer and osimertinib dosing?",
            "output": f"{ANSWER} Variant {i} with more words.",
        }
        for i in range(20)
    ]
    return {
        "alpaca": _write(tmp_path / "a.json", json.dumps(alpaca)),
        "jsonl": _write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in alpaca[:3])),
        "oncogpt": _write(
            tmp_path / "t.json",
            json.dumps(
                [
                    {
                        "instruction": "If you are a doctor…",
                        "question": "Is my breast lump cancer?",
                        "output": "A biopsy is the only way to know if a breast lump is cancer.",
                    }
                ]
            ),
        ),
        "sharegpt": _write(
            tmp_path / "s.jsonl",
            json.dumps(
                {
                    "conversations": [
                        {"from": "system", "value": "Be kind."},
                        {"from": "human", "value": "My CEA is 12 after FOLFOX. Is it back?"},
                        {
                            "from": "gpt",
                            "value": "A rising CEA needs a CT scan to look for recurrence.",
                        },
                        {"from": "human", "value": "What if the scan is clear?"},
                        {
                            "from": "gpt",
                            "value": "Then we repeat the CEA in a few weeks and compare.",
                        },
                    ]
                }
            ),
        ),
        "messages": _write(
            tmp_path / "m.jsonl",
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "What does stage IIIB mean for lung cancer?"},
                        {
                            "role": "assistant",
                            "content": "It means spread to lymph nodes in the chest.",
                        },
                    ]
                }
            ),
        ),
        "csv": _write(
            tmp_path / "d.csv", "idx,disease,Symptom\n0,Lung cancer,\"['Cough', 'Chest pain']\"\n"
        ),
    }


@pytest.mark.parametrize(
    ("name", "fmt", "options", "question", "answer", "turns"),
    [
        ("alpaca", "alpaca", {}, "Answer the patient.\n\nQuestion number 0", ANSWER, 2),
        ("jsonl", "alpaca", {}, "Answer the patient.", ANSWER, 2),
        (
            "oncogpt",
            "alpaca",
            {"input_field": "question", "instruction": "system"},
            "Is my breast lump cancer?",
            "A biopsy",
            2,
        ),
        ("sharegpt", "sharegpt", {}, "My CEA is 12", "A rising CEA", 4),
        ("messages", "sharegpt", {}, "What does stage IIIB", "It means spread", 2),
        (
            "csv",
            "csv",
            {"question": "What is {disease}?", "answer": "Symptoms: {Symptom}."},
            "What is Lung cancer?",
            "Symptoms: Cough, Chest pain.",
            2,
        ),
    ],
)
def test_every_reader(sources, name, fmt, options, question, answer, turns):
    where, conv = next(iter(read_source(sources[name], fmt, options)))
    assert str(sources[name]) in where
    assert conv.turns[0].text.startswith(question)
    assert conv.turns[1].text.startswith(answer)
    assert len(conv.turns) == turns
    if name == "oncogpt":
        assert conv.system == "If you are a doctor…"
    if name == "sharegpt":
        assert conv.system == "Be kind."


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        (
            "alpaca",
            '[{"instruction": "x", "output": "y"},\n{"instruction": ',
            r"b.json:2: invalid JSON",
        ),
        ("alpaca", '{"instruction": "x", "output": "y"}\n{oops}\n', r"b.json:2: invalid JSON"),
        ("alpaca", '[{"instruction": "x"}]', r"b.json\[0\]: missing field 'output'"),
        ("alpaca", '[{"instruction": "x", "output": 3}]', r"b.json\[0\].output: expected a string"),
        ("alpaca", "[1]", r"b.json\[0\]: expected an object"),
        (
            "sharegpt",
            '{"messages": [{"role": "alien", "content": "x"}]}',
            r"b.json:1.messages\[0\]",
        ),
        ("sharegpt", '{"messages": [{"role": "assistant", "content": "x"}]}', "expected a patient"),
        ("conversations", '{"turns": []}', "b.json:1: 'turns' must be a non-empty list"),
        ("csv", "a,b\n1,2\n", "no column 'question'"),
    ],
)
def test_malformed_files_name_file_and_place(tmp_path, fmt, content, message):
    path = _write(tmp_path / "b.json", content)
    with pytest.raises(SourceError, match=message):
        list(read_source(path, fmt, {}))


def _config(tmp_path, sources, **kw) -> DataConfig:
    base = dict(
        output_dir=str(tmp_path / "out"),
        tokenizer=None,
        val_set_size=2,
        test_size=1,
        max_split_fraction=0.2,
        sources=[
            {"path": str(sources["alpaca"]), "name": "alp", "stage": "general"},
            {"path": str(sources["sharegpt"]), "format": "sharegpt", "stage": "oncology"},
            {
                "path": str(sources["oncogpt"]),
                "stage": "oncology",
                "options": {"input_field": "question", "instruction": "system"},
            },
        ],
    )
    base.update(kw)
    return load_config(DataConfig, None, **base)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_build_keeps_or_rejects_every_row_and_is_byte_identical(tmp_path, sources):
    config = _config(tmp_path, sources)
    out, stats = build_dataset(config)
    splits = {s: _lines(out / f"{s}.jsonl") for s in ("train", "validation", "test")}
    rejected = _lines(out / "rejected.jsonl")
    total_in = 20 + 1 + 1
    assert sum(map(len, splits.values())) + len(rejected) == total_in
    assert all(r["step"] and r["reason"] for r in rejected)
    ids = [r["id"] for rows in splits.values() for r in rows] + [r["id"] for r in rejected]
    assert len(ids) == len(set(ids)) == total_in
    # The 20 alpaca rows differ by one number: near duplicates, so most are rejected.
    assert any(r["reason"] == "near_duplicate" for r in rejected)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    build_dataset(config)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["inputs"]) == {"alp", "s", "t"}
    assert "## Rejected, by step and reason" in (out / "README.md").read_text()
    # The split files are in the canonical schema.
    assert len(list(read_conversations(out / "train.jsonl"))) == len(splits["train"])
    assert {r["meta"]["stage"] for r in splits["train"]} <= {"general", "oncology"}


def test_splits_are_seeded_and_sized(tmp_path, sources):
    config = _config(
        tmp_path, sources, dedup=False, val_set_size=3, test_size=2, max_split_fraction=0.5
    )
    out, stats = build_dataset(config)
    assert stats.split[("general", "validation")] == 3
    assert stats.split[("general", "test")] == 2
    before = (out / "validation.jsonl").read_text()
    build_dataset(
        _config(
            tmp_path,
            sources,
            dedup=False,
            val_set_size=3,
            test_size=2,
            max_split_fraction=0.5,
            seed=7,
        )
    )
    assert (out / "validation.jsonl").read_text() != before


def test_sample_rejects_the_rest_with_reason(tmp_path, sources):
    config = _config(tmp_path, sources, dedup=False)
    config.sources[0].sample = 5
    out, stats = build_dataset(config)
    rejected = _lines(out / "rejected.jsonl")
    assert sum(r["reason"] == "not_sampled" for r in rejected) == 15
    assert sum(n for (st, _), n in stats.split.items() if st == "general") == 5


def test_malformed_source_stops_before_writing_anything(tmp_path, sources):
    bad = _write(tmp_path / "bad.jsonl", '{"instruction": "x", "output": "y"}\nnot json\n')
    config = _config(tmp_path, sources)
    config.sources.append(load_config(DataConfig, None, sources=[{"path": str(bad)}]).sources[0])
    with pytest.raises(SourceError, match="bad.jsonl:2"):
        build_dataset(config)
    assert not (tmp_path / "out").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_cli_reports_bad_config_in_one_line(tmp_path, capsys):
    cfg = _write(tmp_path / "c.yaml", "sources: [{path: x.json, format: excel}]\n")
    assert main(["data", "build", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "c.yaml" in err and "format must be one of" in err
    with pytest.raises(ConfigError, match="sources: at least one"):
        load_config(DataConfig, None, sources=[])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It\u2019s  fine\u00a0now ", "It's fine now"),
        ("donâ€™t worry", "don't worry"),
        ("a\n\n\n\nb", "a\n\nb"),
    ],
)
def test_normalize(text, expected):
    assert normalize_text(text) == expected


def test_grammar_repair_is_light():
    assert repair_grammar("i think so , yes.It is fine") == "I think so, yes. It is fine"
    assert repair_grammar("CEA 2.5 ng/mL, EGFR L858R.") == "CEA 2.5 ng/mL, EGFR L858R."


def test_boilerplate_is_stripped(tmp_path):
    path = _write(
        tmp_path / "g.json",
        json.dumps(
            [
                {
                    "instruction": "",
                    "input": "Is a PSA of 6 worrying at 60?",
                    "output": "Hi, thanks for the query. "
                    "A PSA of 6 needs a repeat test and an MRI. "
                    "Hope this helps. Regards Dr. Smith",
                }
            ]
        ),
    )
    config = load_config(
        DataConfig,
        None,
        sources=[{"path": str(path)}],
        val_set_size=0,
        output_dir=str(tmp_path / "out"),
        tokenizer=None,
    )
    out, _ = build_dataset(config)
    answer = _lines(out / "train.jsonl")[0]["turns"][1]["text"]
    assert answer == "A PSA of 6 needs a repeat test and an MRI."


@pytest.mark.parametrize(
    ("question", "answer", "problem"),
    [
        ("Hi", ANSWER, "question_too_short"),
        ("What is my CEA result?", "Fine.", "answer_too_short"),
        ("What is my CEA result?", "Please consult a doctor for this problem.", "non_answer"),
        ("What is my CEA result?", "#### $$$$ 1234 5678 9999 ////", "answer_not_language"),
        ("What is my CEA result?", ANSWER, None),
    ],
)
def test_quality_problems(question, answer, problem):
    assert quality_problem(question, answer, 10, 5, 10000) == problem


def test_near_duplicates():
    index = NearDuplicateIndex()
    base = "My father has small cell lung cancer with liver metastasis and a bad cough " * 3
    assert index.check(base) is None
    assert index.check(base.upper()) == "exact"
    assert index.check(base.replace("bad", "dry", 1)) == "near"
    assert index.check("Completely different text about breast cancer screening.") is None


@pytest.mark.integration
def test_all_shared_files_and_starter_build(tmp_path):
    shared_data("oncogpt_qa_public.json")
    config = load_config(
        DataConfig,
        Path(__file__).parents[1] / "configs/data/shared.yaml",
        output_dir=str(tmp_path / "built"),
        tokenizer=None,
    )
    out, stats = build_dataset(config)
    assert sum(stats.input.values()) == sum(stats.split.values()) + sum(stats.rejected.values())
    assert stats.input["oncogpt_qa"] == 500 and stats.input["genmedgpt"] == 5452
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["categorizer_accuracy"]["category"] > 0.7
    card = (out / "README.md").read_text()
    assert "recall" in card and "Accuracy against the hand labels" in card
