"""Measure ``oncogpt.data.deid`` on a synthetic, seeded set of oncology sentences with gold spans.

Sentences come from clinical / patient-message templates with two kinds of slots:

* upper-case slots (``{NAME}``, ``{DATE}``, ``{MRN}``...) receive fake identifiers in many
  realistic formats; their spans are the gold identifiers;
* lower-case slots (``{drug}``, ``{cancer}``, ``{gene}``...) receive protected medical terms
  (crizotinib, Hodgkin lymphoma, KRAS G12C, T2N1M0, 75 mg/m2...) that must survive.

About ``n`` sentences with identifiers plus ``n // 5`` sentences with none (false positives).
Templates and fake-name pools come in two disjoint halves: ``dev`` (used while writing the
rules) and ``test`` (held out; the figure to report). Metrics, at the span level:

* recall: a gold span counts as found if any predicted span overlaps it (typed recall also
  needs the same kind); precision: a predicted span is correct if it overlaps a gold span;
* character recall / precision as a stricter cross-check;
* medical-term survival: protected terms that no predicted span touches.

``python -m oncogpt.data.deid_eval [--n 1000] [--seed 0] [--split test]`` prints a table;
``--audit FILE.json`` also runs the de-identifier over a real corpus (a JSON list of records)
and prints what it replaced, to eyeball false positives on text nobody wrote for the rules.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from oncogpt.data.deid import KINDS, deidentify, find_identifiers

Segment = tuple[str, str | None]  # (text, identifier kind, "MED" for a protected term, or None)


@dataclass
class Example:
    text: str
    gold: list[tuple[int, int, str]] = field(default_factory=list)
    protected: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class NamePool:
    first: tuple[str, ...]
    last: tuple[str, ...]


# --- fake people: two disjoint pools, so held-out names were never seen while tuning --------

POOLS = {
    "dev": NamePool(
        first=tuple(
            "James Maria Wei Aisha Oluwaseun Priya José Siobhan Dmitri Fatima Hiroshi Ngozi Lars "
            "Ingrid Mohammed Emily Carlos Yuki Anna Rahul Grace Kwame Sofia Michael Linda Ahmed "
            "Chloe Pedro Zanele Thomas Olga Mei Jamal Sarah Luca Amara Daniel Helen Raj Ewa".split()
        ),
        last=tuple(
            "Smith|García|Nguyen|O'Connor|van der Berg|Müller|Okafor|Patel|Kowalski|MacDonald|"
            "Al-Sayed|Johansson|Kim|Tanaka|Rossi|Ivanova|Mensah|Dubois|Fernández|Cohen|Singh|"
            "Wright|Lopez-Ramos|Brown|Zhang|Adeyemi|Schmidt|Nakamura|Hughes|Papadopoulos".split("|")
        ),
    ),
    "test": NamePool(
        first=tuple(
            "Robert Elena Jun Leila Chinedu Ananya Mateo Aoife Sergei Nadia Kenji Adaeze Nils "
            "Astrid Omar Jessica Diego Sakura Julia Vikram Mark Kofi Isabella David Patricia "
            "Hassan Zoe Rafael Thandiwe William Irina Ling Tyrone Rebecca Giulia Nia Andrew "
            "Margaret Arjun Katarzyna".split()
        ),
        last=tuple(
            "Johnson|Martínez|Tran|O'Brien|de Vries|Schneider|Eze|Shah|Nowak|McLeod|El-Amin|"
            "Lindqvist|Park|Suzuki|Bianchi|Petrova|Owusu|Lefèvre|Gutiérrez|Levi|Kaur|Turner|"
            "Díaz-Moreno|Taylor|Chen|Okonkwo|Becker|Watanabe|Evans|Georgiou".split("|")
        ),
    ),
}

# --- protected medical vocabulary ------------------------------------------------------------

MEDICAL: dict[str, tuple[str, ...]] = {
    "drug": tuple(
        "crizotinib|osimertinib|Keytruda|pembrolizumab|5-FU|nivolumab|Opdivo|carboplatin|"
        "paclitaxel|Tagrisso|alectinib|lorlatinib|trastuzumab|Herceptin|capecitabine|"
        "gemcitabine|docetaxel|cisplatin|etoposide|bevacizumab|Avastin|olaparib|Lynparza|"
        "sotorasib|durvalumab|Imfinzi|ibrutinib|rituximab|lenalidomide|Revlimid|tamoxifen|"
        "letrozole|anastrozole|palbociclib|Ibrance|enzalutamide|abiraterone|Xtandi|temozolomide|"
        "imatinib|Gleevec|atezolizumab|Tecentriq|ipilimumab|cyclophosphamide|doxorubicin|"
        "vincristine|irinotecan|oxaliplatin|dexamethasone|filgrastim|Neulasta|denosumab|"
        "zoledronic acid|Xalkori|Iressa|gefitinib|erlotinib".split("|")
    ),
    "regimen": tuple(
        "FOLFOX|R-CHOP|ABVD|FOLFIRINOX|FOLFIRI|AC-T|TCHP|CAPOX|BEACOPP|carboplatin/pemetrexed|"
        "XELOX|CHOP|VRd|BEP|gemcitabine-cisplatin".split("|")
    ),
    "cancer": tuple(
        "Hodgkin lymphoma|non-Hodgkin lymphoma|Ewing sarcoma|Wilms tumor|Kaposi sarcoma|"
        "Burkitt lymphoma|Merkel cell carcinoma|non-small cell lung cancer|NSCLC|"
        "small cell lung cancer|triple-negative breast cancer|DLBCL|multiple myeloma|"
        "glioblastoma|pancreatic adenocarcinoma|colorectal cancer|metastatic melanoma|"
        "Waldenström macroglobulinemia|Paget disease of the breast|Hürthle cell carcinoma|"
        "Barrett's esophagus|Lynch syndrome|Li-Fraumeni syndrome|acute myeloid leukemia|CLL|"
        "mesothelioma|hepatocellular carcinoma|Pancoast tumor|Krukenberg tumor|Castleman disease|"
        "Richter transformation|Sézary syndrome|Klatskin tumor|cholangiocarcinoma|"
        "Ewing's sarcoma|Hodgkin's disease|Wilms' tumour|Lung cancer|Breast cancer".split("|")
    ),
    "gene": tuple(
        "EGFR exon 19 deletion|ALK rearrangement|ROS1 fusion|BRCA1|BRCA2|HER2|KRAS G12C|"
        "PD-L1 50%|Ki-67 30%|BRAF V600E|MSI-high|NTRK fusion|MET exon 14 skipping|RET fusion|"
        "PIK3CA|TP53|IDH1 R132H|MGMT methylation|HER2 3+|ER+/PR+|PD-L1 TPS 80%|FLT3-ITD|"
        "BCR-ABL|JAK2 V617F|CD20|t(14;18)|del(17p)|TMB 12 mut/Mb|EGFR L858R|ALK".split("|")
    ),
    "stage": tuple(
        "T2N1M0|pT3N2a|stage IIIB|stage IV|cT1cN0M0|stage 2A|Gleason 4+3=7|ypT0N0|FIGO IIIC|"
        "Ann Arbor stage IIB|Breslow 2.1 mm|Clark level IV|grade 3|Dukes C|ISS stage II|"
        "Rai stage 1|Binet B|pT1bN0(sn)|T4aN2bM1c|stage IA2".split("|")
    ),
    "dose": tuple(
        "75 mg/m2|2.5 mg twice daily|60 Gy in 30 fractions|250 mg BID|80 mg once daily|"
        "200 mg every 3 weeks|AUC 5|1000 mg/m2 on days 1 and 8|400 mg daily|8 mg IV|"
        "15 mg/kg q3w|45 Gy in 25 fractions|4 cycles|6 cycles|0.5 mg/kg|135 mg/m2|"
        "20 Gy in 5 fractions|100 mg/m2 days 1-3".split("|")
    ),
    "lab": tuple(
        "CEA 12.5 ng/mL|WBC 2.1 x10^9/L|PSA 0.02|hemoglobin 9.8 g/dL|platelets 85,000/µL|"
        "ANC 0.8|CA-125 340 U/mL|CA 19-9 1200|LDH 450 U/L|creatinine 1.2 mg/dL|AFP 15 ng/mL|"
        "beta-2 microglobulin 3.5|ALT 88 IU/L|TSH 4.5 mIU/L|bilirubin 2.3 mg/dL|Hb 10.2|"
        "neutrophils 1.1 x 10^9/L|eGFR 55 mL/min|calcium 11.2 mg/dL|INR 1.3|SUVmax 8.4|"
        "free PSA 12%|PSA 4.5 ng/mL|CA 15-3 48".split("|")
    ),
    "duration": tuple(
        "3 months|6 weeks|two years|18 months|10 days|21-day cycles|5 years|3 weeks|"
        "4 months|12 weeks|90 days|1 year|six months|2 weeks".split("|")
    ),
    "year": ("2019", "2015", "2021", "2008", "2023", "1998", "2012", "2020"),
    "ecog": ("ECOG 1", "ECOG 0", "ECOG PS 2", "Karnofsky 80%", "KPS 70", "ECOG 1-2"),
}

# --- fake identifier values ------------------------------------------------------------------

MONTHS = (
    "January February March April May June July August September October November "
    "December".split()
)
STREETS = (
    "Maple|Oak|Cedar|Elm|Pine|Washington|Lincoln|Park|Main|High|Church|Station|Victoria|Mill|"
    "Lakeview|Sunset|Willow|Chestnut|Hillcrest|Riverside|Queen|Martin Luther King Jr|Green|"
    "Forest|Bay".split("|")
)
SUFFIXES = (
    "Street|St.|Avenue|Ave|Road|Rd.|Boulevard|Blvd|Lane|Drive|Dr.|Court|Place|Way|Terrace|"
    "Circle|Parkway|Close|Crescent".split("|")
)
CITIES = (
    "Springfield Portland Columbus Fairview Georgetown Salem Clinton Franklin Greenville "
    "Bristol Dayton Ashland Oakland Boston".split()
)
STATES = "IL OR OH CA TX NY MA WA GA FL PA MI NC AZ".split()
UK_TOWNS = (("Leeds", "LS1 4DT"), ("London", "SW1A 1AA"), ("Manchester", "M1 1AE"),
            ("Bristol", "BS8 1TH"), ("Glasgow", "G2 3BZ"), ("Cardiff", "CF10 3NQ"))
DOMAINS = ("gmail.com", "yahoo.co.uk", "outlook.com", "hospital.org", "mail.example.net",
           "proton.me", "hotmail.fr", "uni-klinik.de", "icloud.com")


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))


def _labelled(rng: random.Random, kind: str, labels: list[str], values: list[str]) -> list[Segment]:
    return [(rng.choice(labels), None), (rng.choice(values), kind)]


def gen_first(rng: random.Random, pool: NamePool) -> list[Segment]:
    first = rng.choice(pool.first)
    return [(first.lower() if rng.random() < 0.08 else first, "NAME")]


def gen_last(rng: random.Random, pool: NamePool) -> list[Segment]:
    last = rng.choice(pool.last)
    if rng.random() < 0.2:  # "Dr. A. Patel", "Dr. Kenji Suzuki"
        first = rng.choice(pool.first)
        last = rng.choice([f"{first[0]}. {last}", f"{first} {last}"])
    return [(last, "NAME")]


def gen_full(rng: random.Random, pool: NamePool) -> list[Segment]:
    first, last, middle = rng.choice(pool.first), rng.choice(pool.last), rng.choice(pool.first)
    return [(rng.choice([f"{first} {last}", f"{first} {last}", f"{first} {middle[0]}. {last}"]),
             "NAME")]


def gen_name(rng: random.Random, pool: NamePool) -> list[Segment]:
    first, last = rng.choice(pool.first), rng.choice(pool.last)
    forms = [f"{first} {last}", f"{first} {last}", first, first, f"{first[0]}. {last}",
             f"{first} {rng.choice(pool.first)[0]}. {last}", f"{first.lower()} {last.lower()}"]
    return [(rng.choice(forms), "NAME")]


def gen_date(rng: random.Random, pool: NamePool) -> list[Segment]:
    day = datetime.date(1995, 1, 1) + datetime.timedelta(days=rng.randint(0, 11000))
    d, m, y, month = day.day, day.month, day.year, MONTHS[day.month - 1]
    mon, weekday = month[:3], day.strftime("%A")
    suffix = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    forms = [
        f"{m:02d}/{d:02d}/{y}", f"{m}/{d}/{y % 100:02d}", f"{y}-{m:02d}-{d:02d}",
        f"{d:02d}.{m:02d}.{y}", f"{month} {d}", f"{month} {d}, {y}", f"{mon} {d}{suffix}",
        f"{d} {month} {y}", f"{d}{suffix} of {month}", f"the {d}{suffix} of {month}",
        f"{weekday}, {month} {d}", f"{weekday} the {d}{suffix}", f"{d:02d}-{mon}-{y}",
        f"{month} {y}", f"{mon}. {d}", f"{y}/{m:02d}/{d:02d}", f"{d:02d}-{m:02d}-{y}",
        f"{month.lower()} {d}", f"{mon}. {d}{suffix}, {y}", f"{m}/{d}", f"{d} {mon} {y}",
        f"{weekday} {d} {month}", f"{d}/{m}/{y}",
    ]
    return [(rng.choice(forms), "DATE")]


def gen_age(rng: random.Random, pool: NamePool) -> list[Segment]:
    age = str(rng.randint(90, 104))
    forms: list[list[Segment]] = [
        [(f"{age} years old", "AGE")], [("aged ", None), (age, "AGE")],
        [(f"{age}-year-old", "AGE")], [(f"{age} yo", "AGE")], [("age ", None), (age, "AGE")],
        [(f"{age} y/o", "AGE")], [(f"{age} yrs old", "AGE")], [("now ", None), (age, "AGE")],
        [(f"{age} years of age", "AGE")], [("age: ", None), (age, "AGE")],
    ]
    return rng.choice(forms)


def gen_phone(rng: random.Random, pool: NamePool) -> list[Segment]:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), int(_digits(rng, 4))
    forms = [
        f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}",
        f"1-{a}-{b}-{c:04d}", f"{a}{b}{c:04d}", f"+44 20 {rng.randint(7000, 8999)} {c:04d}",
        f"020 {rng.randint(7000, 8999)} {c:04d}", f"07{_digits(rng, 3)} {_digits(rng, 6)}",
        f"+91 {rng.randint(70000, 99999)} {_digits(rng, 5)}",
        f"+33 1 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
        f"+49 30 {_digits(rng, 7)}", f"{b}-{c:04d}", f"({a}) {b}-{c:04d} ext. {rng.randint(10, 999)}",
        f"+61 4{_digits(rng, 2)} {_digits(rng, 3)} {_digits(rng, 3)}", f"+1-{a}-{b}-{c:04d}",
    ]
    return [(rng.choice(forms), "PHONE")]


def gen_fax(rng: random.Random, pool: NamePool) -> list[Segment]:
    return [(gen_phone(rng, pool)[0][0], "FAX")]


def gen_email(rng: random.Random, pool: NamePool) -> list[Segment]:
    first, last = _ascii(rng.choice(pool.first)), _ascii(rng.choice(pool.last))
    user = rng.choice([f"{first}.{last}", f"{first[0]}{last}{rng.randint(1, 99)}",
                       f"{first}_{last}", f"{last}.{first}+onc", f"{first}{rng.randint(1950, 2005)}"])
    return [(f"{user}@{rng.choice(DOMAINS)}", "EMAIL")]


def gen_url(rng: random.Random, pool: NamePool) -> list[Segment]:
    first, last = _ascii(rng.choice(pool.first)), _ascii(rng.choice(pool.last))
    forms = [
        f"https://portal.mychart-{last}.org/patient/{_digits(rng, 6)}",
        f"www.{first}{last}cancerfund.com/donate?id={_digits(rng, 3)}",
        f"http://{rng.randint(10, 200)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}/reports",
        f"mychart.{last}health.com/login", f"facebook.com/{first}.{last}",
        f"https://www.gofundme.com/f/help-{first}-beat-cancer", f"bit.ly/{_letters(rng, 3)}{_digits(rng, 3)}",
        f"https://drive.google.com/file/d/{_letters(rng, 4)}{_digits(rng, 6)}/view",
        f"http://blog.{first}{last}.net/my-chemo-diary",
    ]
    return [(rng.choice(forms), "URL")]


def gen_ip(rng: random.Random, pool: NamePool) -> list[Segment]:
    def hexes(k: int) -> list[str]:
        return [format(rng.randint(0, 0xFFFF), "x") for _ in range(k)]

    forms = [
        ".".join(str(rng.randint(1, 254)) for _ in range(4)),
        f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        ":".join(hexes(8)), f"2001:db8::{':'.join(hexes(2))}", f"fe80::{':'.join(hexes(4))}",
        f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    ]
    return [(rng.choice(forms), "IP")]


def gen_ssn(rng: random.Random, pool: NamePool) -> list[Segment]:
    a, b, c = rng.randint(100, 899), rng.randint(10, 99), rng.randint(1000, 9999)
    return rng.choice([
        [(f"{a}-{b}-{c}", "SSN")], [("SSN ", None), (f"{a}-{b}-{c}", "SSN")],
        [("social security number ", None), (f"{a}{b}{c}", "SSN")],
        [("SSN: ", None), (f"{a} {b} {c}", "SSN")], [("SS# ", None), (f"{a}{b}{c}", "SSN")],
    ])


def gen_mrn(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = ["MRN ", "MRN: ", "MRN#", "medical record number ", "medical record no. ",
              "hospital number ", "chart # ", "patient ID ", "NHS number ", "record number: "]
    values = [_digits(rng, 8), f"MRN-{_digits(rng, 7)}", f"{_letters(rng, 2)}{_digits(rng, 6)}",
              f"A00{_digits(rng, 6)}", f"{_digits(rng, 3)} {_digits(rng, 3)} {_digits(rng, 4)}",
              _digits(rng, 7), f"{_digits(rng, 2)}-{_digits(rng, 5)}"]
    return _labelled(rng, "MRN", labels, values)


def gen_health_plan(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = ["member ID ", "insurance ID: ", "policy number ", "Medicare number ",
              "subscriber ID ", "health plan ID ", "group number ", "insurance member no. ",
              "BCBS ID ", "Medicaid ID #"]
    mbi = f"{rng.randint(1, 9)}{_letters(rng, 2)}{rng.randint(1, 9)}-{_letters(rng, 2)}" \
          f"{rng.randint(1, 9)}-{_letters(rng, 2)}{_digits(rng, 2)}"
    values = [f"XYZ{_digits(rng, 9)}", f"W{_digits(rng, 9)}", mbi, f"H{_digits(rng, 8)}-01",
              f"{_digits(rng, 9)}A", f"GRP-{_digits(rng, 5)}", f"{_letters(rng, 3)}{_digits(rng, 8)}"]
    return _labelled(rng, "HEALTH_PLAN", labels, values)


def gen_account(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = ["account number ", "account #", "acct ", "billing account ", "patient account no. ",
              "bank account ", "IBAN ", "card number "]
    values = [_digits(rng, 10), f"AC-{_digits(rng, 7)}", _digits(rng, 12),
              f"GB{_digits(rng, 2)} NWBK {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 2)}",
              f"4{_digits(rng, 3)} {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 4)}",
              f"{_digits(rng, 4)}-{_digits(rng, 6)}"]
    return _labelled(rng, "ACCOUNT", labels, values)


def gen_license(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = ["driver's license ", "driving licence number ", "licence no. ", "DEA number ",
              "NPI ", "medical license #", "passport number ", "DL "]
    values = [f"D{_digits(rng, 7)}", f"S{_digits(rng, 3)}-{_digits(rng, 4)}-{_digits(rng, 4)}",
              f"{_letters(rng, 2)}{_digits(rng, 7)}", _digits(rng, 10), f"MD-{_digits(rng, 5)}",
              f"{_letters(rng, 5)}{_digits(rng, 6)}{_letters(rng, 2)}9{_letters(rng, 2)}",
              f"X{_digits(rng, 8)}"]
    return _labelled(rng, "LICENSE", labels, values)


def gen_device(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = ["serial number ", "S/N ", "SN: ", "device ID ", "IMEI ", "UDI ",
              "pacemaker serial no. ", "MAC address "]
    mac = ":".join(format(rng.randint(0, 255), "02X") for _ in range(6))
    values = [f"{_letters(rng, 3)}{_digits(rng, 6)}{_letters(rng, 1)}",
              f"SN-{_digits(rng, 5)}-{_letters(rng, 2)}", _digits(rng, 15), f"0088{_digits(rng, 10)}",
              mac, f"{_digits(rng, 4)}-{_letters(rng, 4)}-{_digits(rng, 4)}"]
    return _labelled(rng, "DEVICE", labels, values)


def gen_vehicle(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = ["licence plate ", "license plate number ", "plate ", "VIN ", "VIN: ",
              "car registration ", "reg plate "]
    vin = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(16))
    values = [f"{rng.randint(1, 9)}{_letters(rng, 3)}{_digits(rng, 3)}",
              f"{_letters(rng, 3)}-{_digits(rng, 4)}", f"{_letters(rng, 2)}{_digits(rng, 2)} {_letters(rng, 3)}",
              f"KA {_digits(rng, 2)} {_letters(rng, 2)} {_digits(rng, 4)}", f"1{vin}"]
    return _labelled(rng, "VEHICLE", labels, values)


def gen_address(rng: random.Random, pool: NamePool) -> list[Segment]:
    num, street, suffix = rng.randint(1, 9999), rng.choice(STREETS), rng.choice(SUFFIXES)
    unit = rng.choice(["", "", f", Apt {rng.randint(1, 30)}{rng.choice('ABCD')}",
                       f" Suite {rng.randint(100, 950)}", f", Unit {rng.randint(1, 40)}"])
    city, state, zipc = rng.choice(CITIES), rng.choice(STATES), _digits(rng, 5)
    town, post = rng.choice(UK_TOWNS)
    forms: list[list[Segment]] = [
        [(f"{num} {street} {suffix}{unit}", "ADDRESS")],
        [(f"{num} {street} {suffix}{unit}, {city}", "ADDRESS"), (f", {state} ", None),
         (zipc, "ZIP")],
        [(f"Flat {rng.randint(1, 20)}, {rng.randint(1, 200)} {street} Road, {town}", "ADDRESS"),
         (" ", None), (post, "ZIP")],
        [(f"PO Box {rng.randint(10, 99999)}", "ADDRESS")],
        [(f"{rng.choice(['Haupt', 'Linden', 'Garten', 'Berg'])}straße {rng.randint(1, 120)}",
          "ADDRESS"), (", ", None), (_digits(rng, 5), "ZIP"), (" Berlin", None)],
        [(f"{rng.randint(1, 80)} rue de la {rng.choice(['Paix', 'Gare', 'République'])}",
          "ADDRESS"), (", ", None), (f"750{rng.randint(10, 20)}", "ZIP"), (" Paris", None)],
        [(f"{num} {street.lower()} street", "ADDRESS")],
        [(f"{rng.randint(1, 300)} W {rng.randint(1, 120)}th St", "ADDRESS"), (", New York, NY ", None),
         (f"100{_digits(rng, 2)}", "ZIP")],
    ]
    return rng.choice(forms)


def gen_zip(rng: random.Random, pool: NamePool) -> list[Segment]:
    forms: list[list[Segment]] = [
        [("zip code ", None), (_digits(rng, 5), "ZIP")],
        [("postcode ", None), (rng.choice(UK_TOWNS)[1], "ZIP")],
        [(f"{_digits(rng, 5)}-{_digits(rng, 4)}", "ZIP")],
        [(rng.choice(UK_TOWNS)[1], "ZIP")],
        [("ZIP ", None), (_digits(rng, 5), "ZIP")],
        [(f"{rng.choice('KMTVH')}{rng.randint(1, 9)}{rng.choice('ABCEGHJ')} "
          f"{rng.randint(0, 9)}{rng.choice('ABCEGHJ')}{rng.randint(0, 9)}", "ZIP")],
    ]
    return rng.choice(forms)


GENERATORS: dict[str, Callable[[random.Random, NamePool], list[Segment]]] = {
    "NAME": gen_name, "FIRST": gen_first, "LAST": gen_last, "FULL": gen_full, "DATE": gen_date,
    "AGE": gen_age, "PHONE": gen_phone, "FAX": gen_fax, "EMAIL": gen_email, "URL": gen_url,
    "IP": gen_ip, "SSN": gen_ssn, "MRN": gen_mrn, "HEALTH_PLAN": gen_health_plan,
    "ACCOUNT": gen_account, "LICENSE": gen_license, "DEVICE": gen_device,
    "VEHICLE": gen_vehicle, "ADDRESS": gen_address, "ZIP": gen_zip,
}

# --- templates: disjoint dev / test halves ---------------------------------------------------

TEMPLATES: dict[str, tuple[str, ...]] = {
    "dev": (
        "Hi doctor, my name is {NAME} and I was diagnosed with {cancer} in {year}.",
        "Dr. {LAST} wants to start {drug} at {dose} because my tumour is {gene}.",
        "My grandmother is {AGE} and was just told she has {cancer}, {stage}; is {drug} too "
        "harsh for her?",
        "Please call me on {PHONE} once the {gene} result is back.",
        "Could you fax the biopsy report to {FAX} before {DATE}? It says {stage}.",
        "I emailed my {lab} results to {EMAIL} on {DATE}.",
        "{MRN} - {cancer}, {stage}, {ecog}, started {drug} {DATE}.",
        "We moved to {ADDRESS} so I can be close to the clinic for {drug} every {duration}.",
        "The form asked for my {SSN} before they would give me {drug}.",
        "My {HEALTH_PLAN} was rejected when they billed {drug} {dose}.",
        "The hospital says {ACCOUNT} still owes money for the {regimen} cycles.",
        "They photocopied my {LICENSE} when I checked in for {cancer} surgery.",
        "I can see my {lab} on {URL} but I don't understand it.",
        "The port has {DEVICE} and it was flushed before {drug}.",
        "Security towed our car ({VEHICLE}) while I was getting {regimen}.",
        "Thank you for explaining {gene} testing.\nRegards,\n{NAME}",
        "Patient {NAME}, {AGE}, presented with {cancer} ({stage}); {lab}.",
        "I have an appointment with Prof. {LAST} on {DATE} to talk about {drug} for {gene}.",
        "The portal logged my login from {IP} while I was checking the {lab} value.",
        "{cancer} was confirmed on {DATE} and {lab} at that time.",
        "My husband {FIRST} has {cancer} and his oncologist, Dr. {LAST}, suggested {regimen}.",
        "Hello, I'm {FIRST}. My dad ({AGE}) finished {dose} for {cancer}.",
        "Mrs. {LAST} from {ADDRESS} reported {lab} after {duration} of {drug}.",
        "Next scan {DATE}; if {gene} persists we switch to {drug}. Contact {PHONE} or {EMAIL}.",
    ),
    "test": (
        "Good evening, I am {NAME}, {AGE}, and my {cancer} is {stage}.",
        "The nurse, {FIRST}, told me {drug} {dose} can cause neuropathy.",
        "Scan booked for {DATE} at {ADDRESS}; bring the {gene} report.",
        "My daughter's mobile is {PHONE}, she handles my {regimen} schedule.",
        "Oncology office fax: {FAX}. Please send the {lab} values.",
        "Write to me at {EMAIL} - I started {drug} on {DATE} for {cancer}.",
        "Discharge summary for {NAME} ({MRN}): {cancer}, {stage}, {ecog}.",
        "Please update my {HEALTH_PLAN} and {ACCOUNT} before the {drug} infusion.",
        "{SSN} is on file; diagnosis {cancer} since {year}.",
        "She is {AGE} with {cancer}; {lab}, {gene}.",
        "I was referred by Dr. {LAST} to a surgeon named {FULL} for my {cancer}.",
        "The insulin pump ({DEVICE}) alarmed during {drug} {dose}.",
        "My {LICENSE} expired while I was on {regimen} for {duration}.",
        "Parking ticket for {VEHICLE} at the radiotherapy unit, {dose}.",
        "{FULL} called from the trial office about {gene} and {drug}.",
        "Link to the trial: {URL} ({cancer}, {gene}).",
        "Remote monitoring device at {IP} uploaded my {lab}.",
        "I live in {ZIP} and the nearest centre offering {drug} is far away.",
        "Seen by Mr. {LAST} on {DATE}: {stage}, plan {regimen} then {dose}.",
        "Thanks again for the advice about {drug}.\nBest wishes,\n{FULL}\n{PHONE}",
        "My wife {FULL} was diagnosed with {cancer} on {DATE}; {gene}.",
        "Follow-up on {DATE} with {lab}; {ecog}; continue {drug}.",
        "Mail the consent for {drug} to {ADDRESS}.",
        "Hi {FIRST}, your {lab} from {DATE} looks stable, keep taking {drug} {dose}.",
    ),
}

NEGATIVE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "dev": (
        "{cancer} is treated with {drug} at {dose} for {duration}.",
        "Lung cancer runs in my family; my father had {cancer} in {year}.",
        "Chemotherapy with {regimen} was stopped after {duration} because {lab}.",
        "Hello Chat Doctor, my {gene} test came back and I am 54 years old.",
        "Thanks Doctor. The Dr. said {stage} means surgery first.",
        "Radiotherapy {dose} was completed in {year}; {ecog}.",
        "OncoGPT explained that {gene} predicts response to {drug}.",
        "My mother, aged 72, has {cancer} and takes {drug} {dose}.",
        "After {duration}, {lab} and {lab}.",
        "Is {drug} better than {drug} for {gene} {cancer}?",
        "Stage IV {cancer} with {gene}; tumour board recommended {regimen}.",
        "Blood pressure was 120/80 and {lab}; next cycle in {duration}.",
        "Take {drug} {dose} and repeat {lab} in {duration}. Regards, Chat Doctor.",
        "In March I started {drug}, and by {year} {lab}.",
        "Over 90% of patients with {gene} respond to {drug} within {duration}.",
        "Keytruda or {drug}? My {gene} status is known and {stage}.",
    ),
    "test": (
        "Hodgkin lymphoma and {cancer} are both treated at our centre with {regimen}.",
        "Surgery was followed by {dose} and {drug}.",
        "Dear Doctor, I have {cancer} ({stage}) and my {lab}.",
        "Immunotherapy with {drug} is approved when {gene}.",
        "Doctor, is {lab} normal after {duration} of {drug}?",
        "I am 61 and was diagnosed in {year} with {cancer}.",
        "Targeted therapy: {drug} {dose}, {ecog}, {stage}.",
        "Hi Doctor, can {regimen} be given every {duration}?",
        "Whipple procedure is planned for {cancer} after {duration} of {regimen}.",
        "Per NCCN guidelines, {gene} {cancer} gets {drug} first line.",
        "The MRI on Monday showed {stage}; {lab}.",
        "PET-CT in {year}: SUVmax 12.4, {stage}.",
        "Take 1/2 tablet of dexamethasone 4 mg with {drug}; {lab}.",
        "My oncologist said {duration} of {drug} at {dose} is standard.",
        "Best regards and thanks to the OncoGPT team for explaining {gene}.",
        "Xalkori was switched to {drug} after {duration}; these 2 may interact with {drug}.",
    ),
}


def fill(template: str, rng: random.Random, pool: NamePool) -> Example:
    """Render one template; record gold identifier spans and protected-term spans."""
    example, pieces, position = Example(""), [], 0
    for i, part in enumerate(template.replace("{", "}").split("}")):
        if i % 2 == 0:
            segments: list[Segment] = [(part, None)]
        elif part in MEDICAL:
            segments = [(rng.choice(MEDICAL[part]), "MED")]
        else:
            segments = GENERATORS[part](rng, pool)
        for text, kind in segments:
            if kind == "MED":
                example.protected.append((position, position + len(text)))
            elif kind:
                example.gold.append((position, position + len(text), kind))
            pieces.append(text)
            position += len(text)
    example.text = "".join(pieces)
    return example


def build_dataset(n: int = 1000, seed: int = 0, split: str = "test") -> list[Example]:
    """``n`` sentences with identifiers plus ``n // 5`` without, from the ``split`` half."""
    rng, pool = random.Random(seed), POOLS[split]
    examples = [fill(rng.choice(TEMPLATES[split]), rng, pool) for _ in range(n)]
    negatives = NEGATIVE_TEMPLATES[split]
    examples += [fill(rng.choice(negatives), rng, pool) for _ in range(max(1, n // 5))]
    return examples


def _overlaps(start: int, end: int, spans: list[tuple[int, int, str]]) -> list[str]:
    return [kind for s, e, kind in spans if s < end and start < e]


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def evaluate(n: int = 1000, seed: int = 0, split: str = "test") -> dict:
    """Recall / precision per kind and overall, character-level figures, term survival."""
    c: Counter[str] = Counter()
    for ex in build_dataset(n, seed, split):
        predicted = [(s.start, s.end, s.kind) for s in find_identifiers(ex.text)]
        for start, end, kind in ex.gold:
            hits = _overlaps(start, end, predicted)
            c[f"gold:{kind}"] += 1
            c[f"found:{kind}"] += bool(hits)
            c[f"typed:{kind}"] += kind in hits
        for start, end, kind in predicted:
            c[f"pred:{kind}"] += 1
            c[f"correct:{kind}"] += bool(_overlaps(start, end, ex.gold))
            c["negative_fp"] += not ex.gold
        gold_chars = {i for s, e, _ in ex.gold for i in range(s, e)}
        pred_chars = {i for s, e, _ in predicted for i in range(s, e)}
        c["gold_chars"], c["pred_chars"] = c["gold_chars"] + len(gold_chars), c["pred_chars"] + len(pred_chars)
        c["both_chars"] += len(gold_chars & pred_chars)
        c["terms"] += len(ex.protected)
        c["survived"] += sum(not _overlaps(s, e, predicted) for s, e in ex.protected)
    total = {key: sum(c[f"{key}:{k}"] for k in KINDS) for key in ("gold", "found", "typed", "pred", "correct")}
    per_kind = {
        kind: {
            "gold": c[f"gold:{kind}"], "recall": _ratio(c[f"found:{kind}"], c[f"gold:{kind}"]),
            "typed_recall": _ratio(c[f"typed:{kind}"], c[f"gold:{kind}"]),
            "predicted": c[f"pred:{kind}"],
            "precision": _ratio(c[f"correct:{kind}"], c[f"pred:{kind}"]),
        }
        for kind in KINDS
    }
    return {
        "split": split, "seed": seed, "sentences": n + max(1, n // 5),
        "recall": _ratio(total["found"], total["gold"]),
        "typed_recall": _ratio(total["typed"], total["gold"]),
        "precision": _ratio(total["correct"], total["pred"]),
        "char_recall": _ratio(c["both_chars"], c["gold_chars"]),
        "char_precision": _ratio(c["both_chars"], c["pred_chars"]),
        "medical_term_survival": _ratio(c["survived"], c["terms"]),
        "gold_spans": total["gold"], "predicted_spans": total["pred"],
        "false_positives_in_clean_sentences": c["negative_fp"], "per_kind": per_kind,
    }


def format_report(result: dict) -> str:
    lines = [f"{'kind':<12} {'gold':>5} {'recall':>7} {'typed':>7} {'pred':>5} {'prec':>7}"]
    for kind, r in result["per_kind"].items():
        lines.append(f"{kind:<12} {r['gold']:>5} {r['recall']:>7.3f} {r['typed_recall']:>7.3f} "
                     f"{r['predicted']:>5} {r['precision']:>7.3f}")
    lines += [
        f"{'overall':<12} {result['gold_spans']:>5} {result['recall']:>7.3f} "
        f"{result['typed_recall']:>7.3f} {result['predicted_spans']:>5} {result['precision']:>7.3f}",
        f"split={result['split']} seed={result['seed']} sentences={result['sentences']}",
        f"char recall {result['char_recall']:.3f}  char precision {result['char_precision']:.3f}",
        f"medical-term survival {result['medical_term_survival']:.4f}  "
        f"false positives in identifier-free sentences: {result['false_positives_in_clean_sentences']}",
    ]
    return "\n".join(lines)


def audit(path: Path, limit: int = 40) -> str:
    """De-identify every string field of a real JSON corpus; list what was replaced."""
    records = json.loads(path.read_text(encoding="utf-8"))
    counts: Counter[str] = Counter()
    shown: list[str] = []
    for record in records:
        for value in record.values() if isinstance(record, dict) else [record]:
            if not isinstance(value, str):
                continue
            _, found = deidentify(value)
            counts.update(found)
            shown += [f"  {s.kind:<11} {value[max(0, s.start - 30):s.end + 30]!r}"
                      for s in find_identifiers(value)][: max(0, limit - len(shown))]
    head = f"{path.name}: {len(records)} records, replaced {dict(counts.most_common())}"
    return "\n".join([head, *shown])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=sorted(TEMPLATES), default="test")
    parser.add_argument("--audit", type=Path, nargs="*", default=[], help="real JSON corpora")
    args = parser.parse_args(argv)
    print(format_report(evaluate(args.n, args.seed, args.split)))
    for path in args.audit:
        print(audit(path))


if __name__ == "__main__":
    main()
