"""`oncogpt eval`: answer held-out questions with the engine, score them, resume if stopped.

Each answered item is appended to results.jsonl at once, so an interrupted run picks up
where it stopped. Items whose near-duplicates were in the model's training data are refused
when the training data is given, and counted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from oncogpt.conversation import Conversation, read_conversations
from oncogpt.models import describe, resolve_adapter


@dataclasses.dataclass
class EvalConfig:
    """What to evaluate, on what, and where to write."""

    data: str
    """Questions: OncoGPT test format or Alpaca JSON/JSONL, or a dataset folder (test split)."""
    out: str
    """Run folder: results.jsonl (one row per item) and run.json."""
    model: str = "default"
    """Base model: built-in name, model folder or .gguf."""
    adapter: str | None = "default"
    """LoRA adapter folder; default: the shipped OncoGPT adapter (on model default); none: the
    bare base model."""
    stage: str | None = "oncology"
    """For a dataset folder: score only this stage's test conversations (none: every stage)."""
    labels: str | None = None
    """JSONL of hand labels in the same order (category, site); else the categorizer decides."""
    train_data: str | None = None
    """Dataset folder the model was trained on: near-duplicates of its train split are removed."""
    template: str = "auto"
    """Prompt template."""
    decoder: str = "auto"
    """fast (CPU decoder), plain (transformers generate) or auto (fast on CPU, plain on GPU)."""
    weights: str = "auto"
    """The fast decoder's weights: bf16 (unquantized), int8 or int4; auto: the measured default."""
    device: str = "auto"
    """auto (a CUDA GPU when one is visible, else the CPU), cpu, cuda or cuda:N."""
    dtype: str = "auto"
    """auto (bf16 on a GPU with native bf16, else fp16; fp32 on a CPU), bf16, fp16 or fp32."""
    backend: str | None = None
    """URL of an OpenAI-compatible server that decodes (oncogpt.remote); no perplexity then."""
    name: str = ""
    """Run name in reports (default: the out folder's name)."""
    batch_size: int = 32
    """Questions answered at once (each batch is written before the next starts)."""
    max_new_tokens: int = 128
    """Longest answer."""
    limit: int | None = None
    """Evaluate only the first N items."""
    perplexity: bool = True
    """Also score the perplexity of the reference answers under the model."""
    answers: str = "model"
    """model (the model answers), or a yardstick scored the same way: generic (one fixed
    answer to every question) or nearest (the doctor's answer to the most similar training
    question; needs train_data)."""
    cite: bool = False
    """Answer from the knowledge base with checked citations (grounded composition)."""
    kb: str | None = None
    """Knowledge base (SQLite) for cite; default: the shipped one."""
    compose: str = "extract"
    """For cite: extract (passage sentences), rewrite (the model simplifies each, checked) or
    free (the model writes the answer from the passages)."""


def _question_field(row: dict) -> str:
    return row.get("question") or row.get("input") or row.get("instruction") or ""


def load_items(config: EvalConfig) -> list[dict[str, Any]]:
    path = Path(config.data)
    if path.is_dir():
        stage = None if str(config.stage).lower() == "none" else config.stage
        convs = [
            c for c in read_conversations(path / "test.jsonl")
            if stage is None or c.meta.get("stage") == stage
        ]  # fmt: skip
        # the first exchange: its answer is the reference for that first question
        items = [
            {"question": c.turns[0].text, "reference": c.turns[1].text if len(c.turns) > 1 else "",
             "category": c.meta.get("category"), "site": c.meta.get("site")}
            for c in convs
        ]  # fmt: skip
    else:
        text = path.read_text(encoding="utf-8")
        rows = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]  # fmt: skip
        items = [{"question": _question_field(r), "reference": r.get("output", "")} for r in rows]
    labels = _labels(config.labels)
    for idx, item in enumerate(items):
        item["idx"] = idx
        if labels is not None:
            item.update({k: labels[idx].get(k) for k in ("category", "site")})
        elif item.get("category") is None:
            from oncogpt.data.categorize import categorize

            result = categorize(item["question"])
            item.update(category=result.category, site=result.site)
    return items[: config.limit] if config.limit else items


def _labels(path: str | None) -> list[dict] | None:
    if path is None:
        return None
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def remove_training_overlap(items: list[dict], train_data: str | None) -> tuple[list[dict], int]:
    """Items whose near-duplicate is in the training split are not fair to score."""
    if train_data is None:
        return items, 0
    from oncogpt.data.dedup import NearDuplicateIndex

    index = NearDuplicateIndex()
    for conv in read_conversations(Path(train_data) / "train.jsonl"):
        index.check(conv.question)
    kept = [i for i in items if index.check(i["question"]) is None]
    return kept, len(items) - len(kept)


def reference_perplexity(engine: Any, question: str, reference: str) -> float:
    import torch

    from oncogpt.prompts import render_conversation

    rendered = render_conversation(
        Conversation.single(question, reference), engine.tokenizer, engine.template
    )
    ids = torch.tensor([rendered.ids[: engine.context_length]], device=engine.model.device)
    labels = ids.clone()
    labels[0, [i for i, m in enumerate(rendered.mask[: ids.shape[1]]) if not m]] = -100
    with torch.inference_mode():
        loss = engine.model(input_ids=ids, labels=labels).loss
    return float(math.exp(min(20.0, float(loss))))


def _done(results: Path) -> set[int]:
    """Indices already answered; a last line cut by a kill is dropped and answered again."""
    if not results.is_file():
        return set()
    rows = []
    for line in results.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    results.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {r["idx"] for r in rows}


def run_eval(config: EvalConfig) -> Path:
    from oncogpt.generate import Engine, SamplingConfig

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    items, removed = remove_training_overlap(load_items(config), config.train_data)
    run = {
        "name": config.name or out.name,
        "model": config.model,
        "adapter": str(resolve_adapter(config.model, config.adapter)),
        "listed_as": describe(config.model, config.adapter),
        "answers": config.answers,
    }
    run.update(data=config.data, items=len(items), removed_training_overlap=removed)
    (out / "run.json").write_text(json.dumps(run, indent=2))
    results = out / "results.jsonl"
    todo = [i for i in items if i["idx"] not in _done(results)]
    started = time.perf_counter()
    with results.open("a", encoding="utf-8") as fh:
        if config.answers != "model":
            from oncogpt.evaluate.yardsticks import yardstick_answers

            questions = [i["question"] for i in todo]
            answers = yardstick_answers(config.answers, questions, config.train_data)
            _score(todo, answers, None, fh)
        else:
            engine = Engine.load(
                config.model, config.adapter, config.template, decoder=config.decoder,
                device=config.device, dtype=config.dtype, weights=config.weights,
                backend=config.backend,
            )  # fmt: skip
            sampling = SamplingConfig(greedy=True, max_new_tokens=config.max_new_tokens)
            if config.cite:
                _run_cited(config, engine, sampling, todo, fh)
            else:
                _run_batches(config, engine, sampling, todo, fh)
    minutes = (time.perf_counter() - started) / 60
    run["this_call"] = {
        "answered": len(todo),
        "minutes": round(minutes, 2),
        "answers_per_minute": round(len(todo) / minutes, 1) if todo else None,
    }
    (out / "run.json").write_text(json.dumps(run, indent=2))
    return out


def _run_batches(config: EvalConfig, engine: Any, sampling: Any, todo: list[dict], fh) -> None:
    from oncogpt.progress import Progress

    progress = Progress("eval: answering", total=len(todo), unit="answer")
    for start in range(0, len(todo), config.batch_size):
        batch = todo[start : start + config.batch_size]
        answers = engine.answer_batch([Conversation.single(i["question"]) for i in batch], sampling)
        scored = config.perplexity and engine.model is not None  # none over a backend
        _score(batch, answers, engine if scored else None, fh)
        progress.update(len(batch))
    progress.close()


def _run_cited(config: EvalConfig, engine: Any, sampling: Any, todo: list[dict], fh) -> None:
    """Cited answers, one question at a time; the scored text is the answer without markers,
    and each row records the reference check's counts."""
    from oncogpt.rag.ask import ask_with_citations, default_kb
    from oncogpt.rag.cite import strip_markers
    from oncogpt.rag.retrieve import SqliteRetriever
    from oncogpt.safety import apply_safety, assess

    retriever = SqliteRetriever(config.kb or default_kb())
    for item in todo:
        cited = ask_with_citations(
            engine, retriever, item["question"], sampling, compose=config.compose
        )
        answer = apply_safety(strip_markers(cited.answer), assess(item["question"]))
        item["citations"] = {
            v: cited.report.count(v) for v in ("supported", "unsupported", "uncited")
        }
        _score([item], [answer], None, fh)


def _score(batch: list[dict], answers: list[str], engine: Any, fh) -> None:
    """Score each answer (and the reference's perplexity under `engine`, when given) and
    append it to results.jsonl, synced to disk."""
    from oncogpt.evaluate.metrics import embedding_scores, score_item

    semantic = embedding_scores(answers, [i["reference"] for i in batch])
    for item, answer, sem in zip(batch, answers, semantic, strict=True):
        metrics = {**score_item(answer, item["reference"]), **sem}
        if engine is not None:
            metrics["perplexity"] = reference_perplexity(
                engine, item["question"], item["reference"]
            )
        fh.write(json.dumps({**item, "answer": answer, "metrics": metrics}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
