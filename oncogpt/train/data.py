"""Training examples: conversations rendered by `oncogpt.prompts` into ids and labels."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from oncogpt.conversation import Conversation, read_conversations
from oncogpt.errors import OncoGPTError
from oncogpt.prompts import Template, fit_conversation

IGNORE = -100


class DatasetError(OncoGPTError, ValueError):
    """The data folder is not a usable dataset; the message names it."""


def check_dataset_dir(path: Path) -> None:
    if not path.is_dir():
        raise DatasetError(f"{path}: no such dataset folder (build one with `oncogpt data build`)")
    if not (path / "train.jsonl").is_file():
        raise DatasetError(
            f"{path}: not a dataset folder (no train.jsonl); build one with `oncogpt data build`"
        )


def load_split(
    path: Path, split: str, stage: str, limit: int | None = None, seed: int = 0
) -> list[Conversation]:
    """The conversations of one stage in a split, repeated by their weight, maybe sampled."""
    check_dataset_dir(path)
    file = path / f"{split}.jsonl"
    if not file.is_file():
        return []
    convs = [c for c in read_conversations(file) if c.meta.get("stage", stage) == stage]
    if limit is not None and len(convs) > limit:
        convs = random.Random(seed).sample(convs, limit)
    weighted = []
    for conv in convs:
        weighted += [conv] * max(1, round(float(conv.meta.get("weight", 1.0))))
    return weighted


class ConversationDataset(torch.utils.data.Dataset):
    """Rendered, fitted examples; counts how many fit, were trimmed or dropped."""

    def __init__(
        self,
        conversations: list[Conversation],
        tokenizer: Any,
        template: Template,
        cutoff_len: int,
        train_on_inputs: bool = False,
    ) -> None:
        self.examples: list[dict[str, list[int]]] = []
        self.fit_counts: Counter[str] = Counter()
        for conv in conversations:
            fit = fit_conversation(conv, tokenizer, template, cutoff_len, train_on_inputs)
            self.fit_counts[fit.status] += 1
            if fit.rendered is None or not any(fit.rendered.mask):
                continue
            r = fit.rendered
            labels = [t if m else IGNORE for t, m in zip(r.ids, r.mask, strict=True)]
            self.examples.append({"input_ids": r.ids, "labels": labels})

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.examples[i]

    @property
    def lengths(self) -> list[int]:
        return [len(e["input_ids"]) for e in self.examples]


def answer_positions(labels: torch.Tensor) -> torch.Tensor:
    """Bool (batch, length): the positions whose next token is trained on. Only these need
    logits: the output layer and the loss skip the prompt (a fifth of the model's FLOPs on a
    small model, for half the tokens or more)."""
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE
    return keep


def answer_loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
    """Causal LM cross-entropy from logits computed at `answer_positions` only (Trainer's
    `compute_loss_func`): the same loss as the model's own, summed over the trained tokens
    and divided by their count over the whole accumulated batch, as Trainer counts them."""
    targets = labels[:, 1:][labels[:, 1:] != IGNORE]
    loss = torch.nn.functional.cross_entropy(outputs.logits.float(), targets, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else max(1, len(targets))
    return loss / count


class PadToLongest:
    """Pads a batch to its longest example (multiple of 8), right-padded, labels masked."""

    def __init__(self, pad_id: int, multiple: int = 8) -> None:
        self.pad_id = pad_id
        self.multiple = multiple

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        longest = max(len(b["input_ids"]) for b in batch)
        longest = -(-longest // self.multiple) * self.multiple
        ids, labels, attention = [], [], []
        for b in batch:
            pad = longest - len(b["input_ids"])
            ids.append(b["input_ids"] + [self.pad_id] * pad)
            labels.append(b["labels"] + [IGNORE] * pad)
            attention.append([1] * len(b["input_ids"]) + [0] * pad)
        labels_t = torch.tensor(labels)
        return {
            "input_ids": torch.tensor(ids),
            "labels": labels_t,
            "attention_mask": torch.tensor(attention),
            "logits_to_keep": answer_positions(labels_t),
        }


class PackIntoRow:
    """Puts a micro batch end to end in one row, with no padding at all. Positions restart at
    each conversation and no attention mask is given, so transformers builds a block-causal
    mask from the positions: no conversation attends to another. (It does so only without a
    KV cache, hence `use_cache: False`.)"""

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for b in batch:
            ids += b["input_ids"]
            # a conversation's first token is never a target (the previous one is not its context)
            labels += [IGNORE, *b["labels"][1:]]
            positions += range(len(b["input_ids"]))
        labels_t = torch.tensor([labels])
        return {
            "input_ids": torch.tensor([ids]),
            "labels": labels_t,
            "position_ids": torch.tensor([positions]),
            "logits_to_keep": answer_positions(labels_t),
            "use_cache": False,
        }


def dataset_hashes(path: Path) -> dict[str, Any]:
    """Input hashes recorded by the data pipeline, for the run manifest."""
    manifest = path / "manifest.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        return {"outputs": data.get("outputs", {}), "inputs": data.get("inputs", {})}
    from oncogpt.data.card import sha256

    return {"outputs": {p.name: sha256(p) for p in sorted(path.glob("*.jsonl"))}}
