"""The runs of a sweep, read from disk as they are: finished, still running or crashed.

A run is any directory holding `.hydra/overrides.yaml`, which Hydra writes when the job
starts. Its final numbers come from `metrics.json` once training has finished; its
per-epoch curves, and the numbers of a run still going, come from the CSV logger's
`csv/metrics.csv`. Nothing here needs the sweep to be over or the config to be importable.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from seq2seq_bench.rundir import RunDir

ENV = "env."  # the prefix of environment facts among a run's settings
TRAIN_CLOCK = "val/train_time_sec"  # training seconds at a validation, validations excluded
TRAIN_MEANS = ("train/loss", "train/nll_loss")  # averaged over each validation interval
# measured, not chosen: a column of numbers in the report, never a reason to split a row
MEASURED = ("matmul_gflops",)


@dataclass
class Run:
    dir: Path
    overrides: dict[str, str]  # key -> value as typed on the command line
    metrics: dict[str, Any] | None  # metrics.json; None until the run has finished
    curves: pd.DataFrame  # one row per validation, by step: train/loss, val/loss, val/bleu, ...

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    @property
    def settings(self) -> dict[str, str]:
        """The overrides, then what the run was measured with (``env.transformers``,
        ``env.commit``, ``env.threads``, ...), so runs compare by both."""
        environment = (self.metrics or {}).get("environment") or {}
        facts = {
            f"{ENV}{key}": str(value) for key, value in environment.items() if key not in MEASURED
        }
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


def validation_curves(csv_path: Path) -> pd.DataFrame:
    """One row per validation, indexed by training step: the validation's numbers (one per
    step: a repeated validation at the same step, such as the one before testing, counts
    once, as the last one logged), its epoch (from 0), the mean logged train/loss and
    train/nll_loss since the previous validation, and `val/train_time_sec` (training
    seconds so far, validations excluded) where logged, from the first validation at the
    step (the later ones ran after training had stopped).

    The CSV may be mid-write (a running sweep) or missing (logger=none): then the curves
    hold what could be read, possibly nothing.
    """
    try:
        log = pd.read_csv(csv_path)
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()
    if "step" not in log or "val/loss" not in log:
        return pd.DataFrame()
    val_columns = [c for c in log.columns if c.startswith("val/")]
    validations = log.dropna(subset=["val/loss"])
    if validations.empty:
        return pd.DataFrame()
    steps = sorted(validations["step"].unique())
    columns = val_columns + (["epoch"] if "epoch" in log else [])
    by_step = validations.groupby("step")
    parts = [by_step[columns].last()]  # the weights validated last are the ones tested
    if TRAIN_CLOCK in log:  # repeats at one step come after training stopped: its clock did
        parts[0][TRAIN_CLOCK] = by_step[TRAIN_CLOCK].first()
    for column in reversed([c for c in TRAIN_MEANS if c in log]):
        train = log.dropna(subset=[column])
        after = [steps[i] if i < len(steps) else None for i in steps_index(steps, train["step"])]
        intervals = train.assign(step=after).dropna(subset=["step"]).groupby("step")
        parts.insert(0, intervals[column].mean())
    curves = pd.concat(parts, axis=1).sort_index()
    curves.index = curves.index.astype(int)
    curves.index.name = "step"
    return curves


def steps_index(validation_steps: list[int], steps: pd.Series) -> list[int]:
    """For each training step, the position of the first validation at or after it."""
    return [bisect.bisect_left(validation_steps, step) for step in steps]


def load_run(run_dir: Path) -> Run:
    run = RunDir(run_dir)
    overrides = yaml.safe_load(run.overrides.read_text()) or []
    return Run(
        run_dir, parse_overrides(overrides), run.read_metrics(), validation_curves(run.curves)
    )


def find_runs(sweep_dir: Path) -> list[Run]:
    """Every run under `sweep_dir` (a sweep, or a single run dir), sorted by directory."""
    marker = RunDir(Path()).overrides  # .hydra/overrides.yaml, relative to a run dir
    run_dirs = sorted(p.parents[len(marker.parts) - 1] for p in sweep_dir.rglob(str(marker)))
    return [load_run(d) for d in run_dirs]
