"""The runs of a sweep, read from disk as they are: finished, still running or crashed.

A run is any directory holding `.hydra/overrides.yaml`, which Hydra writes when the job
starts. Its final numbers come from `metrics.json` once training has finished; its
per-epoch curves, and the numbers of a run still going, come from the CSV logger's
`csv/metrics.csv`. Nothing here needs the sweep to be over or the config to be importable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml


@dataclass
class Run:
    dir: Path
    overrides: dict[str, str]  # key -> value as typed on the command line
    metrics: dict[str, Any] | None  # metrics.json; None until the run has finished
    curves: pd.DataFrame  # index epoch (1, 2, ...): train/loss, val/loss, val/bleu, ...

    @property
    def finished(self) -> bool:
        return self.metrics is not None


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """`["model=t5", "+extra=1", "~deleted"]` -> {"model": "t5", "extra": "1", "deleted": "~"}."""
    parsed = {}
    for override in overrides:
        key, _, value = override.partition("=")
        if key.startswith("~"):
            key, value = key[1:], "~"
        parsed[key.lstrip("+")] = value
    return parsed


def epoch_curves(csv_path: Path) -> pd.DataFrame:
    """Per epoch: the mean of the logged train/loss steps and the epoch's last validation.

    The CSV may be mid-write (a running sweep) or missing (logger=none): then the curves
    hold what could be read, possibly nothing.
    """
    try:
        log = pd.read_csv(csv_path)
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()
    if "epoch" not in log:
        return pd.DataFrame()
    parts = []
    if "train/loss" in log:
        parts.append(log.dropna(subset=["train/loss"]).groupby("epoch")["train/loss"].mean())
    val_columns = [c for c in log.columns if c.startswith("val/")]
    if "val/loss" in log:
        parts.append(log.dropna(subset=["val/loss"]).groupby("epoch")[val_columns].last())
    if not parts:
        return pd.DataFrame()
    curves = pd.concat(parts, axis=1).sort_index()
    curves.index = curves.index.astype(int) + 1  # Lightning counts epochs from 0
    curves.index.name = "epoch"
    return curves


def load_run(run_dir: Path) -> Run:
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
    metrics_path = run_dir / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    except json.JSONDecodeError:  # being written right now
        metrics = None
    return Run(
        run_dir, parse_overrides(overrides), metrics, epoch_curves(run_dir / "csv" / "metrics.csv")
    )


def find_runs(sweep_dir: Path) -> list[Run]:
    """Every run under `sweep_dir` (a sweep, or a single run dir), sorted by directory."""
    run_dirs = sorted(p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml"))
    return [load_run(d) for d in run_dirs]
