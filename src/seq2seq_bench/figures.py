"""The figures of a sweep report, drawn from plain numbers (no knowledge of runs or configs).

Matplotlib's Agg backend: no display needed, so reports can be made on a cluster node or
in CI. Each function returns whether it drew anything; a figure without data is skipped
rather than drawn empty.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from seq2seq_bench.runs import TRAIN_CLOCK  # noqa: E402

CURVES = (
    ("train/loss", "train loss (the objective: label-smoothed)"),
    ("train/nll_loss", "train token NLL (dropout on)"),
    ("val/loss", "val loss (token NLL)"),
    ("val/token_acc", "val token accuracy (%)"),
    ("val/ppl", "val perplexity (log scale)"),
    ("val/bleu", "val BLEU"),
    ("val/nsp_acc", "val next-sentence accuracy (%)"),
    ("val/sop_acc", "val sentence-order accuracy (%)"),
)


def _styles(groups: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Runs of one group share a colour and differ in line style."""
    colors = {g: f"C{i % 10}" for i, g in enumerate(dict.fromkeys(groups.values()))}
    styles, seen = {}, {}
    for label, group in groups.items():
        seen[group] = seen.get(group, -1) + 1
        styles[label] = (colors[group], ("-", "--", ":", "-.")[seen[group] % 4])
    return styles


def _panels(
    curves: dict[str, pd.DataFrame],
    groups: dict[str, str],
    panels: list[tuple[str, str]],
    x: str | None,
    xlabel: str,
    path: Path,
) -> bool:
    """One panel per (column, title); x: a column (scaled to minutes) or None for the step."""
    styles = _styles(groups)
    columns = min(len(panels), 3)  # at most three panels a row: each stays readable
    rows = -(-len(panels) // columns)
    fig, grid = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows + 0.6), squeeze=False)
    axes = list(grid.flat)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax, (column, title) in zip(axes, panels, strict=False):
        for label, df in curves.items():
            needed = [column] + ([x] if x else [])
            if not all(c in df for c in needed):
                continue
            points = df.dropna(subset=needed)
            if points.empty:
                continue
            xs = points[x] / 60.0 if x else points.index
            color, style = styles[label]
            ax.plot(
                xs,
                points[column],
                marker="o",
                markersize=3,
                label=label,
                color=color,
                linestyle=style,
            )
        ax.set(title=title, xlabel=xlabel)
        if column.endswith("ppl"):
            ax.set_yscale("log")
        if x is None:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    handles, labels = max((ax.get_legend_handles_labels() for ax in axes), key=lambda h: len(h[1]))
    legend_columns = min(len(labels), 3) or 1
    fig.legend(handles, labels, loc="lower center", ncol=legend_columns, fontsize=8)
    legend_rows = -(-len(labels) // legend_columns)
    fig.tight_layout(rect=(0, min(0.035 * legend_rows / rows, 0.5), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_curves(curves: dict[str, pd.DataFrame], groups: dict[str, str], path: Path) -> bool:
    """Train loss and the validation's loss, token accuracy, perplexity and BLEU against the
    training step, one line per run (label -> curves); runs of one group (label -> group)
    share a colour."""
    panels = [(c, t) for c, t in CURVES if any(c in df for df in curves.values())]
    if not panels:
        return False
    return _panels(curves, groups, panels, None, "training step", path)


def plot_curves_by_time(
    curves: dict[str, pd.DataFrame], groups: dict[str, str], path: Path
) -> bool:
    """The validation curves against training minutes (validations excluded): the axis of
    a compute-matched comparison. Drawn when the runs logged their training time."""
    timed = {
        k: df for k, df in curves.items() if TRAIN_CLOCK in df and df[TRAIN_CLOCK].notna().any()
    }
    panels = [
        (c, t) for c, t in CURVES if c.startswith("val/") and any(c in df for df in timed.values())
    ]
    if not panels:
        return False
    return _panels(
        timed, groups, panels, TRAIN_CLOCK, "training minutes (validation excluded)", path
    )


def plot_time_per_epoch(bars: list[tuple[str, float, float]], path: Path) -> bool:
    """Seconds per epoch for each configuration: (label, mean, std over seeds)."""
    if not bars:
        return False
    labels, means, stds = zip(*bars, strict=True)
    fig, ax = plt.subplots(figsize=(7, 1.0 + 0.45 * len(bars)))
    ax.barh(range(len(bars)), means, xerr=stds, capsize=3, color="tab:blue")
    ax.set_yticks(range(len(bars)), labels, fontsize=8)
    ax.invert_yaxis()  # first configuration on top, as in the table
    ax.set(xlabel="seconds per epoch", title="time per epoch")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_score_vs_params(
    points: list[tuple[str, float, float, float]], score: str, path: Path
) -> bool:
    """A score against trainable parameters: (label, params, mean, std over seeds) each."""
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(7, 5))
    for label, params, mean, std in points:
        ax.errorbar(params, mean, yerr=std, fmt="o", capsize=3)
        ax.annotate(label, (params, mean), textcoords="offset points", xytext=(5, 5), fontsize=7)
    sizes = [p for _, p, _, _ in points]
    if min(sizes) > 0 and max(sizes) / min(sizes) > 20:
        ax.set_xscale("log")
    ax.set(xlabel="trainable parameters", ylabel=score, title=f"{score} vs trainable parameters")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
