"""The data pipeline's config (`oncogpt data build --config configs/data/*.yaml`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from oncogpt.data.clean import DEFAULT_GREETINGS, DEFAULT_SIGNOFFS
from oncogpt.data.corpus import CORPUS, CORPUS_DIR
from oncogpt.data.deid import PLACES
from oncogpt.data.readers import FORMATS

STARTER = "starter"
STARTER_FILE = Path(__file__).resolve().parents[1] / "resources" / "starter_conversations.jsonl"
BUILT_IN = {STARTER: STARTER_FILE, CORPUS: CORPUS_DIR}


@dataclasses.dataclass
class SourceConfig:
    """One input file and its role in the mixture."""

    path: str
    """The file (or a folder of JSONL parts for `conversations`); `starter` and `corpus` name
    the starter set and the OncoGPT oncology corpus that ship with OncoGPT."""
    format: str = "alpaca"
    """alpaca (also the OncoGPT test format), sharegpt, csv or conversations."""
    stage: str = "oncology"
    """The training stage these conversations feed: general, medical or oncology."""
    name: str = ""
    """A short name for counts and ids (default: the file's stem)."""
    sample: int | None = None
    """Keep a seeded sample of this many rows (after cleaning); the rest are rejected."""
    weight: float = 1.0
    """How many times each row counts per epoch in training (recorded in each row's meta)."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Reader options: input_field, output_field, instruction (system|prepend|ignore) for
    alpaca; question and answer format strings over the columns for csv."""
    labels: str | None = None
    """JSONL of hand labels in the same order (category, site, red_flag); used instead of the
    categorizer for these rows, and to measure the categorizer's accuracy."""
    require_oncology: bool = False
    """Reject rows the relevance check finds not about cancer."""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        if self.sample is not None and self.sample < 1:
            raise ValueError(f"sample must be >= 1, got {self.sample}")
        if self.weight <= 0:
            raise ValueError(f"weight must be > 0, got {self.weight}")
        self.name = self.name or (self.path if self.path in BUILT_IN else Path(self.path).stem)

    @property
    def file(self) -> Path:
        return BUILT_IN.get(self.path, Path(self.path))


@dataclasses.dataclass
class DataConfig:
    """Sources, cleaning steps and splits of one dataset build."""

    sources: list[SourceConfig] = dataclasses.field(default_factory=list)
    """The input files (see SourceConfig)."""
    output_dir: str = "data/built"
    """The dataset folder to write (replaced atomically)."""
    seed: int = 42
    """Seed for sampling and splitting."""
    val_set_size: int = 2000
    """Validation conversations per stage (capped at max_split_fraction of the stage)."""
    test_size: int = 0
    """Test conversations per stage (same cap)."""
    max_split_fraction: float = 0.1
    """Validation and test each take at most this share of a stage."""
    normalize: bool = True
    """Fix broken unicode, quotes and whitespace."""
    deidentify: bool = True
    """Replace HIPAA Safe Harbor identifiers by typed placeholders ([NAME], [DATE] …)."""
    deid_ner: bool = True
    """De-identify with the rules and the statistical NER model together (names, places and
    hospitals without cue words); false: the rules alone (faster, misses more)."""
    deid_places: str = "cities"
    """Place names replaced by [PLACE]: cities (below a state or province), all, or none."""
    deid_hospitals: bool = True
    """Replace hospital and clinic names by [HOSPITAL]."""
    strip_boilerplate: bool = True
    """Strip greetings and sign-offs from answers."""
    greetings: list[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_GREETINGS))
    """Regexes of greetings removed from the start of answers."""
    signoffs: list[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_SIGNOFFS))
    """Regexes of sign-offs removed from the end of answers."""
    repair_grammar: bool = True
    """Light, safe grammar repair (spacing, capitals, a lone "i")."""
    quality_filter: bool = True
    """Reject empty or too-short turns, non-answers, noise and over-long items."""
    min_question_chars: int = 10
    """Shortest question kept, in characters."""
    min_answer_words: int = 5
    """Shortest answer kept, in words."""
    max_chars: int = 12000
    """Longest conversation kept, in characters."""
    dedup: bool = True
    """Remove exact and near duplicates (MinHash), across all sources."""
    categorize: bool = True
    """Label each conversation: oncology relevance, research/therapeutic, cancer site."""
    tokenizer: str | None = "default"
    """Model whose tokenizer measures token lengths for the card (None to skip)."""
    template: str = "auto"
    """Template used to measure token lengths."""
    cutoff_len: int = 256
    """The training cutoff the card reports fit/trimmed/dropped counts for."""

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("sources: at least one source is needed")
        if not 0 < self.max_split_fraction <= 0.5:
            raise ValueError("max_split_fraction must be in (0, 0.5]")
        if self.val_set_size < 0 or self.test_size < 0:
            raise ValueError("val_set_size and test_size must be >= 0")
        if self.deid_places not in PLACES:
            raise ValueError(f"deid_places must be one of {PLACES}, got {self.deid_places!r}")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
