"""Exact and near-duplicate detection (MinHash over word shingles, banded LSH), streaming.

Only band keys are kept per accepted item (a few 64-bit integers), so memory grows by a few
hundred bytes per kept conversation, whatever its length.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

_MERSENNE = np.uint64((1 << 61) - 1)
_WORD = re.compile(r"\w+")


class NearDuplicateIndex:
    """`seen(text)` is True when `text` equals or nearly equals something seen before."""

    def __init__(self, num_perm: int = 64, bands: int = 8, shingle: int = 3, seed: int = 1) -> None:
        if num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 1 << 61, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, 1 << 61, size=num_perm, dtype=np.uint64)
        self.bands = bands
        self.shingle = shingle
        self.exact: set[bytes] = set()
        self.band_keys: set[int] = set()

    @staticmethod
    def canonical(text: str) -> str:
        return " ".join(_WORD.findall(text.lower()))

    def _signature(self, words: list[str]) -> np.ndarray:
        n = self.shingle
        grams = {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}
        hashes = np.fromiter(
            (int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest()) for g in grams),
            dtype=np.uint64,
            count=len(grams),
        )
        # (a*h + b) mod p, in uint64 with wraparound: a standard fast universal hash family.
        mixed = (np.outer(hashes, self.a) + self.b) % _MERSENNE
        return mixed.min(axis=0)

    def _band_keys(self, signature: np.ndarray) -> list[int]:
        rows = signature.reshape(self.bands, -1)
        return [
            int.from_bytes(hashlib.blake2b(row.tobytes() + bytes([i]), digest_size=8).digest())
            for i, row in enumerate(rows)
        ]

    def _keys(self, text: str) -> tuple[bytes, list[int]]:
        canon = self.canonical(text)
        digest = hashlib.blake2b(canon.encode(), digest_size=16).digest()
        return digest, self._band_keys(self._signature(canon.split()))

    def _match(self, digest: bytes, keys: list[int]) -> str | None:
        if digest in self.exact:
            return "exact"
        return "near" if any(k in self.band_keys for k in keys) else None

    def seen(self, text: str) -> str | None:
        """'exact' or 'near' when `text` duplicates something indexed; remembers nothing."""
        return self._match(*self._keys(text))

    def check(self, text: str) -> str | None:
        """'exact' or 'near' when `text` duplicates an earlier one; else remembers it."""
        digest, keys = self._keys(text)
        kind = self._match(digest, keys)
        if kind is None:
            self.exact.add(digest)
            self.band_keys.update(keys)
        return kind
