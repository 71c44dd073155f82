"""The comparison report's figures, drawn from what `oncogpt.evaluate.report` computed.

- ``metrics_by_category.png``: one panel per main metric, a bar per run for overall and each
  category, with 95% CI error bars (small multiples, since scales differ: BLEU 0-100, ROUGE
  0-1);
- ``answer_length.png``: box plots and cumulative distributions of answer length per run,
  reference answers for scale.

Figures are Agg `Figure`s drawn directly (no pyplot, no display, no global backend switch);
matplotlib is imported on the first plot. Imports nothing from `oncogpt.evaluate.report` (which
imports this module); the metric conventions come from `oncogpt.evaluate.metrics`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oncogpt.evaluate.metrics import NEUTRAL, answer_lengths, arrow

PLOT_METRICS: tuple[str, ...] = (
    "rouge_l",
    "bleu",
    "chrf",
    "bertscore_f",
    "embed_cosine",
    "ends_cleanly",
)
LABELS: dict[str, str] = {
    "rouge_l": "ROUGE-L F",
    "bleu": "BLEU",
    "chrf": "chrF",
    "bertscore_f": "BERTScore F (MiniLM)",
    "bertscore_p": "BERTScore P (MiniLM)",
    "bertscore_r": "BERTScore R (MiniLM)",
    "embed_cosine": "Embedding cosine",
    "ends_cleanly": "Ends cleanly (share)",
    "repetition": "Repetition (seq-rep-4)",
    "perplexity": "Perplexity",
    "answer_len_words": "Answer length (words)",
}
DPI = 120


_STYLE = {"font.size": 10, "axes.titlesize": 11, "legend.fontsize": 10, "axes.labelsize": 10}


def matplotlib_style() -> Any:
    """A context with the report's font sizes, leaving the caller's rcParams untouched."""
    import matplotlib

    return matplotlib.rc_context(_STYLE)


def _figure(**kwargs: Any) -> Any:
    """A Figure drawn by the Agg canvas directly: no pyplot, so no global backend switch and no
    display is needed on eval machines."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _wrap(text: str, width: int = 18) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _bar_panel(ax: Any, stats: Mapping[str, Any], metric: str, groups: Sequence[str]) -> None:
    """One metric: a cluster of bars per group (overall + categories), one bar per run."""
    names = list(stats)
    width = 0.8 / len(names)
    x = np.arange(len(groups))
    for k, name in enumerate(names):
        agg = stats[name]["category"]
        cells = [
            agg["overall"][metric] if g == "overall" else agg["groups"][g][metric] for g in groups
        ]
        mean = np.array([c["mean"] for c in cells], dtype=float)
        low = np.array([c["low"] for c in cells], dtype=float)
        high = np.array([c["high"] for c in cells], dtype=float)
        err = np.nan_to_num(np.vstack([mean - low, high - mean]))
        offset = (k - (len(names) - 1) / 2) * width
        ax.bar(
            x + offset,
            np.nan_to_num(mean),
            width,
            yerr=err,
            capsize=3,
            label=name,
            color=f"C{k}",
            edgecolor="black",
            linewidth=0.4,
        )
    ax.set_xticks(x, [_wrap(g, 12) for g in groups])
    ax.set_title(LABELS.get(metric, metric) + arrow(metric))
    ax.set_ylabel("mean")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _plot_metrics(metrics: Sequence[str]) -> list[str]:
    """The main metrics when present, else the first few directional ones."""
    shown = [m for m in PLOT_METRICS if m in metrics]
    return shown or [m for m in metrics if m not in NEUTRAL][:6] or list(metrics[:6])


def plot_metrics_by_category(
    stats: Mapping[str, Any], metrics: Sequence[str], categories: Sequence[str], path: Path
) -> Path:
    """Small multiples: one panel per metric, since scales differ (BLEU 0-100, ROUGE 0-1)."""
    shown = _plot_metrics(metrics)
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    with matplotlib_style():
        fig = _figure(figsize=(4.6 * ncols, 3.5 * nrows + 1.0), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, metric in zip(axes.flat, shown, strict=False):
            _bar_panel(ax, stats, metric, ["overall", *categories])
        for ax in list(axes.flat)[len(shown) :]:
            ax.set_visible(False)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        # Below the panels: above them it collides with the title once run names wrap.
        fig.legend(
            handles,
            [_wrap(lbl, 40) for lbl in labels],
            loc="outside lower center",
            ncol=min(len(labels), 3),
            frameon=False,
        )
        fig.suptitle("Metrics by category: mean with 95% bootstrap CI", fontsize=13)
        fig.savefig(path, dpi=DPI)
    return path


def _length_box(ax: Any, series: Sequence[tuple[str, np.ndarray, str]]) -> None:
    # A white mean marker: a coloured one would read as one of the runs.
    mean_style = {"marker": "^", "markerfacecolor": "white", "markeredgecolor": "black"}
    parts = ax.boxplot(
        [s[1] for s in series],
        patch_artist=True,
        showmeans=True,
        medianprops={"color": "black"},
        meanprops=mean_style,
    )
    for patch, (_, _, color) in zip(parts["boxes"], series, strict=True):
        patch.set_facecolor(color)
        patch.set_alpha(0.6)
    ticks = range(1, len(series) + 1)
    if len(series) <= 4:
        ax.set_xticks(ticks, [_wrap(s[0], 14) for s in series])
    else:  # wrapped names of many runs run into each other; slanted ones do not
        ax.set_xticks(ticks, [_wrap(s[0], 24) for s in series], rotation=25, ha="right")
    ax.set_ylabel("words per answer")
    ax.set_title("Per run (box: quartiles, line: median, △: mean)")
    ax.grid(axis="y", alpha=0.3)


def _length_ecdf(ax: Any, series: Sequence[tuple[str, np.ndarray, str]]) -> None:
    """Cumulative distributions: unlike overlaid histograms they stay readable for many runs,
    and a pile-up at the generation limit shows as a jump."""
    for label, values, color in series:
        ordered = np.sort(values)
        share = np.arange(1, len(ordered) + 1) / max(len(ordered), 1)
        dashed = label == "reference"
        ax.step(
            ordered,
            share,
            where="post",
            color=color,
            label=_wrap(label, 40),
            linestyle="--" if dashed else "-",
            linewidth=2.0 if dashed else 1.8,
        )
    ax.set_xlabel("words per answer")
    ax.set_ylabel("share of answers with at most x words")
    ax.set_ylim(0, 1.02)
    ax.set_title("Cumulative distribution")
    ax.grid(alpha=0.3)


def plot_answer_length(aligned: Mapping[str, list[dict[str, Any]]], path: Path) -> Path:
    """Box plots and cumulative distributions of answer length per run, references for scale."""
    names = list(aligned)
    reference = np.array([len(r["reference"].split()) for r in aligned[names[0]]], dtype=float)
    series = [("reference", reference, "0.5")]
    series += [(n, answer_lengths(aligned[n]), f"C{k}") for k, n in enumerate(names)]
    with matplotlib_style():
        # Each extra run needs room for its box and label.
        fig = _figure(figsize=(12 + 0.6 * max(0, len(series) - 4), 5), layout="constrained")
        box_ax, cdf_ax = fig.subplots(1, 2, width_ratios=(1, 1.2))
        _length_box(box_ax, series)
        _length_ecdf(cdf_ax, series)
        handles, labels = cdf_ax.get_legend_handles_labels()
        # One legend below both panels: inside the curves panel it would hide lines.
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=min(len(labels), 4),
            frameon=False,
            title=f"n = {len(reference)} items per run",
        )
        fig.suptitle("Answer length (words): runs vs reference answers", fontsize=13)
        fig.savefig(path, dpi=DPI)
    return path
