"""Reference checker: sentence splitting, key terms, verdicts, rendering, measured figures."""

from __future__ import annotations

import pytest

from oncogpt.evaluate.checker import evaluate, main
from oncogpt.rag.check import EVAL_FILE, KB_FILE, SupportScorer, check_answer, render_checked
from oncogpt.rag.encoder import default_encoder
from oncogpt.rag.retrieve import Hit
from oncogpt.rag.sentences import is_factual
from oncogpt.rag.terms import conflicts, drugs, genes, missing_terms, numbers, stages
from oncogpt.text import split_sentences

EGFR = (
    "Osimertinib is a targeted drug for non-small cell lung cancer whose tumor carries an EGFR "
    "mutation. It is taken by mouth once a day at a dose of 80 mg. Alectinib is used instead "
    "when the cancer has an ALK rearrangement."
)
SCREENING = (
    "Adults at average risk should start screening for colorectal cancer at age 45, with a "
    "colonoscopy every 10 years or a stool test every year."
)


@pytest.fixture(scope="session")
def encoder():
    return default_encoder()  # the process-wide instance: loaded once


@pytest.fixture(scope="module")
def hits() -> list[Hit]:
    return [
        Hit("egfr", "EGFR-mutant lung cancer", EGFR, "PDQ", "https://example.org/1", 0.03),
        Hit("crc", "Colorectal cancer screening", SCREENING, "USPSTF", "https://ex.org/2", 0.02),
    ]


def verdicts(answer: str, hits, encoder) -> list[str]:
    return [s.verdict for s in check_answer(answer, hits, encoder=encoder).sentences]


def test_sentence_splitting():
    text = (
        "The CEA was 12.5 ng/mL, e.g. after surgery. It rose again. [2] Next one [1].\n"
        "- A bullet without a period\n"
        "Is it serious? Yes!\n\nReferences:\n[1] Something. Not a sentence to check."
    )
    assert split_sentences(text) == [
        "The CEA was 12.5 ng/mL, e.g. after surgery.",
        "It rose again. [2]",
        "Next one [1].",
        "- A bullet without a period",
        "Is it serious?",
        "Yes!",
    ]


def test_key_terms():
    assert numbers("The CEA was 12.5 ng/mL after six cycles; 5-10% respond [3].") == {
        "12.5": {"ng/ml"},
        "6": {"cycle"},
        "5": {"%"},  # a range shares its unit
        "10": {"%"},
    }
    assert drugs("Osimertinib and FOLFOX, then pembrolizumab.") == {
        "osimertinib",
        "folfox",
        "pembrolizumab",
    }
    assert genes("EGFR, HER-2, BRCA1 and PD-L1 but not THE or Stage.") == {
        "EGFR",
        "HER2",
        "BRCA1",
        "PDL1",
    }
    assert stages("Stages I through III; stage IV is metastatic.") == {
        "stage 1",
        "stage 2",
        "stage 3",
        "stage 4",
    }


def test_missing_terms_are_strong_evidence():
    assert missing_terms("Osimertinib is taken at 80 mg once a day.", EGFR) == []
    assert missing_terms("Osimertinib is taken at 160 mg.", EGFR) == ["160 mg"]
    assert missing_terms("Gefitinib treats EGFR-mutant lung cancer.", EGFR) == ["gefitinib"]
    assert missing_terms("Osimertinib treats KRAS-mutant cancers.", EGFR) == ["KRAS"]
    assert missing_terms("Osimertinib treats small cell lung cancer.", EGFR) == ["small cell"]
    assert missing_terms("Osimertinib treats breast cancer.", EGFR) == ["breast"]


@pytest.mark.parametrize(
    "sentence,passage,missing",
    [
        (
            "Risks of dry mouth include tooth decay, thrush, and trouble swallowing.",
            "Dry mouth raises the risk of tooth decay and makes swallowing harder.",
            ["thrush"],
        ),
        (
            "Risks of dry mouth include tooth decay, thrush, and trouble swallowing.",
            "Dry mouth raises the risk of tooth decay, thrush (candida) and swallowing trouble.",
            [],
        ),
        ("Surgery is the main treatment for early cancer.", "Radiotherapy is used.", []),
        # a hyphenated word is one item (the held-out question set caught "flu-" flagged)
        (
            "Side effects include flu-like symptoms, an acne-like rash, and tiredness.",
            "Side effects include flu-like symptoms, an acne-like rash, and tiredness.",
            [],
        ),
    ],
)
def test_list_items_absent_from_the_passage(sentence, passage, missing):
    from oncogpt.rag.sentences import missing_items

    assert missing_items(sentence, passage) == missing


# Claim-level checks. Each passage below is the kind that fooled the checker on real answers:
# it is about the sentence's drug and shares its words, but does not make its claim.
EGFR_DIARRHEA = (
    "Diarrhea is one of the most common side effects of EGFR tyrosine kinase inhibitors, "
    "especially afatinib and dacomitinib. People taking an EGFR inhibitor are often told to keep "
    "loperamide at home and take it at the first loose stool. Drinking plenty of fluids, such as "
    "water, broth, and oral rehydration drinks, helps prevent dehydration from diarrhea. Eating "
    "small meals of low-fiber foods and avoiding greasy or spicy foods can ease diarrhea. The "
    "care team should be called if diarrhea continues despite loperamide. People should seek "
    "urgent care for dizziness, fever, or severe belly pain with diarrhea."
)
CRC_FOLLOW_UP = (
    "ASCO recommends a CEA blood test every 3 to 6 months for 5 years. ASCO recommends a CT scan "
    "of the chest and abdomen once a year for 3 years. ASCO recommends a colonoscopy 1 year after "
    "surgery and then every 5 years if results are normal."
)
DACOMITINIB = (
    "Dacomitinib is a second-generation EGFR tyrosine kinase inhibitor approved as first "
    "treatment for metastatic non-small cell lung cancer with EGFR exon 19 deletions. In a trial, "
    "dacomitinib kept the cancer under control longer than gefitinib."
)


def test_qualifiers_and_units_of_time_of_the_claim():
    from oncogpt.rag.terms import durations, missing_durations, missing_qualifiers

    said = "Diarrhea is very common with afatinib and can be severe, so it is usually treated."
    assert missing_qualifiers(said, "Diarrhea is common with afatinib.") == ["severe", "usually"]
    assert missing_qualifiers(said, "Severe diarrhea is usually treated.") == []
    assert missing_qualifiers("Heart scans are done before treatment.", "Scans are done.") == [
        "before"
    ]
    # "common" is no qualifier here: "commonly used" paraphrases "usually given"
    assert missing_qualifiers("Etoposide is commonly used.", "Etoposide is usually given.") == []
    assert durations("Take it daily for a week, then yearly.") == {"day", "week", "year"}
    assert missing_durations(
        "Flu-like symptoms lasting days to weeks.", "Flu-like symptoms for a day or two."
    ) == ["week"]
    assert missing_durations("It appears 1 to 6 months later.", "It appears in months.") == []


def test_numbers_and_drugs_in_another_context():
    from oncogpt.rag.terms import misplaced_terms, other_drugs

    said = "A colonoscopy is done 1 year after surgery, and then every 3 to 5 years."
    matching = "ASCO recommends a colonoscopy 1 year after surgery and then every 5 years."
    assert misplaced_terms(said, CRC_FOLLOW_UP, matching) == ["3 year"]
    # a number the passage never has is a missing term, not a misplaced one
    assert misplaced_terms("It is done every 7 years.", CRC_FOLLOW_UP, matching) == []
    assert misplaced_terms(matching, CRC_FOLLOW_UP, matching) == []
    gefitinib = (
        "Gefitinib is approved as first treatment for metastatic non-small cell lung cancer."
    )
    first = DACOMITINIB.split(". ")[0]
    assert other_drugs(gefitinib, first) == ["dacomitinib"]
    assert other_drugs(gefitinib, DACOMITINIB) == []  # the passage text names gefitinib too
    assert other_drugs("Surgery is the main treatment.", first) == []


def test_stage_extent_and_nearby_distant():
    assert stages("Extensive-stage disease is treated with chemotherapy.") == {"extensive-stage"}
    assert missing_terms("Extensive-stage disease is treated with chemotherapy.", EGFR) == [
        "extensive-stage"
    ]
    assert conflicts(
        "The biopsy checks whether cancer has reached distant lymph nodes.",
        "The biopsy checks whether cancer has reached nearby lymph nodes.",
        "The biopsy checks whether cancer has reached nearby lymph nodes.",
    ) == ["says 'distant' where the passage says 'nearby'"]


def test_clauses_the_passage_does_not_state():
    from oncogpt.rag.sentences import clauses, lexical_window, unsupported_clauses

    said = (
        "A platelet transfusion may be given when the count is very low, and chemotherapy may "
        "be postponed while the bone marrow heals."
    )
    passage = (
        "Platelet transfusions are given when the platelet count is very low or to treat bleeding."
    )
    assert len(clauses(said)) == 2
    assert unsupported_clauses(said, passage) == [
        "chemotherapy may be postponed while the bone marrow heals."
    ]
    assert (
        unsupported_clauses(
            said, f"{passage} Chemotherapy may be postponed while the marrow heals."
        )
        == []
    )
    assert clauses("Osimertinib is taken once a day.") == []
    assert lexical_window("How often is a colonoscopy done?", CRC_FOLLOW_UP, size=1).startswith(
        "ASCO recommends a colonoscopy"
    )


def test_trade_name_as_a_list_item():
    from oncogpt.rag.sentences import missing_items

    said = "Side effects of imatinib (Gleevec) include swelling, cramps, and rash."
    assert missing_items(said, "Imatinib causes swelling, muscle cramps and a rash.") == []
    assert "Gleevec" in missing_items(said, "Sunitinib causes swelling, muscle cramps and a rash.")


@pytest.mark.parametrize(
    "sentence,passage,reason",
    [
        (
            "Diarrhea is common with afatinib and can be severe, so loperamide is started at the "
            "first loose stool.",
            EGFR_DIARRHEA,
            "not in the matching passage text: severe",
        ),
        (
            "A CEA blood test is usually done every 3 to 6 months for about 3 years.",
            CRC_FOLLOW_UP,
            "not in the matching passage text: usually, 3 year",
        ),
        (
            "Gefitinib is a second-generation EGFR tyrosine kinase inhibitor approved as first "
            "treatment for metastatic non-small cell lung cancer with EGFR exon 19 deletions.",
            DACOMITINIB,
            "the matching passage sentence is about dacomitinib",
        ),
    ],
)
def test_claims_the_passage_makes_of_something_else(sentence, passage, reason, encoder):
    hits = [Hit("p", "Passage", passage, "test", "https://example.org/p", 0.1)]
    check = check_answer(f"{sentence} [1]", hits, encoder=encoder).sentences[0]
    assert check.verdict == "unsupported" and reason in check.reason
    # each sentence of the passage itself, quoted verbatim, stays supported
    for own in split_sentences(passage):
        assert verdicts(f"{own} [1]", hits, encoder) == ["supported"], own


def test_real_answer_sentences_against_other_passages(encoder):
    """Sentences of real default answers paired with another passage, labelled by reading
    (resources/kb/support_real_cross.jsonl): the figures docs/rag.md states, as a floor."""
    path = EVAL_FILE.with_name("support_real_cross.jsonl")
    result = evaluate(path, KB_FILE, encoder=encoder)
    assert result["shipped/all"]["n"] >= 400
    assert sum(1 for line in path.open() if '"supports": true' in line) >= 25
    assert result["shipped/all"]["precision"] >= 0.85 and result["shipped/all"]["recall"] >= 0.45


def test_fresh_held_out_set_is_labelled():
    """resources/kb/support_real_fresh.jsonl: labelled before the checker saw it, never tuned on;
    every row has a verdict and the reason for it."""
    import json

    rows = [json.loads(line) for line in EVAL_FILE.with_name("support_real_fresh.jsonl").open()]
    assert len(rows) >= 400 and sum(r["supports"] for r in rows) >= 40
    assert all(isinstance(r["supports"], bool) and r["note"] for r in rows)
    assert {r["half"] for r in rows} == {"odd", "even"}
    assert all(r["passage_id"] not in r["source_passage_ids"] for r in rows)


def test_conflicts():
    assert conflicts("Alectinib treats EGFR-mutant lung cancer.", EGFR, EGFR) == [
        "the passage ties alectinib to ALK"
    ]
    window = "Smoking raises the risk of lung cancer."
    assert conflicts("Smoking lowers the risk of lung cancer.", window, window) == [
        "says 'lowers' where the passage says 'raises'"
    ]
    assert conflicts("Smoking does not change the risk.", window, window)
    assert conflicts("Smoking always causes lung cancer.", window, window)
    assert conflicts("Smoking raises the risk of lung cancer.", window, window) == []


def test_factual_or_not():
    for text in (
        "Hello!",
        "Thank you for your question.",
        "Is this serious?",
        "Please talk to your oncologist about these options.",
        "I am not sure about the exact dose.",
    ):
        assert not is_factual(text), text
    assert is_factual("Osimertinib is taken once a day.")
    assert is_factual("Ask your doctor about osimertinib, which targets EGFR.")


def test_verdicts(hits, encoder):
    answer = (
        "Hello, thanks for asking. "
        "Osimertinib is a daily pill for EGFR-mutant non-small cell lung cancer [1]. "
        "The usual dose is 160 mg a day [1]. "
        "Gefitinib is taken by mouth once a day [1]. "
        "Screening for colorectal cancer should start at age 45 [2]. "
        "Screening starts at 45 [3]. "
        "Colon cancer is the third most common cancer. "
        "Please see your doctor about screening."
    )
    assert verdicts(answer, hits, encoder) == [
        "not_factual",
        "supported",
        "unsupported",  # wrong number
        "unsupported",  # wrong drug
        "supported",
        "bad_citation",
        "uncited",
        "not_factual",
    ]


def test_unrelated_passage_does_not_support(hits, encoder):
    answer = "Hair loss after chemotherapy usually grows back within months [1]."
    assert verdicts(answer, hits, encoder) == ["unsupported"]


def test_citing_several_passages(hits, encoder):
    answer = "Osimertinib treats EGFR-mutant lung cancer, and screening starts at 45 [1][2]."
    assert verdicts(answer, hits, encoder) == ["supported"]


def test_render_flag_and_remove(hits, encoder):
    answer = (
        "Osimertinib treats EGFR-mutant non-small cell lung cancer [1]. "
        "The usual dose is 160 mg a day [1].\n"
        "Screening starts at 45 [3].\n"
        "Colon cancer is the third most common cancer."
    )
    report = check_answer(answer, hits, encoder=encoder)
    flagged = render_checked(report, mode="flag")
    assert "The usual dose is 160 mg a day [1]. [unsupported]" in flagged
    assert "Screening starts at 45 [3]. [bad citation]" in flagged
    assert "Colon cancer is the third most common cancer. [uncited]" in flagged
    assert flagged.endswith(
        "Reference check: 4 sentences checked, 1 supported, 2 unsupported, 1 uncited; "
        "1 with a citation number that matches no passage"
    )
    removed = render_checked(report, mode="remove")
    assert "160 mg" not in removed and "[3]" not in removed
    assert removed.startswith("Osimertinib treats EGFR-mutant non-small cell lung cancer [1].\n")
    assert "[uncited]" in removed
    assert "Colon cancer" not in render_checked(report, mode="remove", remove_uncited=True)
    with pytest.raises(ValueError):
        render_checked(report, mode="drop")  # type: ignore[arg-type]


def test_summary_with_nothing_to_check(hits, encoder):
    report = check_answer("Hello! How can I help?", hits, encoder=encoder)
    assert report.summary() == (
        "Reference check: 0 sentences checked, 0 supported, 0 unsupported, 0 uncited"
    )


@pytest.fixture(scope="module")
def measured(encoder):
    if not (EVAL_FILE.is_file() and KB_FILE.is_file()):
        pytest.skip(f"{EVAL_FILE} or {KB_FILE} is absent")
    return evaluate(EVAL_FILE, KB_FILE, encoder=encoder)


def test_measured_figures_meet_thresholds(measured):
    # Shipped thresholds were chosen on the even rows; the odd rows are the held-out figure.
    # The claim-level checks cost recall here (0.922 -> 0.894: four paraphrases flagged) for
    # precision on real output (docs/rag.md).
    odd, everything = measured["shipped/odd"], measured["shipped/all"]
    assert odd["precision"] >= 0.85 and odd["recall"] >= 0.89 and odd["f1"] >= 0.88
    assert everything["f1"] >= 0.88
    kinds = everything["per_kind"]
    assert kinds["unrelated"][0] >= 0.95
    assert kinds["wrong_drug"][0] >= 0.85 and kinds["wrong_number"][0] >= 0.75
    assert kinds["paraphrase"][0] >= 0.88 and kinds["exact_fact"][0] >= 0.95


def test_eval_command_needs_flag(capsys):
    assert main([]) == 2
    assert main(["--eval", "--file", "/nonexistent.jsonl"]) == 1
    assert "absent" in capsys.readouterr().err


def test_scorer_features_and_supports(encoder):
    # The generation side (oncogpt/rag/ask.py) picks passages for uncited sentences this way.
    scorer = SupportScorer(encoder)
    cos, lex, problems = scorer.features("Osimertinib is taken at 80 mg once a day.", [EGFR])
    assert problems == [] and scorer.supports(cos, lex, problems)[0]
    cos, lex, problems = scorer.features("Osimertinib is taken at 160 mg.", [EGFR])
    assert problems == ["160 mg"] and not scorer.supports(cos, lex, problems)[0]
