"""The synthetic de-identification set: oncology sentences from templates, with fake
identifiers in realistic formats (gold spans) and protected medical terms that must survive.

Upper-case slots (``{NAME}``, ``{DATE}``, ``{MRN}``...) receive the identifiers; lower-case
slots (``{drug}``, ``{cancer}``, ``{gene}``...) the protected terms. Templates and name pools
come in two disjoint halves, ``dev`` and ``test``. The scorer is ``oncogpt.evaluate.deid``;
the harder message-shaped set, built from these parts, is ``oncogpt.evaluate.deid_messages``.
Imports no scorer and no other harness.
"""

from __future__ import annotations

import datetime
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

Segment = tuple[str, str | None]  # (text, identifier kind, "MED" for a protected term, or None)
Generator = Callable[[random.Random, "NamePool"], list[Segment]]


@dataclass
class Example:
    text: str
    gold: list[tuple[int, int, str]] = field(default_factory=list)
    protected: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class NamePool:
    first: tuple[str, ...]
    last: tuple[str, ...]


def _items(text: str, sep: str = "|") -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(sep))


# --- fake people: two disjoint pools, so held-out names were never seen while tuning --------

POOLS = {
    "dev": NamePool(
        first=_items(
            "James Maria Wei Aisha Oluwaseun Priya José Siobhan Dmitri Fatima Hiroshi Ngozi Lars "
            "Ingrid Mohammed Emily Carlos Yuki Anna Rahul Grace Kwame Sofia Michael Linda Ahmed "
            "Chloe Pedro Zanele Thomas Olga Mei Jamal Sarah Luca Amara Daniel Helen Raj Ewa",
            " ",
        ),
        last=_items(
            "Smith|García|Nguyen|O'Connor|van der Berg|Müller|Okafor|Patel|Kowalski|MacDonald|"
            "Al-Sayed|Johansson|Kim|Tanaka|Rossi|Ivanova|Mensah|Dubois|Fernández|Cohen|Singh|"
            "Wright|Lopez-Ramos|Brown|Zhang|Adeyemi|Schmidt|Nakamura|Hughes|Papadopoulos"
        ),
    ),
    "test": NamePool(
        first=_items(
            "Robert Elena Jun Leila Chinedu Ananya Mateo Aoife Sergei Nadia Kenji Adaeze Nils "
            "Astrid Omar Jessica Diego Sakura Julia Vikram Mark Kofi Isabella David Patricia "
            "Hassan Zoe Rafael Thandiwe William Irina Ling Tyrone Rebecca Giulia Nia Andrew "
            "Margaret Arjun Katarzyna",
            " ",
        ),
        last=_items(
            "Johnson|Martínez|Tran|O'Brien|de Vries|Schneider|Eze|Shah|Nowak|McLeod|El-Amin|"
            "Lindqvist|Park|Suzuki|Bianchi|Petrova|Owusu|Lefèvre|Gutiérrez|Levi|Kaur|Turner|"
            "Díaz-Moreno|Taylor|Chen|Okonkwo|Becker|Watanabe|Evans|Georgiou"
        ),
    ),
}

# --- protected medical vocabulary ------------------------------------------------------------

MEDICAL: dict[str, tuple[str, ...]] = {
    "drug": _items(
        "crizotinib|osimertinib|Keytruda|pembrolizumab|5-FU|nivolumab|Opdivo|carboplatin|"
        "paclitaxel|Tagrisso|alectinib|lorlatinib|trastuzumab|Herceptin|capecitabine|"
        "gemcitabine|docetaxel|cisplatin|etoposide|bevacizumab|Avastin|olaparib|Lynparza|"
        "sotorasib|durvalumab|Imfinzi|ibrutinib|rituximab|lenalidomide|Revlimid|tamoxifen|"
        "letrozole|anastrozole|palbociclib|Ibrance|enzalutamide|abiraterone|Xtandi|temozolomide|"
        "imatinib|Gleevec|atezolizumab|Tecentriq|ipilimumab|cyclophosphamide|doxorubicin|"
        "vincristine|irinotecan|oxaliplatin|dexamethasone|filgrastim|Neulasta|denosumab|"
        "zoledronic acid|Xalkori|Iressa|gefitinib|erlotinib"
    ),
    "regimen": _items(
        "FOLFOX|R-CHOP|ABVD|FOLFIRINOX|FOLFIRI|AC-T|TCHP|CAPOX|BEACOPP|carboplatin/pemetrexed|"
        "XELOX|CHOP|VRd|BEP|gemcitabine-cisplatin"
    ),
    "cancer": _items(
        "Hodgkin lymphoma|non-Hodgkin lymphoma|Ewing sarcoma|Wilms tumor|Kaposi sarcoma|"
        "Burkitt lymphoma|Merkel cell carcinoma|non-small cell lung cancer|NSCLC|"
        "small cell lung cancer|triple-negative breast cancer|DLBCL|multiple myeloma|"
        "glioblastoma|pancreatic adenocarcinoma|colorectal cancer|metastatic melanoma|"
        "Waldenström macroglobulinemia|Paget disease of the breast|Hürthle cell carcinoma|"
        "Barrett's esophagus|Lynch syndrome|Li-Fraumeni syndrome|acute myeloid leukemia|CLL|"
        "mesothelioma|hepatocellular carcinoma|Pancoast tumor|Krukenberg tumor|Castleman disease|"
        "Richter transformation|Sézary syndrome|Klatskin tumor|cholangiocarcinoma|"
        "Ewing's sarcoma|Hodgkin's disease|Wilms' tumour|Lung cancer|Breast cancer"
    ),
    "gene": _items(
        "EGFR exon 19 deletion|ALK rearrangement|ROS1 fusion|BRCA1|BRCA2|HER2|KRAS G12C|"
        "PD-L1 50%|Ki-67 30%|BRAF V600E|MSI-high|NTRK fusion|MET exon 14 skipping|RET fusion|"
        "PIK3CA|TP53|IDH1 R132H|MGMT methylation|HER2 3+|ER+/PR+|PD-L1 TPS 80%|FLT3-ITD|"
        "BCR-ABL|JAK2 V617F|CD20|t(14;18)|del(17p)|TMB 12 mut/Mb|EGFR L858R|ALK"
    ),
    "stage": _items(
        "T2N1M0|pT3N2a|stage IIIB|stage IV|cT1cN0M0|stage 2A|Gleason 4+3=7|ypT0N0|FIGO IIIC|"
        "Ann Arbor stage IIB|Breslow 2.1 mm|Clark level IV|grade 3|Dukes C|ISS stage II|"
        "Rai stage 1|Binet B|pT1bN0(sn)|T4aN2bM1c|stage IA2"
    ),
    "dose": _items(
        "75 mg/m2|2.5 mg twice daily|60 Gy in 30 fractions|250 mg BID|80 mg once daily|"
        "200 mg every 3 weeks|AUC 5|1000 mg/m2 on days 1 and 8|400 mg daily|8 mg IV|"
        "15 mg/kg q3w|45 Gy in 25 fractions|4 cycles|6 cycles|0.5 mg/kg|135 mg/m2|"
        "20 Gy in 5 fractions|100 mg/m2 days 1-3"
    ),
    "lab": _items(
        "CEA 12.5 ng/mL|WBC 2.1 x10^9/L|PSA 0.02|hemoglobin 9.8 g/dL|platelets 85,000/µL|"
        "ANC 0.8|CA-125 340 U/mL|CA 19-9 1200|LDH 450 U/L|creatinine 1.2 mg/dL|AFP 15 ng/mL|"
        "beta-2 microglobulin 3.5|ALT 88 IU/L|TSH 4.5 mIU/L|bilirubin 2.3 mg/dL|Hb 10.2|"
        "neutrophils 1.1 x 10^9/L|eGFR 55 mL/min|calcium 11.2 mg/dL|INR 1.3|SUVmax 8.4|"
        "free PSA 12%|PSA 4.5 ng/mL|CA 15-3 48"
    ),
    "duration": _items(
        "3 months|6 weeks|two years|18 months|10 days|21-day cycles|5 years|3 weeks|"
        "4 months|12 weeks|90 days|1 year|six months|2 weeks"
    ),
    "year": _items("2019|2015|2021|2008|2023|1998|2012|2020"),
    "ecog": _items("ECOG 1|ECOG 0|ECOG PS 2|Karnofsky 80%|KPS 70|ECOG 1-2"),
}

# --- fake identifier values ------------------------------------------------------------------

STREETS = _items(
    "Maple|Oak|Cedar|Elm|Pine|Washington|Lincoln|Park|Main|High|Church|Station|Victoria|Mill|"
    "Lakeview|Sunset|Willow|Chestnut|Hillcrest|Riverside|Queen|Martin Luther King Jr|Green|"
    "Forest|Bay"
)
SUFFIXES = _items(
    "Street|St.|Avenue|Ave|Road|Rd.|Boulevard|Blvd|Lane|Drive|Dr.|Court|Place|Way|Terrace|"
    "Circle|Parkway|Close|Crescent"
)
CITIES = _items(
    "Springfield Portland Columbus Fairview Georgetown Salem Clinton Franklin Greenville "
    "Bristol Dayton Ashland Oakland Boston",
    " ",
)
STATES = _items("IL OR OH CA TX NY MA WA GA FL PA MI NC AZ", " ")
UK_TOWNS = _items("Leeds LS1 4DT|London SW1A 1AA|Manchester M1 1AE|Bristol BS8 1TH|Glasgow G2 3BZ")
DOMAINS = _items(
    "gmail.com|yahoo.co.uk|outlook.com|hospital.org|mail.example.net|proton.me|hotmail.fr|"
    "uni-klinik.de|icloud.com"
)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))


def _pick(rng: random.Random, formats: str, **values: object) -> str:
    """One of the "|"-separated ``formats``, filled with ``values``."""
    return rng.choice(formats.split("|")).format(**values)


def _labelled(rng: random.Random, kind: str, labels: str, values: list[str]) -> list[Segment]:
    """A label ("MRN ", "member ID ") as plain text, then the identifier itself."""
    return [(rng.choice(labels.split("|")), None), (rng.choice(values), kind)]


def gen_first(rng: random.Random, pool: NamePool) -> list[Segment]:
    first = rng.choice(pool.first)
    return [(first.lower() if rng.random() < 0.08 else first, "NAME")]


def gen_last(rng: random.Random, pool: NamePool) -> list[Segment]:
    """A surname after a title; sometimes with a given name or an initial ("Dr. A. Patel")."""
    first, last = rng.choice(pool.first), rng.choice(pool.last)
    if rng.random() < 0.2:
        last = _pick(rng, "{i}. {l}|{f} {l}", i=first[0], f=first, l=last)
    return [(last, "NAME")]


def gen_full(rng: random.Random, pool: NamePool) -> list[Segment]:
    first, last, middle = rng.choice(pool.first), rng.choice(pool.last), rng.choice(pool.first)
    return [(_pick(rng, "{f} {l}|{f} {l}|{f} {m}. {l}", f=first, m=middle[0], l=last), "NAME")]


def gen_name(rng: random.Random, pool: NamePool) -> list[Segment]:
    first, last, middle = rng.choice(pool.first), rng.choice(pool.last), rng.choice(pool.first)
    forms = "{f} {l}|{f} {l}|{f}|{f}|{i}. {l}|{f} {m}. {l}|{lf} {ll}"
    values = dict(f=first, l=last, i=first[0], m=middle[0], lf=first.lower(), ll=last.lower())
    return [(_pick(rng, forms, **values), "NAME")]


def gen_date(rng: random.Random, pool: NamePool) -> list[Segment]:
    """A date in one of 23 common written forms (US, European, ISO, spelled, weekday...)."""
    day = datetime.date(1995, 1, 1) + datetime.timedelta(days=rng.randint(0, 11000))
    d, m, y = day.day, day.month, day.year
    suffix = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    month = day.strftime("%B")
    forms = (
        "{m:02d}/{d:02d}/{y}|{m}/{d}/{yy:02d}|{y}-{m:02d}-{d:02d}|{d:02d}.{m:02d}.{y}|{M} {d}|"
        "{M} {d}, {y}|{Mo} {d}{s}|{d} {M} {y}|{d}{s} of {M}|the {d}{s} of {M}|{W}, {M} {d}|"
        "{W} the {d}{s}|{d:02d}-{Mo}-{y}|{M} {y}|{Mo}. {d}|{y}/{m:02d}/{d:02d}|{d:02d}-{m:02d}-{y}|"
        "{ml} {d}|{Mo}. {d}{s}, {y}|{m}/{d}|{d} {Mo} {y}|{W} {d} {M}|{d}/{m}/{y}"
    )
    values = dict(d=d, m=m, y=y, yy=y % 100, s=suffix, M=month, Mo=month[:3], ml=month.lower())
    return [(_pick(rng, forms, W=day.strftime("%A"), **values), "DATE")]


def gen_age(rng: random.Random, pool: NamePool) -> list[Segment]:
    age = str(rng.randint(90, 104))
    whole = _pick(
        rng, "{a} years old|{a}-year-old|{a} yo|{a} y/o|{a} yrs old|{a} years of age", a=age
    )
    return rng.choice(
        [
            [(whole, "AGE")],
            [(whole, "AGE")],
            [(_pick(rng, "aged |age |now |age: "), None), (age, "AGE")],
        ]
    )


def gen_phone(rng: random.Random, pool: NamePool) -> list[Segment]:
    """North American, UK, EU, Indian and Australian numbers, with and without separators."""
    values = dict(
        a=rng.randint(201, 989),
        b=rng.randint(200, 999),
        c=_digits(rng, 4),
        x=rng.randint(10, 999),
        l4=rng.randint(7000, 8999),
        d2=[_digits(rng, 2) for _ in range(4)],
        d3=_digits(rng, 3),
        d5=_digits(rng, 5),
        d6=_digits(rng, 6),
        d7=_digits(rng, 7),
        i5=rng.randint(70000, 99999),
    )
    forms = (
        "({a}) {b}-{c}|{a}-{b}-{c}|{a}.{b}.{c}|+1 {a} {b} {c}|1-{a}-{b}-{c}|{a}{b}{c}|"
        "+44 20 {l4} {c}|020 {l4} {c}|07{d3} {d6}|+91 {i5} {d5}|"
        "+33 1 {d2[0]} {d2[1]} {d2[2]} {d2[3]}|+49 30 {d7}|{b}-{c}|({a}) {b}-{c} ext. {x}|"
        "+61 4{d2[0]} {d3} {d2[1]}{d2[2][0]}|+1-{a}-{b}-{c}"
    )
    return [(_pick(rng, forms, **values), "PHONE")]


def gen_fax(rng: random.Random, pool: NamePool) -> list[Segment]:
    return [(gen_phone(rng, pool)[0][0], "FAX")]


def gen_email(rng: random.Random, pool: NamePool) -> list[Segment]:
    first, last = _ascii(rng.choice(pool.first)), _ascii(rng.choice(pool.last))
    users = "{f}.{l}|{i}{l}{n}|{f}_{l}|{l}.{f}+onc|{f}{y}"
    user = _pick(
        rng, users, f=first, l=last, i=first[0], n=rng.randint(1, 99), y=rng.randint(1950, 2005)
    )
    return [(f"{user}@{rng.choice(DOMAINS)}", "EMAIL")]


def gen_url(rng: random.Random, pool: NamePool) -> list[Segment]:
    forms = (
        "https://portal.mychart-{l}.org/patient/{d6}|www.{f}{l}cancerfund.com/donate?id={d3}|"
        "http://{ip}/reports|mychart.{l}health.com/login|facebook.com/{f}.{l}|"
        "https://www.gofundme.com/f/help-{f}-beat-cancer|bit.ly/{a3}{d3}|"
        "https://drive.google.com/file/d/{a4}{d6}/view|http://blog.{f}{l}.net/my-chemo-diary"
    )
    values = dict(
        f=_ascii(rng.choice(pool.first)),
        l=_ascii(rng.choice(pool.last)),
        d6=_digits(rng, 6),
        d3=_digits(rng, 3),
        a3=_letters(rng, 3),
        a4=_letters(rng, 4),
        ip=gen_ip(rng, pool)[0][0],
    )
    return [(_pick(rng, forms, **values), "URL")]


def gen_ip(rng: random.Random, pool: NamePool) -> list[Segment]:
    octets = [rng.randint(1, 254) for _ in range(4)]
    hexes = [format(rng.randint(0, 0xFFFF), "x") for _ in range(8)]
    forms = (
        "{o[0]}.{o[1]}.{o[2]}.{o[3]}|192.168.{o[1]}.{o[2]}|10.{o[0]}.{o[1]}.{o[3]}|{full}|"
        "2001:db8::{h[0]}:{h[1]}|fe80::{h[2]}:{h[3]}:{h[4]}:{h[5]}"
    )
    return [(_pick(rng, forms, o=octets, h=hexes, full=":".join(hexes)), "IP")]


def gen_ssn(rng: random.Random, pool: NamePool) -> list[Segment]:
    a, b, c = rng.randint(100, 899), rng.randint(10, 99), rng.randint(1000, 9999)
    return rng.choice(
        [
            [(f"{a}-{b}-{c}", "SSN")],
            [("SSN ", None), (f"{a}-{b}-{c}", "SSN")],
            [("social security number ", None), (f"{a}{b}{c}", "SSN")],
            [("SSN: ", None), (f"{a} {b} {c}", "SSN")],
            [("SS# ", None), (f"{a}{b}{c}", "SSN")],
        ]
    )


def gen_mrn(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = (
        "MRN |MRN: |MRN#|medical record number |medical record no. |hospital number |chart # |"
        "patient ID |NHS number |record number: "
    )
    values = [
        _digits(rng, 8),
        f"MRN-{_digits(rng, 7)}",
        f"{_letters(rng, 2)}{_digits(rng, 6)}",
        f"A00{_digits(rng, 6)}",
        f"{_digits(rng, 3)} {_digits(rng, 3)} {_digits(rng, 4)}",
        _digits(rng, 7),
        f"{_digits(rng, 2)}-{_digits(rng, 5)}",
    ]
    return _labelled(rng, "MRN", labels, values)


def gen_health_plan(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = (
        "member ID |insurance ID: |policy number |Medicare number |subscriber ID |health plan ID |"
        "group number |insurance member no. |BCBS ID |Medicaid ID #"
    )
    mbi = f"{rng.randint(1, 9)}{_letters(rng, 2)}{rng.randint(1, 9)}-{_letters(rng, 2)}"
    mbi += f"{rng.randint(1, 9)}-{_letters(rng, 2)}{_digits(rng, 2)}"
    values = [
        f"XYZ{_digits(rng, 9)}",
        f"W{_digits(rng, 9)}",
        mbi,
        f"H{_digits(rng, 8)}-01",
        f"{_digits(rng, 9)}A",
        f"GRP-{_digits(rng, 5)}",
        f"{_letters(rng, 3)}{_digits(rng, 8)}",
    ]
    return _labelled(rng, "HEALTH_PLAN", labels, values)


def gen_account(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = (
        "account number |account #|acct |billing account |patient account no. |bank account |"
        "IBAN |card number "
    )
    iban = f"GB{_digits(rng, 2)} NWBK " + " ".join(_digits(rng, 4) for _ in range(3))
    card = f"4{_digits(rng, 3)} " + " ".join(_digits(rng, 4) for _ in range(3))
    values = [
        _digits(rng, 10),
        f"AC-{_digits(rng, 7)}",
        _digits(rng, 12),
        f"{iban} {_digits(rng, 2)}",
        card,
        f"{_digits(rng, 4)}-{_digits(rng, 6)}",
    ]
    return _labelled(rng, "ACCOUNT", labels, values)


def gen_license(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = (
        "driver's license |driving licence number |licence no. |DEA number |NPI |"
        "medical license #|passport number |DL "
    )
    uk = f"{_letters(rng, 5)}{_digits(rng, 6)}{_letters(rng, 2)}9{_letters(rng, 2)}"
    values = [
        f"D{_digits(rng, 7)}",
        f"S{_digits(rng, 3)}-{_digits(rng, 4)}-{_digits(rng, 4)}",
        f"{_letters(rng, 2)}{_digits(rng, 7)}",
        _digits(rng, 10),
        f"MD-{_digits(rng, 5)}",
        uk,
        f"X{_digits(rng, 8)}",
    ]
    return _labelled(rng, "LICENSE", labels, values)


def gen_device(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = "serial number |S/N |SN: |device ID |IMEI |UDI |pacemaker serial no. |MAC address "
    mac = ":".join(format(rng.randint(0, 255), "02X") for _ in range(6))
    values = [
        f"{_letters(rng, 3)}{_digits(rng, 6)}{_letters(rng, 1)}",
        f"SN-{_digits(rng, 5)}-{_letters(rng, 2)}",
        _digits(rng, 15),
        f"0088{_digits(rng, 10)}",
        mac,
        f"{_digits(rng, 4)}-{_letters(rng, 4)}-{_digits(rng, 4)}",
    ]
    return _labelled(rng, "DEVICE", labels, values)


def gen_vehicle(rng: random.Random, pool: NamePool) -> list[Segment]:
    labels = "licence plate |license plate number |plate |VIN |VIN: |car registration |reg plate "
    vin = "1" + "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(16))
    values = [
        f"{rng.randint(1, 9)}{_letters(rng, 3)}{_digits(rng, 3)}",
        f"{_letters(rng, 3)}-{_digits(rng, 4)}",
        f"{_letters(rng, 2)}{_digits(rng, 2)} {_letters(rng, 3)}",
        f"KA {_digits(rng, 2)} {_letters(rng, 2)} {_digits(rng, 4)}",
        vin,
    ]
    return _labelled(rng, "VEHICLE", labels, values)


def gen_address(rng: random.Random, pool: NamePool) -> list[Segment]:
    """US, UK, German, French, P.O. box and lower-case street addresses (+ postcode spans)."""
    num, street, suffix = rng.randint(1, 9999), rng.choice(STREETS), rng.choice(SUFFIXES)
    unit = _pick(
        rng,
        "||, Apt {n}{c}| Suite {s}|, Unit {u}",
        n=rng.randint(1, 30),
        c=rng.choice("ABCD"),
        s=rng.randint(100, 950),
        u=rng.randint(1, 40),
    )
    town, _, post = rng.choice(UK_TOWNS).partition(" ")
    forms: list[list[Segment]] = [
        [(f"{num} {street} {suffix}{unit}", "ADDRESS")],
        [
            (f"{num} {street} {suffix}{unit}, {rng.choice(CITIES)}", "ADDRESS"),
            (f", {rng.choice(STATES)} ", None),
            (_digits(rng, 5), "ZIP"),
        ],
        [
            (f"Flat {rng.randint(1, 20)}, {rng.randint(1, 200)} {street} Road, {town}", "ADDRESS"),
            (" ", None),
            (post, "ZIP"),
        ],
        [(f"PO Box {rng.randint(10, 99999)}", "ADDRESS")],
        [
            (
                _pick(rng, "Hauptstraße|Lindenstraße|Gartenstraße|Bergstraße")
                + f" {rng.randint(1, 120)}",
                "ADDRESS",
            ),
            (", ", None),
            (_digits(rng, 5), "ZIP"),
            (" ", None),
            ("Berlin", "PLACE"),
        ],
        [
            (f"{rng.randint(1, 80)} rue de la " + _pick(rng, "Paix|Gare|République"), "ADDRESS"),
            (", ", None),
            (f"750{rng.randint(10, 20)}", "ZIP"),
            (" ", None),
            ("Paris", "PLACE"),
        ],
        [(f"{num} {street.lower()} street", "ADDRESS")],
        [
            (f"{rng.randint(1, 300)} W {rng.randint(1, 120)}th St", "ADDRESS"),
            (", New York, NY ", None),
            (f"100{_digits(rng, 2)}", "ZIP"),
        ],
    ]
    return rng.choice(forms)


def gen_zip(rng: random.Random, pool: NamePool) -> list[Segment]:
    """US ZIP / ZIP+4, UK and Canadian postcodes, with or without a label."""
    uk = rng.choice(UK_TOWNS).partition(" ")[2]
    canada = f"{rng.choice('KMTVH')}{rng.randint(1, 9)}{rng.choice('ABCEGHJ')} "
    canada += f"{rng.randint(0, 9)}{rng.choice('ABCEGHJ')}{rng.randint(0, 9)}"
    forms: list[list[Segment]] = [
        [("zip code ", None), (_digits(rng, 5), "ZIP")],
        [("postcode ", None), (uk, "ZIP")],
        [(f"{_digits(rng, 5)}-{_digits(rng, 4)}", "ZIP")],
        [(uk, "ZIP")],
        [("ZIP ", None), (_digits(rng, 5), "ZIP")],
        [(canada, "ZIP")],
    ]
    return rng.choice(forms)


GENERATORS: dict[str, Generator] = {
    "NAME": gen_name, "FIRST": gen_first, "LAST": gen_last, "FULL": gen_full, "DATE": gen_date,
    "AGE": gen_age, "PHONE": gen_phone, "FAX": gen_fax, "EMAIL": gen_email, "URL": gen_url,
    "IP": gen_ip, "SSN": gen_ssn, "MRN": gen_mrn, "HEALTH_PLAN": gen_health_plan,
    "ACCOUNT": gen_account, "LICENSE": gen_license, "DEVICE": gen_device,
    "VEHICLE": gen_vehicle, "ADDRESS": gen_address, "ZIP": gen_zip,
}  # fmt: skip

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


def fill(
    template: str, rng: random.Random, pool: NamePool, generators: dict | None = None
) -> Example:
    """Render one template; record gold identifier spans and protected-term spans."""
    example, pieces, position = Example(""), [], 0
    for i, part in enumerate(template.replace("{", "}").split("}")):
        if i % 2 == 0:
            segments: list[Segment] = [(part, None)]
        elif part in MEDICAL:
            segments = [(rng.choice(MEDICAL[part]), "MED")]
        else:
            segments = (generators or GENERATORS)[part](rng, pool)
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
