"""Small learned classifiers ("heads") on the shipped MiniLM sentence embeddings.

The safety triage and the categorizer both put one softmax regression on the 384-d MiniLM
embedding of a patient's message: it sees paraphrases that hand-written rules miss ("must sit
up the whole night", "can't do without oxygen"), runs offline, and costs one encoder pass
(~5-10 ms a message on this CPU) plus a 384 x k matrix product. A head is stored as safetensors
(weights, bias) with its labels and training facts in the header metadata, so it loads without
pickle.

Training is full-batch L-BFGS on the L2-regularised, class-balanced cross-entropy: a convex
problem with a few thousand rows, solved in about a second.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from oncogpt.errors import OncoGPTError


class HeadError(OncoGPTError):
    """A head file is missing, malformed or made for other labels."""


@dataclass(frozen=True)
class LinearHead:
    """A softmax regression over sentence embeddings."""

    labels: tuple[str, ...]
    weight: np.ndarray  # (len(labels), dim)
    bias: np.ndarray  # (len(labels),)
    info: dict = field(default_factory=dict)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Row-wise class probabilities for (n, dim) or (dim,) embeddings."""
        x = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        logits = x @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def probability(self, embeddings: np.ndarray, label: str) -> np.ndarray:
        return self.probabilities(embeddings)[:, self.labels.index(label)]

    def predict(self, embeddings: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.probabilities(embeddings).argmax(axis=1)]

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        meta = {"labels": json.dumps(list(self.labels)), "info": json.dumps(self.info)}
        tensors = {"weight": self.weight.astype(np.float32), "bias": self.bias.astype(np.float32)}
        tmp = path.with_suffix(path.suffix + ".tmp")
        save_file(tensors, str(tmp), metadata=meta)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        from safetensors import safe_open

        if not path.is_file():
            raise HeadError(f"{path}: no such head file")
        try:
            with safe_open(str(path), framework="numpy") as fh:
                meta = fh.metadata() or {}
                weight, bias = fh.get_tensor("weight"), fh.get_tensor("bias")
            labels = tuple(json.loads(meta["labels"]))
            info = json.loads(meta.get("info", "{}"))
        except (OSError, KeyError, ValueError) as err:
            raise HeadError(f"{path}: not a head file ({err})") from err
        if weight.shape[0] != len(labels) or bias.shape != (len(labels),):
            raise HeadError(f"{path}: {len(labels)} labels but weights of shape {weight.shape}")
        return cls(labels, weight, bias, info)


def fit(
    embeddings: np.ndarray,
    targets: Sequence[str],
    labels: Sequence[str] | None = None,
    l2: float = 1e-3,
    sample_weight: Sequence[float] | None = None,
) -> LinearHead:
    """Fit a class-balanced softmax regression (each class weighs the same in the loss)."""
    import torch

    labels = tuple(labels or sorted(set(targets)))
    index = {lab: i for i, lab in enumerate(labels)}
    missing = sorted(set(targets) - set(index))
    if missing:
        raise HeadError(f"targets {missing} are not among the labels {list(labels)}")
    x = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
    y = torch.tensor([index[t] for t in targets])
    counts = torch.bincount(y, minlength=len(labels)).clamp(min=1).float()
    w = (len(y) / (len(labels) * counts))[y]
    if sample_weight is not None:
        w = w * torch.as_tensor(np.asarray(sample_weight, dtype=np.float32))
    weight = torch.zeros(len(labels), x.shape[1], requires_grad=True)
    bias = torch.zeros(len(labels), requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight.T + bias, y, reduction="none")
        loss = (loss * w).sum() / w.sum() + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LinearHead(
        labels,
        weight.detach().numpy().copy(),
        bias.detach().numpy().copy(),
        {
            "rows": len(targets),
            "l2": l2,
            "counts": {lab: int(c) for lab, c in zip(labels, counts, strict=True)},
        },
    )
