"""`oncogpt data build`: sources -> clean, de-identified, categorized, split dataset folder.

Two streaming passes keep memory flat: the first cleans every row and writes the kept ones to a
scratch file (rejected rows go to `rejected.jsonl` with the step and reason); the second
samples and splits. Everything is written to a temporary folder that replaces the output
folder only when complete, so a failure never leaves a partial dataset.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from oncogpt.conversation import Conversation, Turn
from oncogpt.data import clean
from oncogpt.data.config import DataConfig, SourceConfig
from oncogpt.data.dedup import NearDuplicateIndex
from oncogpt.data.readers import SourceError, read_source

SPLITS = ("train", "validation", "test")


class Rejected(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step, self.reason = step, reason


@dataclass
class Stats:
    """Counts gathered while building, for the card and the no-loss check."""

    input: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    rejected: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    placeholders: Counter[str] = field(default_factory=Counter)
    split: Counter[tuple[str, str]] = field(default_factory=Counter)
    category: Counter[tuple[str, str]] = field(default_factory=Counter)
    site: Counter[str] = field(default_factory=Counter)
    label_agreement: Counter[str] = field(default_factory=Counter)


class Cleaner:
    """The per-row steps, each switchable by the config; raises Rejected with the reason."""

    def __init__(self, config: DataConfig) -> None:
        self.config = config
        self.greetings = clean.compile_patterns(config.greetings, "^")
        self.signoffs = clean.compile_patterns(config.signoffs, "")
        self.dedup = NearDuplicateIndex() if config.dedup else None
        self.deidentify = None
        if config.deidentify:
            from functools import partial

            from oncogpt.data.deid import DeidConfig, deidentify

            deid = DeidConfig(
                ner=config.deid_ner, places=config.deid_places, hospitals=config.deid_hospitals
            )
            if deid.ner:  # fail before reading any row when the model is missing
                from oncogpt.data.deid_ner import load_model

                load_model()
            self.deidentify = partial(deidentify, config=deid)

    def _text(self, text: str, role: str, stats: Stats) -> str:
        if self.config.normalize:
            text = clean.normalize_text(text)
        if role == "doctor" and self.config.strip_boilerplate:
            text = clean.strip_boilerplate(text, self.greetings, self.signoffs)
        if self.deidentify is not None:
            text, counts = self.deidentify(text)
            stats.placeholders.update(counts)
        if self.config.repair_grammar:
            text = clean.repair_grammar(text)
        return text

    def text_steps(self, conv: Conversation, stats: Stats) -> Conversation:
        turns = tuple(Turn(t.role, self._text(t.text, t.role, stats)) for t in conv.turns)
        system = clean.normalize_text(conv.system) if conv.system else conv.system
        return conv.replace(turns=turns, system=system)

    def filters(self, conv: Conversation) -> None:
        c = self.config
        if c.quality_filter:
            for i in range(0, len(conv.turns) - 1, 2):
                problem = clean.quality_problem(
                    conv.turns[i].text,
                    conv.turns[i + 1].text,
                    c.min_question_chars,
                    c.min_answer_words,
                    c.max_chars,
                )
                if problem:
                    raise Rejected("quality", problem)
            if len(conv.turns) % 2:
                raise Rejected("quality", "no_answer")
        if self.dedup is not None:
            kind = self.dedup.check("\n".join(t.text for t in conv.turns))
            if kind:
                raise Rejected("dedup", f"{kind}_duplicate")


def _labels(source: SourceConfig) -> list[dict[str, Any]] | None:
    if source.labels is None:
        return None
    path = Path(source.labels)
    if not path.is_file():
        raise SourceError(f"{path}: labels file not found (source {source.name})")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None
    return rows


def _categorize(conv: Conversation, label: dict | None, stats: Stats) -> dict[str, Any]:
    from oncogpt.data.categorize import categorize

    result = categorize(conv.question, conv.turns[1].text if len(conv.turns) > 1 else "")
    label_source = "hand"
    if label is None and {"category", "site"} <= conv.meta.keys():
        # The project's written conversations carry their labels (corpus, starter set).
        label, label_source = conv.meta, "written"
    meta: dict[str, Any] = {
        "oncology": result.oncology,
        "category": result.category,
        "site": result.site,
    }
    if label is not None and label_source == "hand":
        # the card's categorizer accuracy is against the hand labels of real questions only
        stats.label_agreement["category_total"] += 1
        stats.label_agreement["category_correct"] += label.get("category") == result.category
        stats.label_agreement["site_total"] += 1
        stats.label_agreement["site_correct"] += label.get("site") == result.site
    if label is not None:
        meta.update({k: label[k] for k in ("category", "site", "red_flag") if k in label})
        meta["label_source"] = label_source
    return meta


def _rows(source: SourceConfig) -> Iterator[tuple[int, str, Conversation, dict | None]]:
    labels = _labels(source)
    for index, (where, conv) in enumerate(read_source(source.file, source.format, source.options)):
        label = None
        if labels is not None:
            if index >= len(labels):
                raise SourceError(f"{source.labels}: fewer labels than rows in {source.file}")
            label = labels[index]
        yield index, where, conv, label


def _dump(fh: TextIO, row: dict[str, Any]) -> None:
    fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def first_pass(
    config: DataConfig, cleaner: Cleaner, kept: TextIO, rejected: TextIO, stats: Stats
) -> None:
    """Clean and filter every row of every source; kept rows go to `kept`."""
    for source, index, where, conv, label in _all_rows(config):
        stats.input[source.name] += 1
        row_id = conv.id or f"{source.name}-{index:06d}"
        conv = conv.replace(id=row_id, meta={**conv.meta, "source": source.name})
        try:
            conv = cleaner.text_steps(conv, stats)
            cleaner.filters(conv)
            meta = _categorize(conv, label, stats) if config.categorize else {}
            if source.require_oncology and not meta.get("oncology", True):
                raise Rejected("relevance", "not_oncology")
        except Rejected as rej:
            stats.rejected[(source.name, rej.step, rej.reason)] += 1
            _dump(rejected, {**conv.to_dict(), "where": where, **vars(rej)})
            continue
        meta.update(stage=source.stage, weight=source.weight)
        _dump(kept, conv.replace(meta={**conv.meta, **meta}).to_dict())
        stats.kept[source.name] += 1


def _all_rows(
    config: DataConfig,
) -> Iterator[tuple[SourceConfig, int, str, Conversation, dict | None]]:
    """(source, index, where, conversation, label) of every source, counted on stderr."""
    from oncogpt.progress import Progress

    with Progress("data build: cleaning", unit="row") as progress:
        for source in config.sources:
            for index, where, conv, label in _rows(source):
                progress.update()
                yield source, index, where, conv, label


def _key(seed: int, *parts: str) -> int:
    text = ":".join([str(seed), *parts]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest())


def _smallest(keys: Iterator[tuple[str, int]], sizes: dict[str, int]) -> dict[str, set[int]]:
    """Per group, the `sizes[group]` smallest keys (memory: the sizes, not the rows)."""
    heaps: dict[str, list[int]] = defaultdict(list)
    for group, key in keys:
        heap = heaps[group]
        if len(heap) < sizes.get(group, 0):
            heapq.heappush(heap, -key)
        elif heap and -heap[0] > key:
            heapq.heapreplace(heap, -key)
    return {g: {-k for k in h} for g, h in heaps.items()}


def _scan(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def second_pass(
    config: DataConfig, scratch: Path, out: Path, rejected: TextIO, stats: Stats
) -> None:
    """Apply `sample` per source, then split per stage by seeded keys."""
    samples = {s.name: s.sample for s in config.sources if s.sample is not None}
    chosen = _smallest(
        (
            (r["meta"]["source"], _key(config.seed, "sample", r["id"]))
            for r in _scan(scratch)
            if r["meta"]["source"] in samples
        ),
        samples,
    )
    per_stage: Counter[str] = Counter()
    for r in _scan(scratch):
        if _sampled(r, samples, chosen, config.seed):
            per_stage[r["meta"]["stage"]] += 1
    sizes = {
        stage: min(config.val_set_size, int(n * config.max_split_fraction))
        for stage, n in per_stage.items()
    }
    test_sizes = {
        stage: min(config.test_size, int(n * config.max_split_fraction))
        for stage, n in per_stage.items()
    }
    both = {s: sizes[s] + test_sizes[s] for s in sizes}
    held = _smallest(
        (
            (r["meta"]["stage"], _key(config.seed, "split", r["id"]))
            for r in _scan(scratch)
            if _sampled(r, samples, chosen, config.seed)
        ),
        both,
    )
    _write_splits(config, scratch, out, rejected, stats, (samples, chosen, held, sizes))


def _sampled(r: dict, samples: dict, chosen: dict, seed: int) -> bool:
    source = r["meta"]["source"]
    return source not in samples or _key(seed, "sample", r["id"]) in chosen.get(source, set())


def _write_splits(
    config: DataConfig, scratch: Path, out: Path, rejected: TextIO, stats: Stats, plan: tuple
) -> None:
    samples, chosen, held, sizes = plan
    # The held-out keys of a stage, sorted: the smallest `sizes[stage]` are validation.
    val_cut = {s: sorted(keys)[sizes[s] - 1] if sizes[s] else -1 for s, keys in held.items()}
    files = {name: (out / f"{name}.jsonl").open("w", encoding="utf-8") for name in SPLITS}
    try:
        for r in _scan(scratch):
            meta = r["meta"]
            if not _sampled(r, samples, chosen, config.seed):
                stats.rejected[(meta["source"], "mixture", "not_sampled")] += 1
                stats.kept[meta["source"]] -= 1
                _dump(rejected, {**r, "step": "mixture", "reason": "not_sampled"})
                continue
            key = _key(config.seed, "split", r["id"])
            stage = meta["stage"]
            split = "train"
            if key in held.get(stage, set()):
                split = "validation" if key <= val_cut[stage] else "test"
            _dump(files[split], r)
            stats.split[(stage, split)] += 1
            stats.category[(split, str(meta.get("category", "?")))] += 1
            stats.site[str(meta.get("site", "?"))] += 1
    finally:
        for fh in files.values():
            fh.close()


def build_dataset(config: DataConfig) -> tuple[Path, Stats]:
    """Build the dataset folder; returns it and the counts. Atomic: all or nothing."""
    out = Path(config.output_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    stats = Stats()
    try:
        cleaner = Cleaner(config)
        scratch = tmp / ".kept.jsonl"
        with (
            scratch.open("w", encoding="utf-8") as kept,
            (tmp / "rejected.jsonl").open("w", encoding="utf-8") as rejected,
        ):
            first_pass(config, cleaner, kept, rejected, stats)
        with (tmp / "rejected.jsonl").open("a", encoding="utf-8") as rejected:
            second_pass(config, scratch, tmp, rejected, stats)
        check_no_loss(stats)
        from oncogpt.data.card import write_card

        write_card(config, tmp, stats)
        scratch.unlink()
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out, stats


def check_no_loss(stats: Stats) -> None:
    """Every input row is in exactly one split or in rejected.jsonl."""
    rejected = sum(stats.rejected.values())
    written = sum(stats.split.values())
    total = sum(stats.input.values())
    if total != written + rejected:
        raise AssertionError(f"lost rows: input {total} != kept {written} + rejected {rejected}")
