"""De-identification (rules + NER): every identifier kind goes, medical vocabulary stays."""

from __future__ import annotations

import pytest

from oncogpt.data.deid import KINDS, DeidConfig, Span, deidentify, find_identifiers
from oncogpt.evaluate.deid import build_dataset, evaluate
from oncogpt.evaluate.deid_messages import build_messages

RULES_ONLY = DeidConfig(ner=False)

# (text, kind, the identifier that must disappear)
IDENTIFIERS = [
    ("Hi, my name is Maria Lopez and I have lymphoma.", "NAME", "Maria Lopez"),
    ("my name is josé smith, 54, with NSCLC.", "NAME", "josé smith"),
    ("Dr. Ahmed Al-Farsi started osimertinib.", "NAME", "Al-Farsi"),
    ("Mrs. O'Brien asked about FOLFOX.", "NAME", "O'Brien"),
    ("Prof. van der Berg reviewed the PET-CT.", "NAME", "van der Berg"),
    ("I am Kwame and my father has Hodgkin lymphoma.", "NAME", "Kwame"),
    ("Thank you for the advice.\nRegards,\nSiobhan Kelly", "NAME", "Siobhan Kelly"),
    ("The patient, Jonas Lindqvist, has Ewing sarcoma.", "NAME", "Jonas Lindqvist"),
    ("I was sent to a surgeon named Kenji Watanabe.", "NAME", "Kenji Watanabe"),
    ("My wife Adaeze finished R-CHOP last week.", "NAME", "Adaeze"),
    ("Sarah Connor called about the biopsy.", "NAME", "Sarah Connor"),
    ("I live at 1423 Maple Avenue, Apt 4B, near the clinic.", "ADDRESS", "1423 Maple Avenue"),
    ("Send it to PO Box 4411 please.", "ADDRESS", "PO Box 4411"),
    ("We are at 12 High Street, Leeds LS1 4DT.", "ZIP", "LS1 4DT"),
    ("Springfield, IL 62704 is where I live.", "ZIP", "62704"),
    ("My zip code is 10027.", "ZIP", "10027"),
    ("Biopsy on 12/03/2021 showed NSCLC.", "DATE", "12/03/2021"),
    ("CT on 2021-03-12 was stable.", "DATE", "2021-03-12"),
    ("Surgery is on March 12.", "DATE", "March 12"),
    ("Diagnosed 12 March 2021 with stage IIIB.", "DATE", "12 March 2021"),
    ("Chemo starts on the 3rd of May.", "DATE", "3rd of May"),
    ("Scan on Monday, March 12, 2021.", "DATE", "Monday, March 12, 2021"),
    ("Next visit 14-Mar-2021 for PSA 0.02.", "DATE", "14-Mar-2021"),
    ("My grandmother is 92 years old and has CLL.", "AGE", "92"),
    ("Patient aged 95 with stage IV disease.", "AGE", "95"),
    ("A 101-year-old man with melanoma.", "AGE", "101-year-old"),
    ("Call me at (555) 123-4567 after 5 pm.", "PHONE", "123-4567"),
    ("My mobile is +44 20 7946 0958.", "PHONE", "7946 0958"),
    ("Please fax the report to 555-987-6543.", "FAX", "987-6543"),
    ("Write to jane.doe+onc@example.org today.", "EMAIL", "jane.doe+onc@example.org"),
    ("SSN 123-45-6789 is on the form.", "SSN", "123-45-6789"),
    ("MRN: 00123456, CEA 12.5 ng/mL.", "MRN", "00123456"),
    ("Member ID XYZ123456789 was denied.", "HEALTH_PLAN", "XYZ123456789"),
    ("Medicare number 1EG4-TE5-MK72 on file.", "HEALTH_PLAN", "1EG4-TE5-MK72"),
    ("Account number 0012345678 owes $40.", "ACCOUNT", "0012345678"),
    ("Driver's license D1234567 was copied.", "LICENSE", "D1234567"),
    ("Results at https://mychart.example.org/p/123 now.", "URL", "mychart.example.org"),
    ("Logged in from 192.168.10.24 yesterday.", "IP", "192.168.10.24"),
    ("Logged in from 2001:db8::8a2e:370 yesterday.", "IP", "2001:db8::8a2e:370"),
    ("Port serial number PJN123456H was recorded.", "DEVICE", "PJN123456H"),
    ("MAC address 00:1A:2B:3C:4D:5E of the pump.", "DEVICE", "00:1A:2B:3C:4D:5E"),
    ("VIN 1HGCM82633A004352 towed at the hospital.", "VEHICLE", "1HGCM82633A004352"),
    ("Licence plate 7ABC123 in the infusion car park.", "VEHICLE", "7ABC123"),
    ("We moved to Haidian District for the trial.", "PLACE", "Haidian"),
    ("She had surgery at Peking Union Medical College Hospital.", "HOSPITAL", "Peking Union"),
]

# The formats real messages use (issue 16), each caught by the rules alone.
REAL_FORMATS = [
    ("Patient: Zhang Wei, 93M, NSCLC stage IIIB.", "NAME", "Zhang Wei"),
    ("Patient: Zhang Wei, 93M, NSCLC stage IIIB.", "AGE", "93"),
    ("Huang's CT came back worse after osimertinib.", "NAME", "Huang"),
    ("Thanks so much, Rosa Quinn", "NAME", "Rosa Quinn"),
    ("Contacts: Imogen Lund (daughter), Li Ming (son).", "NAME", "Imogen Lund"),
    ("Contacts: Imogen Lund (daughter), Li Ming (son).", "NAME", "Li Ming"),
    ("My grandmother is ninety-three and has CLL.", "AGE", "ninety-three"),
    ("Grandma, a hundred and one, has myeloma.", "AGE", "a hundred and one"),
    ("She is 97 yo with stage IV disease.", "AGE", "97"),
    ("Age: now 94", "AGE", "94"),
    ("Write to liu42 at gmail dot com please.", "EMAIL", "liu42"),
    ("Or wei [at] 163 [dot] com.", "EMAIL", "wei"),
    ("Call (555) 201-3344 ext. 204 after 5.", "PHONE", "204"),
    ("Her mobile is +86 138 1234 5678.", "PHONE", "138 1234 5678"),
    ("Text 13812345678.", "PHONE", "13812345678"),
    ("The clinic is on (021) 6408 5875.", "PHONE", "6408 5875"),
    ("Send the report to 99 Cedar Ave, Tampere.", "ADDRESS", "Tampere"),
    ("Room 1203, Building 5, No. 88 Jiefang Road.", "ADDRESS", "Jiefang"),
    ("My aunt Liu Xiuying has gastric cancer.", "NAME", "Liu Xiuying"),
]

# Names and places without any cue: only the NER model finds these.
NER_ONLY = [
    ("Yesterday Bartholomew Finch and I drove to the clinic.", "NAME", "Finch"),
    ("We flew from Hangzhou for the second opinion.", "PLACE", "Hangzhou"),
]

PROTECTED = [
    "crizotinib", "osimertinib", "Keytruda", "pembrolizumab", "5-FU", "FOLFOX", "R-CHOP",
    "Hodgkin lymphoma", "Ewing sarcoma", "Wilms tumor", "Kaposi sarcoma", "Burkitt lymphoma",
    "Merkel cell carcinoma", "Li-Fraumeni syndrome", "EGFR", "ALK", "ROS1", "BRCA1", "HER2",
    "KRAS G12C", "PD-L1 50%", "Ki-67 30%", "T2N1M0", "pT3N2a", "stage IIIB", "75 mg/m2",
    "2.5 mg twice daily", "60 Gy in 30 fractions", "CEA 12.5 ng/mL", "WBC 2.1 x10^9/L",
    "PSA 0.02", "hemoglobin 9.8 g/dL", "ECOG 1", "2019", "3 months", "45%", "Ann Arbor stage IIB",
    "Gleason 4+3=7", "CA 19-9 1200", "BP 120/80", "aged 72", "90 days",
]  # fmt: skip

CLEAN_SENTENCES = [
    "Lung cancer runs in my family.",
    "Chemotherapy with FOLFOX starts next week.",
    "Hello Chat Doctor, my father has NSCLC.",
    "Thanks Doctor. The Dr. said surgery comes first.",
    "Take 2 tablets of dexamethasone. Regards, Chat Doctor",
    "OncoGPT explained that osimertinib targets EGFR.",
    "Regards OncoGPT",
    "Dear Doctor, I am 61 and was diagnosed in 2019.",
    "Keytruda or Opdivo? These 2 may interact.",
    "In March I started Tagrisso; pain is 7/10.",
    "Hi Doctor, is a Whipple procedure needed?",
    "The sun may be a factor in melanoma.",
]


def _only(text: str, config: DeidConfig | None = None) -> str:
    return deidentify(text, config or DeidConfig())[0]


@pytest.mark.parametrize(("text", "kind", "identifier"), IDENTIFIERS)
def test_each_identifier_kind_is_replaced(text: str, kind: str, identifier: str) -> None:
    clean, counts = deidentify(text)
    assert identifier not in clean
    assert f"[{kind}]" in clean
    assert counts[kind] >= 1


@pytest.mark.parametrize(("text", "kind", "identifier"), REAL_FORMATS)
def test_real_message_formats_are_caught_by_the_rules(
    text: str, kind: str, identifier: str
) -> None:
    clean, counts = deidentify(text, RULES_ONLY)
    assert identifier not in clean
    assert counts[kind] >= 1


@pytest.mark.parametrize(("text", "kind", "identifier"), NER_ONLY)
def test_names_without_cues_need_the_model(text: str, kind: str, identifier: str) -> None:
    assert identifier in deidentify(text, RULES_ONLY)[0]
    clean, counts = deidentify(text)
    assert identifier not in clean
    assert counts[kind] >= 1


@pytest.mark.parametrize(
    "text",
    [
        "Xiao Chaihu Tang and Huang Qi were added.",
        "Hong Kong doctors suggested Li-Fraumeni testing.",
        "Dukes C and Binet B are stages, and Gleason 4+3=7 a grade.",
        "I took Tagrisso and Xalkori; the ALK rearrangement is positive.",
        "The temperature was 99F and 1 unit of blood was given.",
        "Grandma has Hodgkin lymphoma and creatinine 1.2 mg/dL.",
    ],
)
def test_medical_terms_and_lookalikes_survive_the_combined_detector(text: str) -> None:
    assert find_identifiers(text) == []


@pytest.mark.parametrize(
    ("places", "hospitals", "expected"),
    [
        ("cities", True, "at [HOSPITAL] in [PLACE], Zhejiang, China."),
        ("all", True, "at [HOSPITAL] in [PLACE], [PLACE], [PLACE]."),
        ("none", False, "at Qilu Hospital in Hangzhou, Zhejiang, China."),
    ],
)
def test_places_and_hospitals_are_configurable(places: str, hospitals: bool, expected: str) -> None:
    config = DeidConfig(places=places, hospitals=hospitals)
    assert _only("at Qilu Hospital in Hangzhou, Zhejiang, China.", config) == expected


def test_every_kind_is_covered_by_a_case() -> None:
    assert {kind for _, kind, _ in IDENTIFIERS} == set(KINDS)


@pytest.mark.parametrize("term", PROTECTED)
def test_protected_medical_terms_survive(term: str) -> None:
    for text in (f"{term} was discussed today.", f"My oncologist said {term} matters."):
        assert _only(text) == text


@pytest.mark.parametrize("text", CLEAN_SENTENCES)
def test_sentences_without_identifiers_are_untouched(text: str) -> None:
    assert find_identifiers(text) == []


def test_counts_per_kind() -> None:
    text = "Dr. Smith saw me on 12/03/2021 and 2021-03-15; call (555) 123-4567 or me@x.org."
    clean, counts = deidentify(text)
    assert counts == {"NAME": 1, "DATE": 2, "PHONE": 1, "EMAIL": 1}
    assert clean == "Dr. [NAME] saw me on [DATE] and [DATE]; call [PHONE] or [EMAIL]."


def test_spans_are_sorted_and_disjoint() -> None:
    text = "Mr. Tanaka, 93 years old, MRN 5551234, lives at 8 Oak Street, Salem, OR 97301."
    spans = find_identifiers(text)
    assert all(isinstance(s, Span) and s.kind in KINDS for s in spans)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))
    assert [s.kind for s in spans] == ["NAME", "AGE", "MRN", "ADDRESS", "ZIP"]


def test_idempotent_and_placeholders_never_rematched() -> None:
    texts = [text for text, _, _ in IDENTIFIERS] + [e.text for e in build_dataset(150, 7, "dev")]
    texts += [e.text for e in build_messages(60, 7, "dev")]
    for text in texts:
        once, _ = deidentify(text)
        twice, counts = deidentify(once)
        assert twice == once
        assert not counts


def test_dataset_is_reproducible() -> None:
    first = [e.text for e in build_dataset(50, seed=3)]
    assert first == [e.text for e in build_dataset(50, seed=3)]
    assert first != [e.text for e in build_dataset(50, seed=4)]


@pytest.mark.parametrize("split", ["dev", "test"])
def test_evaluation_meets_targets(split: str) -> None:
    result = evaluate(n=300, seed=11, split=split)
    assert result["recall"] >= 0.95
    assert result["precision"] >= 0.95
    assert result["medical_term_survival"] >= 0.99
    assert set(result["per_kind"]) == set(KINDS)


def test_message_halves_share_no_template_or_name() -> None:
    from oncogpt.evaluate.deid_messages import POOLS, TEMPLATES

    assert not set(TEMPLATES["dev"]) & set(TEMPLATES["test"])
    for field in ("first", "last", "cn_family", "cn_given", "towns", "hospitals"):
        assert not set(getattr(POOLS["dev"], field)) & set(getattr(POOLS["test"], field)), field


def test_message_set_meets_the_issue_targets_on_its_test_half() -> None:
    result = evaluate(n=300, seed=0, split="test", dataset="messages")
    assert result["gold_spans"] >= 300
    assert result["recall"] >= 0.95
    assert all(r["recall"] >= 0.90 for r in result["per_kind"].values() if r["gold"])
    assert result["precision"] >= 0.95
    assert result["medical_term_survival"] >= 0.99


def test_the_model_adds_recall_on_messages() -> None:
    rules = evaluate(n=100, seed=1, split="dev", config=RULES_ONLY, dataset="messages")
    combined = evaluate(n=100, seed=1, split="dev", dataset="messages")
    assert combined["recall"] > rules["recall"] + 0.05
