"""Compare evaluation runs: aligned per-item statistics and a Markdown report.

An eval run is a folder holding ``results.jsonl`` (one JSON object per item: ``idx``,
``question``, ``reference``, ``answer``, ``category``, ``site``, ``metrics: {name: float}``) and
``run.json`` (``name``, ``model``, ``adapter``, ...). ``compare_runs`` aligns the runs on ``idx``
(items present in every run only), takes the first run as the baseline, and writes
``report.md``, ``summary.json``, ``metrics_by_category.png`` (one panel per main metric: a bar
per run for overall and each category, with 95% CI error bars) and ``answer_length.png`` (box
plots and cumulative distributions of answer length per run, reference answers for scale).
The figures are drawn by `oncogpt.evaluate.plots`.

The per-item metrics are expected in the rows already (``metrics.score_item`` and
``metrics.embedding_scores`` at generation time); this module only reads and compares them.
Every numeric metric is handled the same way; ``LOWER_IS_BETTER`` ones (perplexity, repetition)
are marked and their verdicts flipped. Research use only, never clinical use.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from oncogpt.evaluate.metrics import (
    LOWER_IS_BETTER,
    NEUTRAL,
    aggregate,
    answer_lengths,
    arrow,
    metric_value,
    paired_bootstrap,
)
from oncogpt.evaluate.plots import plot_answer_length, plot_metrics_by_category
from oncogpt.text import markdown_table

# Report order: the main quality metrics first, descriptive ones last; others follow sorted.
METRIC_ORDER: tuple[str, ...] = (
    "rouge_l",
    "bleu",
    "chrf",
    "bertscore_f",
    "bertscore_p",
    "bertscore_r",
    "embed_cosine",
    "ends_cleanly",
    "repetition",
    "perplexity",
    "answer_len_words",
)
MIN_SITE_ITEMS = 5
"""Sites with fewer aligned items are left out of the per-site tables (their CIs are noise)."""


@dataclass
class Run:
    """One eval run folder: its metadata and its result rows keyed by ``idx``."""

    path: Path
    name: str
    meta: dict[str, Any]
    rows: dict[int, dict[str, Any]]
    duplicates: list[int] = field(default_factory=list)
    """idx values seen more than once in results.jsonl (the last row is kept)."""


def load_run(path: str | Path) -> Run:
    """Read ``run.json`` (optional) and ``results.jsonl`` of one eval run folder."""
    path = Path(path)
    results = path / "results.jsonl"
    if not results.is_file():
        raise FileNotFoundError(f"{results} is missing; is {path} an eval run folder?")
    meta_file = path / "run.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    rows: dict[int, dict[str, Any]] = {}
    duplicates: list[int] = []
    with results.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                idx = int(row["idx"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{results}:{lineno}: not a result row ({exc})") from exc
            if idx in rows:
                duplicates.append(idx)  # a resumed run re-wrote the item; the later row wins
            rows[idx] = row
    name = str(meta.get("name") or path.name)
    return Run(path=path, name=name, meta=meta, rows=rows, duplicates=duplicates)


# ---------------------------------------------------------------------------------------------
# Alignment and statistics
# ---------------------------------------------------------------------------------------------


def _unique_names(runs: Sequence[Run]) -> None:
    """Two runs named alike would merge in the tables, so later ones get a ``#k`` suffix."""
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.name] = seen.get(run.name, 0) + 1
        if seen[run.name] > 1:
            run.name = f"{run.name}#{seen[run.name]}"


def _align(runs: Sequence[Run]) -> tuple[list[int], dict[str, list[int]]]:
    """Sorted idx present in every run, and per run the idx it has that others lack."""
    common = set.intersection(*(set(r.rows) for r in runs))
    excluded = {r.name: sorted(set(r.rows) - common) for r in runs}
    return sorted(common), excluded


def _aligned_rows(runs: Sequence[Run], idx: Sequence[int]) -> dict[str, list[dict[str, Any]]]:
    """Per run, its rows in ``idx`` order; category and site come from the baseline so groups
    hold the same items in every run even if a run labelled an item differently."""
    base = runs[0].rows
    out = {}
    for run in runs:
        out[run.name] = [
            {
                "idx": i,
                "category": base[i].get("category") or "unknown",
                "site": base[i].get("site") or "unknown",
                "metrics": run.rows[i].get("metrics") or {},
                "answer": run.rows[i].get("answer") or "",
                "reference": base[i].get("reference") or "",
            }
            for i in idx
        ]
    return out


def _metric_names(aligned: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """Every metric with a finite value in some run, in ``METRIC_ORDER`` then name order."""
    found = set()
    for rows in aligned.values():
        for row in rows:
            for name in row["metrics"]:
                if math.isfinite(metric_value(row, name)):
                    found.add(name)
    known = [m for m in METRIC_ORDER if m in found]
    return known + sorted(found - set(known))


def _differences(
    aligned: Mapping[str, list[dict[str, Any]]],
    metrics: Sequence[str],
    categories: Sequence[str],
    n_boot: int,
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """{run: {metric: {group: {"n", "diff", "low", "high", "p"}}}} of run minus baseline."""
    names = list(aligned)
    base = aligned[names[0]]
    out: dict[str, Any] = {}
    for name in names[1:]:
        rows = aligned[name]
        out[name] = {}
        for metric in metrics:
            out[name][metric] = {}
            for group in ["overall", *categories]:
                keep = [i for i, r in enumerate(base) if group in ("overall", r["category"])]
                a = np.array([metric_value(base[i], metric) for i in keep])
                b = np.array([metric_value(rows[i], metric) for i in keep])
                diff, low, high, p = paired_bootstrap(a, b, n=n_boot)
                n = int(np.count_nonzero(np.isfinite(a) & np.isfinite(b)))
                out[name][metric][group] = {"n": n, "diff": diff, "low": low, "high": high, "p": p}
    return out


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------


def _decimals(values: Sequence[float]) -> int:
    """Decimals that suit a metric's scale: 0-1 scores get 3, 0-100 scores and lengths fewer."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    top = max(finite, default=0.0)
    return 1 if top >= 100 else 2 if top >= 2 else 3


def _ci(stats: Mapping[str, float], d: int, key: str = "mean") -> str:
    if not stats or not math.isfinite(stats.get(key, math.nan)):
        return "—"
    return f"{stats[key]:.{d}f} [{stats['low']:.{d}f}, {stats['high']:.{d}f}]"


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _verdict(metric: str, d: Mapping[str, float]) -> str:
    """better/worse when the CI excludes 0, taking the metric's direction into account."""
    if not math.isfinite(d["low"]):
        return "—"
    if d["low"] <= 0 <= d["high"]:
        return "n.s."
    up = d["diff"] > 0
    if metric in NEUTRAL:
        return "higher" if up else "lower"
    return "better" if up != (metric in LOWER_IS_BETTER) else "worse"


def _runs_section(runs: Sequence[Run], n_items: int) -> list[str]:
    rows = [
        [
            str(k),
            f"`{r.name}`" + (" (baseline)" if k == 1 else ""),
            str(r.meta.get("model", "—")),
            str(r.meta.get("adapter") or "—"),
            str(len(r.rows)),
            str(n_items),
            f"`{r.path}`",
        ]
        for k, r in enumerate(runs, 1)
    ]
    header = ["#", "run", "model", "adapter", "items in file", "items compared", "folder"]
    return ["## Runs", "", *markdown_table(header, rows), ""]


def _missing_notes(stats: Mapping[str, Any], metrics: Sequence[str]) -> list[str]:
    """Say which runs lack a metric for some or all items, so a "—" or a smaller n is explained."""
    lines = []
    for metric in metrics:
        for name, s in stats.items():
            have = s["category"]["overall"][metric]["n"]
            total = s["category"]["n"]
            if have < total:
                lines.append(f"- `{name}` has `{metric}` for {have} of {total} items.")
    return lines


def _item_notes(runs: Sequence[Run], excluded: Mapping[str, list[int]]) -> list[str]:
    """Which items each run lost to alignment, and duplicated idx."""
    lines = []
    for run in runs:
        ex = excluded[run.name]
        if ex:
            shown = ", ".join(map(str, ex[:20])) + (" …" if len(ex) > 20 else "")
            lines.append(f"- `{run.name}`: {len(ex)} item(s) excluded (not in every run): {shown}")
        if run.duplicates:
            lines.append(
                f"- `{run.name}`: {len(run.duplicates)} duplicated idx in results.jsonl "
                "(the last row of each was used)."
            )
    if not any(excluded.values()):
        lines.append("- No items were excluded: every run has the same items.")
    return lines


def _notes_section(c: Comparison, n_boot: int) -> list[str]:
    lines = [
        "## Notes",
        "",
        f"- **n = {len(c.idx)}** items present in every run (aligned by `idx`); all statistics "
        "use only these items. A metric's mean leaves out items where that metric is missing.",
        *_item_notes(c.runs, c.excluded),
        *_missing_notes(c.stats, c.metrics),
        f"- Intervals: 95% percentile bootstrap ({n_boot} resamples, seed 0). Differences are "
        "paired (run − baseline, items resampled together); p is two-sided and not corrected "
        "for the many comparisons in this report.",
        "- ↑ higher is better, ↓ lower is better (perplexity, repetition); answer length is "
        "descriptive. *better*/*worse* means the difference's CI excludes 0.",
        "- BERTScore here uses all-MiniLM-L6-v2 token embeddings (no IDF, no rescaling): "
        "compare runs with it, not with published roberta-large BERTScore values.",
        "- Category and site labels are the baseline's for every run.",
    ]
    if c.small_sites:
        rest = ", ".join(f"{s} ({n})" for s, n in c.small_sites.items())
        lines.append(
            f"- Sites with fewer than {c.min_site_items} items, not shown per site: {rest}."
        )
    return lines + [""]


def _category_section(
    stats: Mapping[str, Any], metrics: Sequence[str], categories: Sequence[str]
) -> list[str]:
    first = next(iter(stats.values()))["category"]
    header = ["metric", "run", f"overall (n={first['n']})"]
    header += [f"{c} (n={first['group_sizes'][c]})" for c in categories]
    rows = []
    for metric in metrics:
        d = _decimals([s["category"]["overall"][metric]["mean"] for s in stats.values()])
        for name, s in stats.items():
            agg = s["category"]
            cells = [_ci(agg["overall"][metric], d)]
            cells += [_ci(agg["groups"][c][metric], d) for c in categories]
            rows.append([f"{metric}{arrow(metric)}", f"`{name}`", *cells])
    return ["## Metrics by category (mean [95% CI])", "", *markdown_table(header, rows), ""]


def _diff_cell(d: Mapping[str, float], dec: int) -> str:
    return f"{_ci(d, dec, key='diff')} (p {_p(d['p'])})"


def _diff_section(
    diffs: Mapping[str, Any],
    stats: Mapping[str, Any],
    metrics: Sequence[str],
    categories: Sequence[str],
    baseline: str,
) -> list[str]:
    if not diffs:
        return ["## Differences vs baseline", "", "Only one run: nothing to compare.", ""]
    header = ["metric", "run − baseline", "Δ overall [95% CI] (p)", "verdict"]
    header += [f"Δ {c} [95% CI] (p)" for c in categories]
    rows = []
    for metric in metrics:
        d = _decimals([s["category"]["overall"][metric]["mean"] for s in stats.values()])
        for name, per_metric in diffs.items():
            g = per_metric[metric]
            cells = [_diff_cell(g["overall"], d), _verdict(metric, g["overall"])]
            cells += [_diff_cell(g[c], d) for c in categories]
            rows.append([f"{metric}{arrow(metric)}", f"`{name}` − `{baseline}`", *cells])
    title = f"## Differences vs baseline `{baseline}` (paired, mean [95% CI])"
    return [title, "", *markdown_table(header, rows), ""]


def _site_section(
    stats: Mapping[str, Any], metrics: Sequence[str], sites: Sequence[str], min_items: int
) -> list[str]:
    lines = [f"## Metrics by site (sites with ≥ {min_items} items, mean [95% CI])", ""]
    if not sites:
        return lines + [f"No site has {min_items} or more items.", ""]
    sizes = next(iter(stats.values()))["site"]["group_sizes"]
    for metric in metrics:
        d = _decimals([s["site"]["overall"][metric]["mean"] for s in stats.values()])
        rows = [
            [site, str(sizes[site])]
            + [_ci(s["site"]["groups"][site][metric], d) for s in stats.values()]
            for site in sites
        ]
        lines += [f"### {metric}{arrow(metric)}", ""]
        lines += [*markdown_table(["site", "n", *(f"`{n}`" for n in stats)], rows), ""]
    return lines


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def _json_safe(obj: Any) -> Any:
    """NaN is not JSON; write null instead."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


@dataclass
class Comparison:
    """Everything the report is written from."""

    runs: list[Run]
    idx: list[int]
    excluded: dict[str, list[int]]
    aligned: dict[str, list[dict[str, Any]]]
    metrics: list[str]
    stats: dict[str, dict[str, Any]]
    categories: list[str]
    sites: list[str]
    small_sites: dict[str, int]
    min_site_items: int
    diffs: dict[str, Any]


def build_comparison(
    dirs: Sequence[str | Path], n_boot: int = 1000, min_site_items: int = MIN_SITE_ITEMS
) -> Comparison:
    """Load, align and summarise the runs (the first is the baseline) without writing files."""
    if not dirs:
        raise ValueError("compare_runs needs at least one run folder")
    runs = [load_run(d) for d in dirs]
    _unique_names(runs)
    idx, excluded = _align(runs)
    if not idx:
        raise ValueError("the runs share no items (no idx is present in all of them)")
    aligned = _aligned_rows(runs, idx)
    metrics = _metric_names(aligned)
    stats = {
        name: {
            "category": aggregate(rows, metrics, by="category", n_boot=n_boot),
            "site": aggregate(rows, metrics, by="site", n_boot=n_boot),
        }
        for name, rows in aligned.items()
    }
    base = stats[runs[0].name]
    categories = list(base["category"]["groups"])
    site_sizes = base["site"]["group_sizes"]
    return Comparison(
        runs=runs,
        idx=idx,
        excluded=excluded,
        aligned=aligned,
        metrics=metrics,
        stats=stats,
        categories=categories,
        sites=[s for s, n in site_sizes.items() if n >= min_site_items],
        small_sites={s: n for s, n in site_sizes.items() if n < min_site_items},
        min_site_items=min_site_items,
        diffs=_differences(aligned, metrics, categories, n_boot),
    )


def median_lengths(aligned: Mapping[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Median answer words of each run, and of the reference answers (key `reference`)."""
    first = next(iter(aligned.values()))
    out = {"reference": float(np.median([len(r["reference"].split()) for r in first]))}
    out.update({name: float(np.median(answer_lengths(rows))) for name, rows in aligned.items()})
    return out


def _length_section(aligned: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    medians = median_lengths(aligned)
    ref = medians.pop("reference")
    lines = ["## Answer length", "", f"Median words of the reference answers: {ref:.0f}.", ""]
    lines += ["| run | median words | × reference |", "|---|---|---|"]
    lines += [f"| {n} | {m:.0f} | {m / ref:.2f} |" if ref else f"| {n} | {m:.0f} | - |"
              for n, m in medians.items()]  # fmt: skip
    return [*lines, ""]


def render_markdown(c: Comparison, n_boot: int = 1000) -> str:
    """The report's Markdown (the plots are referenced by file name, beside report.md)."""
    lines = ["# OncoGPT evaluation report", "", "Research use only, not for clinical use.", ""]
    lines += _runs_section(c.runs, len(c.idx))
    lines += _notes_section(c, n_boot)
    lines += _length_section(c.aligned)
    lines += _category_section(c.stats, c.metrics, c.categories)
    lines += _diff_section(c.diffs, c.stats, c.metrics, c.categories, c.runs[0].name)
    lines += ["## Plots", "", "![Metrics by category](metrics_by_category.png)", ""]
    lines += ["![Answer length](answer_length.png)", ""]
    lines += _site_section(c.stats, c.metrics, c.sites, c.min_site_items)
    return "\n".join(lines)


def compare_runs(
    dirs: Sequence[str | Path],
    out: str | Path,
    n_boot: int = 1000,
    min_site_items: int = MIN_SITE_ITEMS,
) -> Path:
    """Compare eval runs (the first is the baseline) and write the report folder ``out``.

    Writes ``report.md``, ``summary.json`` (every number in the report, NaN as null),
    ``metrics_by_category.png`` and ``answer_length.png``; returns the path of report.md.
    """
    c = build_comparison(dirs, n_boot=n_boot, min_site_items=min_site_items)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_metrics_by_category(c.stats, c.metrics, c.categories, out / "metrics_by_category.png")
    plot_answer_length(c.aligned, out / "answer_length.png")
    report = out / "report.md"
    report.write_text(render_markdown(c, n_boot), encoding="utf-8")
    summary = {
        "runs": [{**r.meta, "name": r.name, "path": str(r.path)} for r in c.runs],
        "n_items": len(c.idx),
        "excluded": c.excluded,
        "metrics": c.metrics,
        "stats": c.stats,
        "differences": c.diffs,
        "median_words": median_lengths(c.aligned),
    }
    (out / "summary.json").write_text(json.dumps(_json_safe(summary), indent=1), encoding="utf-8")
    return report
