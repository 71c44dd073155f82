"""Counts and ratios shared by every evaluation harness, with one convention: a ratio with an
empty denominator is nan (not measured), never 0 or 1, and reports print it as "nan"."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


def ratio(num: float, den: float) -> float:
    """num / den, or nan when there is nothing to divide by."""
    return num / den if den else math.nan


@dataclass(frozen=True)
class BinaryScores:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def recall(self) -> float:
        return ratio(self.tp, self.tp + self.fn)

    @property
    def precision(self) -> float:
        return ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else math.nan


def binary_scores(pairs: Iterable[tuple[bool, bool]]) -> BinaryScores:
    """Counts from (predicted, gold) pairs."""
    tp = fp = fn = tn = 0
    for pred, gold in pairs:
        tp += pred and gold
        fp += pred and not gold
        fn += gold and not pred
        tn += not pred and not gold
    return BinaryScores(tp, fp, fn, tn)


def accuracy(pairs: Iterable[tuple[str, str]]) -> tuple[float, int]:
    """(accuracy, n) of (predicted, gold) pairs; accuracy is nan on an empty input."""
    pairs = list(pairs)
    if not pairs:
        return math.nan, 0
    return sum(p == g for p, g in pairs) / len(pairs), len(pairs)
