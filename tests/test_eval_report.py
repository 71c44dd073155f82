"""compare_runs on synthetic eval runs: alignment, Markdown tables, plots, summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from oncogpt.evaluate.report import build_comparison, compare_runs, load_run

N_ITEMS = 30
SITES = ["lung"] * 12 + ["breast"] * 8 + ["liver"] * 5 + ["thyroid"] * 3 + [None] * 2


def write_run(
    root: Path,
    name: str,
    gain: float,
    *,
    skip: tuple[int, ...] = (),
    perplexity: bool = True,
    meta: bool = True,
    seed: int = 0,
) -> Path:
    """A run folder whose rouge_l is shifted by ``gain`` and perplexity lowered by it."""
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True)
    if meta:
        run = {"name": name, "model": "tiny-llama", "adapter": None if gain == 0 else "lora"}
        (folder / "run.json").write_text(json.dumps(run))
    rows = []
    for i in range(N_ITEMS):
        metrics = {
            "rouge_l": 0.2 + gain + float(rng.normal(0, 0.02)),
            "bleu": 5.0 + 50 * gain + float(rng.normal(0, 1)),
            "ends_cleanly": float(i % 2),
            "repetition": 0.05,
            "answer_len_words": 40.0 + 100 * gain + i,
        }
        if perplexity:
            metrics["perplexity"] = 12.0 - 20 * gain + float(rng.normal(0, 0.5))
        row = {
            "idx": i,
            "question": f"q{i}",
            "reference": " ".join(["word"] * (50 + i)),
            "answer": " ".join(["word"] * int(metrics["answer_len_words"])),
            "category": "research" if i % 3 else "therapeutic",
            "site": SITES[i],
            "metrics": metrics,
        }
        if i not in skip:
            rows.append(json.dumps(row))
    (folder / "results.jsonl").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    return [
        write_run(root, "base", 0.0, seed=1),
        write_run(root, "tuned", 0.1, skip=(5,), seed=2),
        write_run(root, "same", 0.0, perplexity=False, seed=3),
    ]


@pytest.fixture(scope="module")
def report(runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report shared by the read-only checks below (building it takes about a second)."""
    return compare_runs(runs, tmp_path_factory.mktemp("report"), n_boot=200)


def test_report_files(report: Path) -> None:
    from PIL import Image

    assert report.name == "report.md" and report.is_file()
    for name in ("metrics_by_category.png", "answer_length.png"):
        path = report.parent / name
        assert path.stat().st_size > 10_000
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            width, height = img.size
            assert width > 800 and height > 300


EXPECTED_LINES = [
    "## Runs",
    "| 1 | `base` (baseline) | tiny-llama |",
    "## Metrics by category (mean [95% CI])",
    "| metric | run | overall (n=29) | research (n=19) | therapeutic (n=10) |",
    "| rouge_l ↑ | `tuned` |",
    "| perplexity ↓ | `same` | — | — | — |",
    "| answer_len_words | `base` |",
    "## Differences vs baseline `base`",
    "| rouge_l ↑ | `tuned` − `base` |",
    "## Metrics by site (sites with ≥ 5 items",
    "| lung | 11 |",
    "| liver | 5 |",
    "![Metrics by category](metrics_by_category.png)",
    "- **n = 29** items present in every run",
    "- `base`: 1 item(s) excluded (not in every run): 5",
    "- `same` has `perplexity` for 0 of 29 items.",
    "not shown per site: thyroid (3), unknown (2)",
]


@pytest.mark.parametrize("expected", EXPECTED_LINES)
def test_report_markdown_has(report: Path, expected: str) -> None:
    assert expected in report.read_text(encoding="utf-8")


def _diff_row(text: str, metric: str, run: str) -> list[str]:
    prefix = f"| {metric} | `{run}` − `base` |"
    line = next(line for line in text.splitlines() if line.startswith(prefix))
    return [c.strip() for c in line.strip("|").split("|")]


@pytest.mark.parametrize(
    ("metric", "run", "verdict"),
    [
        ("rouge_l ↑", "tuned", "better"),
        ("bleu ↑", "tuned", "better"),
        ("perplexity ↓", "tuned", "better"),  # lower perplexity is the better one
        ("answer_len_words", "tuned", "higher"),
        ("ends_cleanly ↑", "tuned", "n.s."),
        ("repetition ↓", "same", "n.s."),
        ("perplexity ↓", "same", "—"),
    ],
)
def test_report_verdicts(report: Path, metric: str, run: str, verdict: str) -> None:
    cells = _diff_row(report.read_text(encoding="utf-8"), metric, run)
    assert cells[3] == verdict


def test_every_markdown_table_is_rectangular(report: Path) -> None:
    widths: list[int] = []
    for line in report.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("|"):
            widths.append(line.count("|"))
        elif widths:
            assert len(set(widths)) == 1, widths
            widths = []


def test_summary_json(report: Path) -> None:
    text = (report.parent / "summary.json").read_text()
    assert "NaN" not in text  # NaN is written as null, so strict JSON readers cope
    summary = json.loads(text)
    assert summary["n_items"] == 29
    assert summary["excluded"] == {"base": [5], "tuned": [], "same": [5]}
    assert [r["name"] for r in summary["runs"]] == ["base", "tuned", "same"]
    rouge = summary["differences"]["tuned"]["rouge_l"]["overall"]
    assert rouge["diff"] == pytest.approx(0.1, abs=0.02) and rouge["p"] < 0.05
    assert summary["stats"]["same"]["category"]["overall"]["perplexity"]["mean"] is None


def test_comparison_aligns_and_labels_from_baseline(runs: list[Path]) -> None:
    c = build_comparison(runs, n_boot=50)
    assert c.idx == [i for i in range(N_ITEMS) if i != 5]
    assert c.categories == ["research", "therapeutic"]
    assert c.sites == ["lung", "breast", "liver"]
    assert c.metrics[:2] == ["rouge_l", "bleu"] and "perplexity" in c.metrics
    assert all(len(rows) == 29 for rows in c.aligned.values())


def test_single_run_report(runs: list[Path], tmp_path: Path) -> None:
    report = compare_runs(runs[:1], tmp_path / "one", n_boot=50)
    text = report.read_text(encoding="utf-8")
    assert "Only one run: nothing to compare." in text
    assert (tmp_path / "one" / "answer_length.png").is_file()


def test_load_run(tmp_path: Path) -> None:
    folder = write_run(tmp_path, "plain", 0.0, meta=False)
    with (folder / "results.jsonl").open("a") as fh:
        fh.write("\n" + json.dumps({"idx": 0, "answer": "redo", "metrics": {}}) + "\n")
    run = load_run(folder)
    assert run.name == "plain" and run.meta == {}  # no run.json: the folder names the run
    assert len(run.rows) == N_ITEMS
    assert run.duplicates == [0] and run.rows[0]["answer"] == "redo"  # the later row wins


@pytest.mark.parametrize(
    ("content", "error"),
    [(None, FileNotFoundError), ('{"idx": 0}\nnot json\n', ValueError), ('{"q": 1}\n', ValueError)],
)
def test_load_run_rejects_bad_folders(tmp_path: Path, content: str | None, error: type) -> None:
    if content is not None:
        (tmp_path / "results.jsonl").write_text(content)
    with pytest.raises(error):
        load_run(tmp_path)


def test_duplicate_names_and_no_common_items(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", "twin", 0.0)
    b = write_run(tmp_path / "b", "twin", 0.1)
    c = build_comparison([a, b], n_boot=50)
    assert [r.name for r in c.runs] == ["twin", "twin#2"]
    disjoint = write_run(tmp_path / "c", "other", 0.0, skip=tuple(range(N_ITEMS)))
    with pytest.raises(ValueError, match="share no items"):
        compare_runs([a, disjoint], tmp_path / "out")


def test_generic_metric_without_plot_metrics(tmp_path: Path) -> None:
    """Runs scored only with perplexity still get tables and a plot."""
    folder = tmp_path / "ppl"
    folder.mkdir()
    rows = [
        {"idx": i, "category": "research", "metrics": {"perplexity": 10.0 + i}} for i in range(6)
    ]
    (folder / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    report = compare_runs([folder], tmp_path / "out", n_boot=50)
    text = report.read_text(encoding="utf-8")
    assert "| perplexity ↓ | `ppl` | 12.50 [" in text
    assert (tmp_path / "out" / "metrics_by_category.png").stat().st_size > 0
