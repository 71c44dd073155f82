"""Metric sanity and bootstrap statistics of oncogpt.evaluate.metrics (offline, a few seconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oncogpt.evaluate.metrics import (
    aggregate,
    bootstrap_ci,
    embedding_scores,
    ends_cleanly,
    paired_bootstrap,
    repetition_rate,
    score_item,
)

REF = (
    "Small cell lung cancer is mainly treated with chemotherapy, often combined with "
    "radiotherapy. Surgery is rarely an option because the disease spreads early."
)
PARAPHRASE = (
    "Chemotherapy, usually together with radiation, is the main treatment for small cell lung "
    "cancer. Surgery is seldom possible since it spreads early."
)
UNRELATED = "The football match was postponed because of heavy rain in the city on Sunday."
LOOP = "It is recommended to review the CT regularly and take the medicine on time, " * 8


# --- lexical metrics ------------------------------------------------------------------------


def test_identical_strings_score_maximal() -> None:
    s = score_item(REF, REF)
    assert s["rouge_l"] == pytest.approx(1.0)
    assert s["bleu"] == pytest.approx(100.0)
    assert s["chrf"] == pytest.approx(100.0)
    assert s["answer_len_words"] == len(REF.split())
    assert s["ends_cleanly"] == 1.0
    assert s["repetition"] == 0.0


@pytest.mark.parametrize("metric", ["rouge_l", "bleu", "chrf"])
def test_related_beats_unrelated(metric: str) -> None:
    same = score_item(REF, REF)[metric]
    para = score_item(PARAPHRASE, REF)[metric]
    other = score_item(UNRELATED, REF)[metric]
    assert same > para > other


@pytest.mark.parametrize(("answer", "reference"), [("", REF), (REF, ""), ("   ", "  "), ("", "")])
def test_empty_side_scores_zero(answer: str, reference: str) -> None:
    s = score_item(answer, reference)
    assert s["rouge_l"] == s["bleu"] == s["chrf"] == 0.0
    assert all(math.isfinite(v) for v in s.values())


ENDINGS = [
    ("full stop", "Chemotherapy is the mainstay. Please see your oncologist.", 1.0),
    ("question mark", "Have you had a biopsy?", 1.0),
    ("quote and bracket", 'He said "stop the drug." (See the leaflet.)', 1.0),
    ("markdown bold", "The most important thing is **early review.**", 1.0),
    ("cut mid-sentence", "Based on your description, the tumor is likely to respond to", 0.0),
    ("cut mid-word", "Chemotherapy is the mainstay of treat", 0.0),
    ("closed list", "Suggestions:\n1. Rest well\n2. Eat a balanced diet", 1.0),
    ("list cut on a connector", "Suggestions:\n1. Rest well\n2. Eat a balanced diet with", 0.0),
    ("closed line", "Thanks for the query\nPlease rest and review in 3 months\n", 1.0),
    ("line break after a heading", "Suggestions:\n", 0.0),
    ("sign-off", "Take the medicine daily.\nRegards", 1.0),
    ("term used twice", "Non small cell lung cancer differs from small cell lung cancer.", 1.0),
    ("runaway phrase", LOOP, 0.0),
    ("runaway phrase ending in a stop", LOOP + "End.", 0.0),
    ("same sentence 3 times", "Please rest. Review the CT. Please rest. Please rest.", 0.0),
    ("empty", "", 0.0),
]


@pytest.mark.parametrize(("case", "answer", "expected"), ENDINGS, ids=[e[0] for e in ENDINGS])
def test_ends_cleanly(case: str, answer: str, expected: float) -> None:
    assert ends_cleanly(answer) == expected, case


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [(REF, 0.0, 0.05), (PARAPHRASE, 0.0, 0.05), (LOOP, 0.6, 1.0), ("too short", 0.0, 0.0)],
)
def test_repetition_rate(text: str, low: float, high: float) -> None:
    assert low <= repetition_rate(text) <= high
    assert score_item(text, REF)["repetition"] == repetition_rate(text)


# --- embedding metrics ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded() -> list[dict[str, float]]:
    answers = [REF, PARAPHRASE, UNRELATED, "", REF]
    references = [REF, REF, REF, REF, ""]
    return embedding_scores(answers, references)


def test_embedding_identical_is_one(embedded: list[dict[str, float]]) -> None:
    assert set(embedded[0]) == {"bertscore_p", "bertscore_r", "bertscore_f", "embed_cosine"}
    for value in embedded[0].values():
        assert value == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("metric", ["bertscore_p", "bertscore_r", "bertscore_f", "embed_cosine"])
def test_embedding_orders_related_above_unrelated(
    embedded: list[dict[str, float]], metric: str
) -> None:
    same, para, other = (embedded[i][metric] for i in range(3))
    assert same > para > other
    assert para > 0.5 > other


def test_embedding_f_is_harmonic_mean(embedded: list[dict[str, float]]) -> None:
    p, r, f = (embedded[1][k] for k in ("bertscore_p", "bertscore_r", "bertscore_f"))
    assert f == pytest.approx(2 * p * r / (p + r))


@pytest.mark.parametrize("row", [3, 4])
def test_embedding_empty_side_is_zero(embedded: list[dict[str, float]], row: int) -> None:
    assert all(v == 0.0 for v in embedded[row].values())


def test_embedding_batching_does_not_change_scores() -> None:
    answers = [PARAPHRASE, UNRELATED, REF + " " + PARAPHRASE]
    references = [REF] * 3
    one = embedding_scores(answers, references, batch_size=1)
    many = embedding_scores(answers, references, batch_size=8)
    for a, b in zip(one, many, strict=True):
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-4)


def test_embedding_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="references"):
        embedding_scores(["a"], ["a", "b"])


# --- bootstrap ------------------------------------------------------------------------------


@pytest.mark.parametrize("n_items", [5, 50, 500])
def test_bootstrap_ci_contains_mean(n_items: int) -> None:
    values = np.random.default_rng(n_items).normal(0.3, 0.1, n_items)
    mean, low, high = bootstrap_ci(values)
    assert mean == pytest.approx(values.mean())
    assert low <= mean <= high


def test_bootstrap_ci_narrows_with_n() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n_items in (20, 200, 2000):
        _, low, high = bootstrap_ci(rng.normal(0, 1, n_items))
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # The width shrinks like 1/sqrt(n): x10 items gives about /3.2.
    assert 2.0 < widths[0] / widths[1] < 5.0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], (math.nan, math.nan, math.nan)),
        ([0.4], (0.4, 0.4, 0.4)),
        ([1.0, 1.0, 1.0], (1.0, 1.0, 1.0)),
        ([1.0, math.nan, 3.0, math.inf], None),  # non-finite dropped: mean of 1 and 3
    ],
)
def test_bootstrap_ci_edge_cases(values: list[float], expected: tuple | None) -> None:
    got = bootstrap_ci(values)
    if expected is None:
        assert got[0] == 2.0 and 1.0 <= got[1] <= got[2] <= 3.0
    else:
        np.testing.assert_allclose(got, expected)


def test_bootstrap_is_seeded() -> None:
    values = np.random.default_rng(1).random(100)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)


def test_paired_bootstrap_detects_clear_difference() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.2, 0.1, 200)
    b = a + rng.normal(0.05, 0.05, 200)  # b is better on nearly every item
    diff, low, high, p = paired_bootstrap(a, b)
    assert diff == pytest.approx(float(np.mean(b - a)))
    assert 0 < low < diff < high
    assert p < 0.01
    # Swapping the runs flips the sign and keeps the p-value.
    flipped = paired_bootstrap(b, a)
    assert flipped[0] == pytest.approx(-diff) and flipped[3] == pytest.approx(p)


def test_paired_bootstrap_no_difference() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0.2, 0.1, 200)
    noise = rng.normal(0, 0.05, 100)
    b = a + np.concatenate([noise, -noise])  # zero mean difference by construction
    diff, low, high, p = paired_bootstrap(a, b)
    assert diff == pytest.approx(0.0, abs=1e-12)
    assert low < 0 < high
    assert p > 0.5
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0, 1.0)


def test_paired_bootstrap_drops_incomplete_pairs_and_checks_length() -> None:
    diff, *_ = paired_bootstrap([1.0, math.nan, 2.0], [2.0, 5.0, math.nan])
    assert diff == 1.0
    with pytest.raises(ValueError, match="length"):
        paired_bootstrap([1.0, 2.0], [1.0])


def test_bootstrap_is_fast_on_many_items() -> None:
    import time

    values = np.random.default_rng(0).random(20_000)
    start = time.perf_counter()
    bootstrap_ci(values, n=1000)
    assert time.perf_counter() - start < 5.0


# --- aggregate ------------------------------------------------------------------------------

ROWS = [
    {"category": "research", "site": "lung", "metrics": {"rouge_l": 0.2, "bleu": 10.0}},
    {"category": "research", "site": "lung", "metrics": {"rouge_l": 0.4, "bleu": 20.0}},
    {"category": "therapeutic", "site": "breast", "metrics": {"rouge_l": 0.6}},
    {"category": None, "rouge_l": 0.8, "metrics": None},  # flat row, no category
]


@pytest.mark.parametrize(
    ("by", "group", "metric", "n", "mean"),
    [
        (None, None, "rouge_l", 4, 0.5),
        (None, None, "bleu", 2, 15.0),
        ("category", "research", "rouge_l", 2, 0.3),
        ("category", "therapeutic", "bleu", 0, math.nan),
        ("category", "unknown", "rouge_l", 1, 0.8),
        ("site", "lung", "bleu", 2, 15.0),
    ],
)
def test_aggregate(by: str | None, group: str | None, metric: str, n: int, mean: float) -> None:
    agg = aggregate(ROWS, ["rouge_l", "bleu"], by=by)
    assert agg["n"] == 4 and agg["by"] == by
    stats = agg["overall"][metric] if group is None else agg["groups"][group][metric]
    assert stats["n"] == n
    if n:
        assert stats["mean"] == pytest.approx(mean)
        assert stats["low"] <= stats["mean"] <= stats["high"]
    else:
        assert math.isnan(stats["mean"])
    if by is None:
        assert agg["groups"] == {}


def test_aggregate_groups_sorted_by_size() -> None:
    agg = aggregate(ROWS, ["rouge_l"], by="category")
    assert list(agg["groups"]) == ["research", "therapeutic", "unknown"]
    assert agg["group_sizes"] == {"research": 2, "therapeutic": 1, "unknown": 1}
