"""Experiment trackers beside Lightning's loggers: the whole config in every logger, exactly
one W&B run per training run, always closed, and a CSV history that survives a resume.

Lightning leaves the W&B run open after `fit` and `test`. In a Hydra multirun every job
runs in the same process, and the next job's WandbLogger would quietly reuse the open
run, so one W&B run would hold every job of the sweep. `closes_wandb_run` finishes it
when `train()` returns or raises: each Hydra job is one W&B run, marked failed if it failed.
"""

from __future__ import annotations

import csv
import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from omegaconf import DictConfig, OmegaConf

F = TypeVar("F", bound=Callable[..., Any])


def finish_wandb_run(exit_code: int = 0) -> None:
    wandb = sys.modules.get("wandb")  # never imported: no run to close (and no slow import)
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=exit_code)


def closes_wandb_run(fn: F) -> F:
    """Decorate a training function so that the W&B run it opened is finished on return
    (exit code 0) or on any exception, KeyboardInterrupt included (exit code 1)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except BaseException:
            finish_wandb_run(exit_code=1)
            raise
        finish_wandb_run()
        return result

    return wrapper  # type: ignore[return-value]


def log_config(loggers: Sequence[Logger], cfg: DictConfig) -> None:
    """Record the whole resolved config in every logger (W&B config, TensorBoard hparams,
    CSV hparams.yaml), so runs can be filtered and grouped by any setting (model, freeze,
    data, seed), not only by the module's own hyperparameters."""
    params = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(params)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; this one keeps it (its rows
    beyond the resumed step were dropped by `keep_history_until`) and appends."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as file:
                self.metrics_keys = list(csv.DictReader(file).fieldnames or [])


class ResumableCSVLogger(CSVLogger):
    """`csv/metrics.csv` that survives a resume: the history before it, then what follows."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def keep_history_until(metrics_csv: Path, step: int) -> None:
    """Before a resume from ``step``: drop the rows logged after it (the resumed run logs
    those steps again), so every step appears once."""
    if not metrics_csv.is_file():
        return
    with open(metrics_csv, newline="") as file:
        reader = csv.DictReader(file)
        fields, rows = reader.fieldnames or [], list(reader)
    kept = [row for row in rows if row.get("step") in (None, "") or int(row["step"]) < step]
    with open(metrics_csv, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
