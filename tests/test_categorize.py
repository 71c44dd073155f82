"""Tests for oncogpt.data.categorize: hand-written tables plus figures on the real data."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from oncogpt.data import categorize as cat
from oncogpt.data.categorize import (
    CATEGORIES,
    SITES,
    Categorization,
    categorize,
)
from oncogpt.evaluate import rules as ev
from oncogpt.text import GatedPattern, literal_triggers, normalize

DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _require_data() -> None:
    if not (DATA_DIR / ev.QA_FILE).exists() or not (DATA_DIR / ev.LABELS_FILE).exists():
        pytest.skip(f"labelled OncoGPT data not found in {DATA_DIR}")


@pytest.fixture(scope="module")
def evaluation() -> dict[str, float]:
    _require_data()
    if not (DATA_DIR / ev.GENERAL_FILE).exists():
        pytest.skip(f"general-medicine data not found in {DATA_DIR}")
    return ev.evaluate_categorizer(DATA_DIR)


# --------------------------------------------------------------------------------------------
# Hand-written tables (our own texts, not copied from the data)
# --------------------------------------------------------------------------------------------

SITE_CASES = [
    ("My father has lung adenocarcinoma with brain metastases, what treatment?", "lung"),
    ("Advanced NSCLC with an EGFR 19del mutation, he takes osimertinib.", "lung"),
    ("Small cell carcinoma, four cycles of etoposide and cisplatin so far.", "lung"),
    ("A 2 cm nodule in the upper lobe of the right lung, is it cancer?", "lung"),
    # lung as the metastasis target must not win over the named primary
    ("Lung metastases from rectal cancer, 0.7 cm, can it be cured?", "colorectal"),
    ("Breast cancer has metastasized to the lungs and liver, what should we do?", "breast"),
    ("Esophageal cancer surgery last year, now it has spread to both lungs.", "esophageal"),
    ("Colon cancer turned into lung, he refuses targeted drugs.", "colorectal"),
    ("Liver metastases from lung cancer, what next?", "lung"),
    ("Multiple lung metastases, the primary is a thyroid carcinoma.", "thyroid"),
    ("Nodules in both lungs after breast cancer surgery, has it spread?", "breast"),
    ("Gastric cancer surgery five years ago, now nodules in both lungs. Why?", "gastric"),
    ("Cervical cancer with lung and bone metastases after chemotherapy.", "cervical"),
    # Chinese-translation phrasing
    ("Cardia cancer after surgery, he cannot eat much.", "esophageal"),
    ("Cancer of the esophagus, stage III, radiotherapy or surgery?", "esophageal"),
    (
        "The fourth stage of nasopharyngeal carcinoma, can chemoradiotherapy cure it?",
        "nasopharyngeal",
    ),
    ("Rectum tumor found by colonoscopy, is surgery needed?", "colorectal"),
    ("I found a breast nodule of 1.2 cm by ultrasound, should I worry?", "breast"),
    ("Papillary thyroid carcinoma after thyroidectomy, should I take iodine?", "thyroid"),
    ("Hepatocellular carcinoma with a high AFP and hepatitis B.", "liver"),
    ("Laryngeal cancer, my voice has been hoarse for months.", "head_neck"),
    ("Pancreatic cancer in the head of the pancreas, jaundice.", "pancreatic"),
    ("Ovarian cancer, CA125 keeps rising after chemotherapy.", "ovarian"),
    ("PSA is 12 and the biopsy shows Gleason 7 prostate cancer.", "prostate"),
    ("Endometrial cancer after hysterectomy, is radiotherapy needed?", "uterine"),
    ("Osteosarcoma of the femur in a 15-year-old boy.", "bone_soft_tissue"),
    ("Renal cell carcinoma after a nephrectomy, what follow-up?", "kidney"),
    ("Malignant melanoma on the back, removed last month.", "skin"),
    ("Diffuse large B-cell lymphoma, six cycles of R-CHOP.", "lymphoma"),
    ("Glioblastoma after surgery and temozolomide.", "brain"),
    ("Bladder cancer with blood in the urine after cystoscopy.", "bladder"),
    ("Acute myeloid leukemia, induction chemotherapy next week.", "leukemia"),
    ("Gallbladder cancer with liver involvement, palliative care only?", "other"),
    # no site named
    ("I am worried I might have cancer, I feel tired all the time.", "none"),
    ("Doctor, I have had a headache for two days.", "none"),
    ("Cervical spondylosis and neck stiffness for years.", "none"),
]

CATEGORY_CASES = [
    # research: understanding (diagnosis, results, staging, prognosis, causes)
    ("Is this lump in my neck cancer?", "research"),
    ("My CEA is 12 after surgery. What does this result mean?", "research"),
    ("How long can my father live with stage IV lung cancer?", "research"),
    ("Early lung cancer of 1.4 cm, can it be cured?", "research"),
    ("The CT shows a 3 cm mass with lymph nodes. What stage is it?", "research"),
    ("What is the cause of his rising tumor markers?", "research"),
    ("Has the cancer spread to the bones?", "research"),
    ("Could these symptoms mean the tumor has come back?", "research"),
    ("Does my mother have lung cancer? The CT shows a nodule.", "research"),
    # therapeutic: what to do (treatment choice, drugs, side effects, care)
    ("What treatment should he get next after chemotherapy failed?", "therapeutic"),
    ("Should he take gefitinib or start chemotherapy?", "therapeutic"),
    ("How to relieve the side effects of chemotherapy?", "therapeutic"),
    ("What medicine can relieve her bone pain?", "therapeutic"),
    ("Can I take traditional Chinese medicine during radiotherapy?", "therapeutic"),
    ("What should I eat during chemotherapy?", "therapeutic"),
    ("Is surgery or radiotherapy better for her?", "therapeutic"),
    ("How many cycles of chemotherapy do I need?", "therapeutic"),
    # no cue at all (or a tie): nothing asks what to do, so it is a question to understand
    ("Hello doctor.", "research"),
    ("", "research"),
]

ONCOLOGY_CASES = [
    ("My father has lung cancer.", True),
    ("She is on chemotherapy for lymphoma.", True),
    ("The biopsy showed a carcinoma.", True),
    ("Metastatic melanoma, what now?", True),
    ("Is this tumor malignant?", True),
    ("I have a headache and a fever.", False),
    ("Benign prostatic hyperplasia, I urinate often at night.", False),
    ("Benign paroxysmal positional vertigo when I turn my head.", False),
    ("Malignant hypertension, my blood pressure is 220/130.", False),
    ("My knee hurts after running.", False),
    ("", False),
]


@pytest.mark.parametrize(("question", "expected"), SITE_CASES)
def test_site_table(question: str, expected: str) -> None:
    assert categorize(question).site == expected


@pytest.mark.parametrize(("question", "expected"), CATEGORY_CASES)
def test_category_table(question: str, expected: str) -> None:
    assert categorize(question).category == expected


@pytest.mark.parametrize(("question", "expected"), ONCOLOGY_CASES)
def test_oncology_table(question: str, expected: bool) -> None:
    result = categorize(question)
    assert result.oncology is expected
    assert (result.oncology_score >= cat.ONCOLOGY_THRESHOLD) is expected


def test_answer_counts_less_than_question() -> None:
    # a doctor ruling out cancer once does not make a general dialogue oncological
    result = categorize("I have a cough for a week.", "It is not lung cancer, just a cold.")
    assert not result.oncology
    assert categorize("I have lung cancer and a cough for a week.").oncology


def test_answer_helps_site_when_question_is_vague() -> None:
    question = "My father has cancer, the tumor is 3 cm. What can we do?"
    assert categorize(question).site == "none"
    answer = "Stomach cancer of this size is treated with gastrectomy; gastric cancer surgery."
    assert categorize(question, answer).site == "gastric"


def test_result_shape() -> None:
    result = categorize("Lung adenocarcinoma, what treatment?", "Targeted therapy.")
    assert isinstance(result, Categorization)
    assert result.category in CATEGORIES
    assert result.site in SITES
    assert {"oncology", "research", "therapeutic", "site:lung"} <= result.scores.keys()
    assert result.scores["oncology"] == result.oncology_score
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.site = "breast"  # type: ignore[misc]


def test_sites_are_the_documented_ones() -> None:
    assert SITES == (
        "lung", "breast", "colorectal", "esophageal", "liver", "cervical", "head_neck",
        "gastric", "pancreatic", "thyroid", "ovarian", "prostate", "uterine",
        "bone_soft_tissue", "kidney", "nasopharyngeal", "skin", "lymphoma", "brain", "bladder",
        "leukemia", "other", "none",
    )  # fmt: skip
    assert set(cat.SITE_LEXICON) == set(SITES) - {"none"}


def test_normalisation_makes_phrasing_variants_equal() -> None:
    a = categorize("Non-small-cell lung cancer, what’s next?")
    b = categorize("non small cell lung cancer, what's next?")
    assert a == b


# --------------------------------------------------------------------------------------------
# Fast matching helpers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("abc|de?f", ("abc", "d")),
        (r"tumou?r", ("tumo",)),
        (r"foo\w+|bar baz", ("foo", "bar baz")),
        (r"a[bc]d|x(?:y|z)", ("a", "x")),
        (r"(?:a|b)c", None),
        (r"\bword", None),
        ("x{2}", None),
        (r"how (?:a|b)|what", ("how ", "what")),
        (r"(a|b)|c", None),  # the | inside the group is not top level
    ],
)
def test_literal_triggers(pattern: str, expected: tuple[str, ...] | None) -> None:
    assert literal_triggers(pattern) == expected


def test_every_cue_and_lexicon_pattern_is_gated() -> None:
    patterns = [p for p, _ in cat._ONCOLOGY_RX + cat._RESEARCH_RX + cat._THERAPEUTIC_RX]
    assert all(p.triggers for p in patterns)


def test_gate_never_hides_a_match_on_own_texts() -> None:
    texts = [normalize(q) for q, _ in SITE_CASES + CATEGORY_CASES + ONCOLOGY_CASES]
    for pattern, _ in cat._ONCOLOGY_RX + cat._RESEARCH_RX + cat._THERAPEUTIC_RX:
        for text in texts:
            assert bool(pattern.search(text)) == bool(pattern.rx.search(text)), pattern.rx.pattern


def test_gated_pattern_without_triggers_always_runs() -> None:
    gp = GatedPattern.compile(r"\bcancer")
    assert gp.triggers is None
    assert gp.search("lung cancer") is not None
    assert list(gp.finditer("no match")) == []


# --------------------------------------------------------------------------------------------
# Figures on the real labelled data (skipped when ../shared/data is absent)
# --------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_category_accuracy_on_real_data(evaluation: dict[str, float]) -> None:
    # measured: dev 0.912, held-out 0.840 (majority-class baseline on held-out: 0.732)
    assert evaluation["category_dev"] >= 0.87
    assert evaluation["category_heldout"] >= 0.78
    assert evaluation["category_clear_heldout"] >= 0.82
    assert evaluation["category_all"] >= 0.83


@pytest.mark.integration
def test_site_accuracy_on_real_data(evaluation: dict[str, float]) -> None:
    # measured: dev 0.984, held-out 0.912
    assert evaluation["site_dev"] >= 0.96
    assert evaluation["site_heldout"] >= 0.89
    assert evaluation["site_all"] >= 0.93


@pytest.mark.integration
def test_oncology_rates_on_real_data(evaluation: dict[str, float]) -> None:
    # measured: 1.000 on the oncology items, 0.012 on GenMedGPT (half of them real cancer talk)
    assert evaluation["oncology_rate_oncology"] >= 0.97
    assert evaluation["oncology_rate_general"] <= 0.03


@pytest.mark.integration
def test_speed_on_real_data() -> None:
    _require_data()
    pairs = [(it["question"], it["output"]) for it, _ in ev.load_labeled(DATA_DIR)]
    best = min(_cpu_seconds(pairs) for _ in range(3))
    # a guard against catastrophic backtracking, not a speed figure (measured ~0.5-1.4 ms on a
    # busy 2-core machine; speed lives in benchmarks)
    assert best / len(pairs) < 5e-3


def _cpu_seconds(pairs: list[tuple[str, str]]) -> float:
    start = time.process_time()
    for question, answer in pairs:
        categorize(question, answer)
    return time.process_time() - start


@pytest.mark.integration
def test_gate_never_hides_a_match_on_real_data() -> None:
    _require_data()
    texts = [normalize(it["question"]) for it, _ in ev.load_labeled(DATA_DIR)]
    for pattern, _ in cat._ONCOLOGY_RX + cat._RESEARCH_RX + cat._THERAPEUTIC_RX:
        gated = [bool(pattern.search(t)) for t in texts]
        assert gated == [bool(pattern.rx.search(t)) for t in texts], pattern.rx.pattern


@pytest.mark.integration
def test_labels_are_aligned_and_split_is_even_odd() -> None:
    _require_data()
    rows = ev.load_labeled(DATA_DIR)
    assert len(rows) == 500
    assert ev.split_of(0) == "dev" and ev.split_of(1) == "heldout"
    assert {lab["site"] for _, lab in rows} <= set(SITES)
    assert {lab["category"] for _, lab in rows} == set(CATEGORIES)


def test_accuracy_helper() -> None:
    assert ev.accuracy([("a", "a"), ("a", "b")]) == (0.5, 2)
    value, n = ev.accuracy([])
    assert n == 0 and value != value  # nan
