"""The runs of a sweep, read from disk as they are: finished, still running or crashed.

A run is any directory holding `.hydra/overrides.yaml`, which Hydra writes when the job
starts. Its final numbers come from `metrics.json` once training has finished; its
per-epoch curves, and the numbers of a run still going, come from the CSV logger's
`csv/metrics.csv`. Nothing here needs the sweep to be over or the config to be importable.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ENV = "env."  # the prefix of environment facts among a run's settings


@dataclass
class Run:
    dir: Path
    overrides: dict[str, str]  # key -> value as typed on the command line
    metrics: dict[str, Any] | None  # metrics.json; None until the run has finished
    curves: pd.DataFrame  # index epoch (1, 2, ...): train/loss, val/loss, val/bleu, ...

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    @property
    def settings(self) -> dict[str, str]:
        """The overrides, then what the run was measured with (``env.transformers``,
        ``env.commit``, ``env.threads``, ...), so runs compare by both."""
        environment = (self.metrics or {}).get("environment") or {}
        facts = {f"{ENV}{key}": str(value) for key, value in environment.items()}
        if environment.get("commit"):
            dirty = "+dirty" if environment.get("dirty") else ""
            facts[f"{ENV}commit"] = environment["commit"][:10] + dirty
            facts.pop(f"{ENV}dirty", None)
        return self.overrides | facts


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

    A run that validates several times within an epoch (`trainer.val_check_interval`, as
    step-budgeted studies do) gets one point per validation instead, indexed by step, with
    the mean train loss since the previous validation: per epoch it would be one point.
    The CSV may be mid-write (a running sweep) or missing (logger=none): then the curves
    hold what could be read, possibly nothing.
    """
    try:
        log = pd.read_csv(csv_path)
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()
    if "epoch" not in log:
        return pd.DataFrame()
    val_columns = [c for c in log.columns if c.startswith("val/")]
    validations = log.dropna(subset=["val/loss"]) if "val/loss" in log else log.iloc[:0]
    train = log.dropna(subset=["train/loss"]) if "train/loss" in log else log.iloc[:0]
    if "step" in log and len(validations) > validations["epoch"].nunique():
        steps = sorted(validations["step"].unique())
        after = [steps[i] if i < len(steps) else None for i in steps_index(steps, train["step"])]
        train_loss = train.assign(step=after).dropna(subset=["step"]).groupby("step")
        curves = pd.concat(
            [train_loss["train/loss"].mean(), validations.groupby("step")[val_columns].last()],
            axis=1,
        ).sort_index()
        curves.index = curves.index.astype(int)
        curves.index.name = "step"
        return curves
    parts = []
    if len(train):
        parts.append(train.groupby("epoch")["train/loss"].mean())
    if len(validations):
        parts.append(validations.groupby("epoch")[val_columns].last())
    if not parts:
        return pd.DataFrame()
    curves = pd.concat(parts, axis=1).sort_index()
    curves.index = curves.index.astype(int) + 1  # Lightning counts epochs from 0
    curves.index.name = "epoch"
    return curves


def steps_index(validation_steps: list[int], steps: pd.Series) -> list[int]:
    """For each training step, the position of the first validation at or after it."""
    return [bisect.bisect_left(validation_steps, step) for step in steps]


def time_per_epoch(metrics: dict[str, Any]) -> float | None:
    """Fit seconds per epoch of data from a metrics.json: seconds per batch x batches per
    epoch, so right for a run that stopped inside an epoch (a step or time budget) too.
    metrics.json files from before "batches" was recorded count steps (no accumulation)."""
    batches = metrics.get("batches", metrics.get("steps"))
    per_epoch = metrics.get("data", {}).get("batches_per_epoch")
    if not batches or not per_epoch or metrics.get("fit_time_sec") is None:
        return None
    return metrics["fit_time_sec"] / batches * per_epoch


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
