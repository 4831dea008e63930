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

CURVES = (("train/loss", "train loss"), ("val/loss", "val loss"), ("val/bleu", "val BLEU"))


def plot_curves(curves: dict[str, pd.DataFrame], groups: dict[str, str], path: Path) -> bool:
    """Train loss, val loss and val BLEU per epoch (or per validation step, see
    `runs.epoch_curves`), one line per run (label -> curves);
    runs of one group (label -> group) share a colour and differ in line style."""
    panels = [(c, t) for c, t in CURVES if any(c in df for df in curves.values())]
    if not panels:
        return False
    colors = {g: f"C{i % 10}" for i, g in enumerate(dict.fromkeys(groups.values()))}
    styles, seen = {}, {}
    for label, group in groups.items():
        seen[group] = seen.get(group, -1) + 1
        styles[label] = ("-", "--", ":", "-.")[seen[group] % 4]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (column, title) in zip(axes[0], panels, strict=True):
        for label, df in curves.items():
            if column in df and df[column].notna().any():
                series = df[column].dropna()
                ax.plot(
                    series.index,
                    series.values,
                    marker="o",
                    markersize=3,
                    label=label,
                    color=colors[groups[label]],
                    linestyle=styles[label],
                )
        axis = {df.index.name for df in curves.values() if not df.empty} or {"epoch"}
        ax.set(title=title, xlabel=" / ".join(sorted(axis)))  # mixed when runs differ
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8)
    fig.tight_layout(rect=(0, 0.06 + 0.04 * (len(labels) // 3), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


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
