"""Experiment trackers beside Lightning's loggers: the whole config in every logger, and
exactly one W&B run per training run, always closed.

Lightning leaves the W&B run open after `fit` and `test`. In a Hydra multirun every job
runs in the same process, and the next job's WandbLogger would quietly reuse the open
run, so one W&B run would hold every job of the sweep. `closes_wandb_run` finishes it
when `train()` returns or raises: each Hydra job is one W&B run, marked failed if it failed.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lightning.pytorch.loggers import Logger
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
