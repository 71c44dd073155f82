"""A harder de-identification set: identifiers placed the way real patient messages place them.

The synthetic set of ``deid_eval`` puts most identifiers after a cue ("My name is ...", "MRN
..."); real messages rarely do. Here names stand mid-sentence without a cue ("Yesterday Hannah
and I drove ..."), in sign-offs ("Thanks so much, Rosa Quinn"), in headers ("Patient: Zhang
Wei, 67M"), in lists of contacts and as possessives ("Huang's CT"); ages over 89 are spelled
out or written "97 yo"; e-mail addresses dodge filters ("liu42 at gmail dot com"); phones
carry extensions or are Chinese mobiles; addresses have no postcode; hospitals and towns are
named. Chinese names (pinyin, family name first) are common, as in the seed's consultations.

Templates, name pools, towns and hospitals are different from the synthetic set's and come in
two disjoint halves: ``dev`` (looked at while writing the rules) and ``test`` (the figures to
report). Medical terms fill the lower-case slots and must survive. Scored by
``deid_eval.score``; ``python -m oncogpt.evaluate.deid --set messages`` prints the table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from oncogpt.evaluate.deid_synthetic import (
    NEGATIVE_TEMPLATES,
    Example,
    NamePool,
    Segment,
    _digits,
    _items,
    _pick,
    fill,
    gen_date,
)


@dataclass(frozen=True)
class MessagePool(NamePool):
    """Western given and family names plus Chinese family and given names (pinyin)."""

    cn_family: tuple[str, ...] = ()
    cn_given: tuple[str, ...] = ()
    towns: tuple[str, ...] = ()
    streets: tuple[str, ...] = ()
    hospitals: tuple[str, ...] = ()


POOLS = {
    "dev": MessagePool(
        first=_items(
            "Hannah Rosa Ethan Ingrid Tomas Aaliyah Bruno "
            "Leona Felix Marta Otto Priyanka Declan Yara",
            " ",
        ),
        last=_items(
            "Quinn Delgado Hartley Okoro Lindgren Moreau "
            "Castell Brennan Falk Navarro Iyer Whitaker",
            " ",
        ),
        cn_family=_items("Zhang Liu Huang Zhou Xu Guo Luo Zheng Xie Tang Feng Deng Peng Tian", " "),
        cn_given=_items(
            "Wei Fang Xiuying Jianguo Lei Yan Hongmei Jun Chao Li Guilan Haoran Yuxuan Min", " "
        ),
        towns=_items(
            "Tampere Hangzhou Chengdu Leeds Wuxi Dalian Aarhus Shenzhen Porto Kunming", " "
        ),
        streets=_items("Cedar|Jiefang|Willow|Zhongshan|Harbour|Renmin|Birch|Xinhua"),
        hospitals=_items(
            "West China Hospital|Zhongshan Hospital|Mayo Clinic|Royal Marsden Hospital|"
            "Sun Yat-sen University Cancer Center|Tangdu Hospital|St Olav's Hospital|"
            "Huashan Hospital of Fudan University|Cleveland Clinic|Xijing Hospital"
        ),
    ),
    "test": MessagePool(
        first=_items(
            "Clara Mateus Sinead Jonah Imogen Rafaela Hugo "
            "Agnes Dario Freya Kasper Nadine Idris Lotte",
            " ",
        ),
        last=_items(
            "Pemberton Vasquez Achebe Sorensen Galloway Ferreira "
            "Kowalczyk Ashworth Lund Romero Thakur Bellamy",
            " ",
        ),
        cn_family=_items("Wang Li Chen Yang Zhao Wu Sun Ma Zhu Hu Lin Gao Liang Song Han Cao", " "),
        cn_given=_items(
            "Na Qiang Xiaoming Yufei Jing Tao Shuang Zhiwei Lan Bo Meiling Hao Ying Kai", " "
        ),
        towns=_items("Suzhou Bergen Nanchang Sheffield Xiamen Graz Harbin Lyon Zhuhai Tromso", " "),
        streets=_items("Linden|Huaihai|Orchard|Dongfeng|Beacon|Yan'an|Holly|Chang'an"),
        hospitals=_items(
            "Ruijin Hospital|Peking Union Medical College Hospital|Johns Hopkins Hospital|"
            "Christie Hospital|Fudan University Shanghai Cancer Center|Qilu Hospital|"
            "Karolinska University Hospital|Tongji Hospital|MD Anderson Cancer Center|"
            "Xiangya Hospital of Central South University"
        ),
    ),
}


def _cn_name(rng: random.Random, pool: MessagePool) -> str:
    family, given = rng.choice(pool.cn_family), rng.choice(pool.cn_given)
    return f"{given} {family}" if rng.random() < 0.15 else f"{family} {given}"


def gen_cn(rng: random.Random, pool: MessagePool) -> list[Segment]:
    return [(_cn_name(rng, pool), "NAME")]


def gen_cn_family(rng: random.Random, pool: MessagePool) -> list[Segment]:
    return [(rng.choice(pool.cn_family), "NAME")]


def gen_person(rng: random.Random, pool: MessagePool) -> list[Segment]:
    """A full name, Chinese in half the cases."""
    if rng.random() < 0.5:
        return gen_cn(rng, pool)
    return [(f"{rng.choice(pool.first)} {rng.choice(pool.last)}", "NAME")]


def gen_given(rng: random.Random, pool: MessagePool) -> list[Segment]:
    return [(rng.choice(pool.first), "NAME")]


def gen_old_age(rng: random.Random, pool: MessagePool) -> list[Segment]:
    """An age over 89: spelled out, "97 yo", "aged 95", "93-year-old"."""
    age = rng.randint(90, 103)
    units = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    spelled = "ninety" if age == 90 else f"ninety-{units[age - 91]}" if age < 100 else None
    if spelled is None:
        spelled = "a hundred" if age == 100 else f"a hundred and {units[age - 101]}"
    forms: list[list[Segment]] = [
        [(spelled, "AGE")],
        [(f"{spelled} years old", "AGE")],
        [(_pick(rng, "{a} yo|{a}yo|{a} y.o.|{a}-year-old|{a} years old", a=age), "AGE")],
        [(_pick(rng, "aged |age |now "), None), (str(age), "AGE")],
    ]
    return rng.choice(forms)


def gen_email(rng: random.Random, pool: MessagePool) -> list[Segment]:
    user = _pick(
        rng,
        "{f}{n}|{f}.{l}|{l}_{f}|{f}{l}{n}",
        f=rng.choice(pool.cn_family).lower(),
        l=rng.choice(pool.last).lower(),
        n=rng.randint(1, 99),
    )
    host = rng.choice(["gmail", "163", "qq", "outlook", "yahoo", "126"])
    forms = (
        "{u} at {h} dot com|{u} [at] {h} [dot] com|{u}(at){h}.com|{u} AT {h} DOT com|"
        "{u} at {h}.com|{u}@{h}.com|{u} @ {h} . com"
    )
    return [(_pick(rng, forms, u=user, h=host).replace(" . ", " dot "), "EMAIL")]


def gen_phone(rng: random.Random, pool: MessagePool) -> list[Segment]:
    """Extensions, +86 mobiles (grouped or not), Chinese landlines, US numbers."""
    mobile = f"1{rng.choice('3456789')}{_digits(rng, 1)}"
    a, b = _digits(rng, 4), _digits(rng, 4)
    forms = (
        "+86 {m} {a} {b}|+86-{m}-{a}-{b}|+86{m}{a}{b}|{m}{a}{b}|{m} {a} {b}|{m}-{a}-{b}|"
        "(+86) {m}{a}{b}|0086 {m} {a} {b}|(021) {a} {b}|010-{a}{b}|0571-{a}-{b}|"
        "({u}) 555-{a} ext. {x}|{u}-555-{a} x{x}|+1 {u} 555 {a}, extension {x}|"
        "+44 161 {c} {a} ext {x}"
    )
    values = dict(m=mobile, a=a, b=b, u=rng.randint(201, 989), x=rng.randint(2, 9999))
    return [(_pick(rng, forms, c=_digits(rng, 3), **values), "PHONE")]


def gen_street(rng: random.Random, pool: MessagePool) -> list[Segment]:
    """Addresses without a postcode; apartments and rooms; Chinese house numbers."""
    street, town = rng.choice(pool.streets), rng.choice(pool.towns)
    suffix = rng.choice(["Road", "Ave", "Street", "Lane", "Rd", "St."])
    forms = (
        "{n} {s} {x}, {t}|{n} {s} {x}|Apt {u}, {n} {s} {x}|{n} {s} {x}, Apt {u}|"
        "No. {n} {s} {x}, {t}|Room {r}, Building {k}, {n} {s} {x}|Flat {u}, {n} {s} {x}"
    )
    values = dict(n=rng.randint(1, 999), s=street, x=suffix, t=town)
    values |= dict(u=f"{rng.randint(1, 30)}{rng.choice('ABC')}", r=rng.randint(101, 2405))
    return [(_pick(rng, forms, k=rng.randint(1, 20), **values), "ADDRESS")]


def gen_town(rng: random.Random, pool: MessagePool) -> list[Segment]:
    return [(rng.choice(pool.towns), "PLACE")]


def gen_hospital(rng: random.Random, pool: MessagePool) -> list[Segment]:
    return [(rng.choice(pool.hospitals), "HOSPITAL")]


GENERATORS = {
    "CN": gen_cn, "CNFAM": gen_cn_family, "PERSON": gen_person, "GIVEN": gen_given,
    "OLDAGE": gen_old_age, "EMAIL": gen_email, "PHONE": gen_phone, "STREET": gen_street,
    "TOWN": gen_town, "HOSPITAL": gen_hospital, "DATE": gen_date,
}  # fmt: skip

TEMPLATES: dict[str, tuple[str, ...]] = {
    "dev": (
        "Yesterday {GIVEN} and I drove to {HOSPITAL} for her {drug}, and the {lab} was worse.",
        "Patient: {CN}, 67M\nDx: {cancer}, {stage}\nQuestion: should we switch to {drug}?",
        "{CNFAM}'s CT came back worse after {duration} of {drug}. What now for {gene}?",
        "My father is {OLDAGE} and was just found to have {cancer}. Is {regimen} too much?",
        "Please send the report to {STREET}. We moved there for the {drug} infusions.",
        "Thanks so much, {PERSON}",
        "Can you email me at {EMAIL}? The {lab} came on {DATE}.",
        "The oncology nurse is on {PHONE} if you need the {gene} result.",
        "Contacts: {PERSON} (daughter) {PHONE}; {PERSON} (son).",
        "We live in {TOWN} and the nearest centre with {drug} is {HOSPITAL}.",
        "Grandma, {OLDAGE}, has {cancer}; {ecog}; doctors at {HOSPITAL} suggest {drug}.",
        "My husband {CN} had {regimen} for {cancer}. {CN} says the {dose} was hard.",
        "Hello doctor. {CN} here, {OLDAGE}, {stage} {cancer}. Is {drug} safe for me?",
        "I saw Dr. {CNFAM} at {HOSPITAL} on {DATE}; {gene}, {lab}.",
        "After {duration} of {drug}, {GIVEN} still has {lab}. Best regards,\n{PERSON}",
        "Referral letter\nName: {PERSON}\nAge: {OLDAGE}\nDiagnosis: {cancer} ({stage})",
        "Is {drug} available in {TOWN}? My mother {PERSON} needs it for {gene} {cancer}.",
        "Call me on {PHONE} or write to {EMAIL} about the {regimen} schedule.",
        "{PERSON} and I both read that {drug} helps {cancer}; our {lab}.",
        "Our address is {STREET}; please post the {gene} report, not email it.",
        "{CNFAM}'s PET-CT showed {stage}; the team at {HOSPITAL} advised {regimen}.",
        "I am writing for my aunt {CN}, {OLDAGE}, who lives in {TOWN}. She has {cancer}.",
    ),
    "test": (
        "Last week {GIVEN} took me to {HOSPITAL}; they started {drug} at {dose}.",
        "Patient: {CN}, 58F\nHistory: {cancer}, {stage}, {gene}\nAsk: is {regimen} next?",
        "{CNFAM}'s MRI was clear but the {lab} rose again after {drug}.",
        "My grandfather, {OLDAGE}, has {cancer}. Would {drug} or {regimen} be gentler?",
        "Mail the discharge papers to {STREET}, please. {lab}.",
        "Thank you so much, {PERSON}",
        "You can reach me at {EMAIL}; the biopsy was {DATE} and showed {gene}.",
        "Her number is {PHONE}. She is on {drug} {dose} for {cancer}.",
        "Emergency contacts: {PERSON} (wife) {PHONE}, {PERSON} (brother) {PHONE}.",
        "We are from {TOWN}; {HOSPITAL} offered {regimen} for the {cancer}.",
        "Mum is {OLDAGE} and frail ({ecog}); they want {drug} for {gene} {cancer}.",
        "My wife {CN} finished {regimen}. Now {CN} has {lab} and feels tired.",
        "Hi, {CN} writing, {OLDAGE}, {cancer} {stage}. Should I stop {drug}?",
        "Prof. {CNFAM} at {HOSPITAL} reviewed the {gene} report on {DATE}.",
        "{GIVEN} has had {duration} of {drug} and {lab}. Kind regards,\n{PERSON}",
        "Consult request\nPatient name: {PERSON}\nAge: {OLDAGE}\nProblem: {cancer}, {stage}",
        "Can I get {drug} in {TOWN}? My brother {PERSON} has {gene} {cancer}.",
        "Text {PHONE} or email {EMAIL} to move the {regimen} cycle.",
        "{PERSON} told me {drug} works for {cancer}, but my {lab}.",
        "Send the {gene} results to {STREET} by post.",
        "{CNFAM}'s bone scan after {regimen} showed {stage}; {HOSPITAL} wants {drug}.",
        "I'm asking for my uncle {CN}, {OLDAGE}, in {TOWN}, who has {cancer} and {lab}.",
    ),
}


def build_messages(n: int = 300, seed: int = 0, split: str = "test") -> list[Example]:
    """``n`` messages with identifiers plus ``n // 5`` without (the synthetic set's negatives)."""
    rng, pool = random.Random(seed), POOLS[split]
    examples = [fill(rng.choice(TEMPLATES[split]), rng, pool, GENERATORS) for _ in range(n)]
    negatives = NEGATIVE_TEMPLATES[split]
    examples += [fill(rng.choice(negatives), rng, pool, GENERATORS) for _ in range(max(1, n // 5))]
    return examples
