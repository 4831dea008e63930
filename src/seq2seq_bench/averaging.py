"""Checkpoint averaging: test and export the mean of the last N weight snapshots.

The weights at the end of training sit wherever the last noisy updates left them, the more
so when a time budget stops a run while the learning rate is still high. Averaging the last
few checkpoints (Vaswani et al. 2017; fairseq's `average_checkpoints.py`, OpenNMT's
`-average_models`) lands nearer the middle of that walk and usually tests better for free.

`WeightSnapshots` keeps the trainable weights every `every_n_steps` steps and at the end in
`checkpoints/snapshots/` (weights only: a fraction of a resumable checkpoint), the newest
`last` of them; snapshots newer than the step a run resumes from belong to a trajectory that
was thrown away and are deleted. Frozen weights never change, so they are not stored.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import lightning as L
import torch
from torch import nn

from seq2seq_bench.atomic import atomic_write
from seq2seq_bench.checks import ConfigError

log = logging.getLogger(__name__)

SNAPSHOT = re.compile(r"step-(\d+)\.pt")


def snapshots(directory: Path) -> dict[int, Path]:
    """The snapshot files in ``directory`` by their step, oldest first."""
    found = {}
    for path in directory.glob("step-*.pt"):
        if match := SNAPSHOT.fullmatch(path.name):
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def trainable_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().to("cpu", copy=True)
        for name, p in model.named_parameters()
        if p.requires_grad
    }


class WeightSnapshots(L.Callback):
    def __init__(self, directory: Path, last: int, every_n_steps: int) -> None:
        if last < 2 or every_n_steps < 1:
            raise ConfigError(
                f"checkpoint_average.last={last}, every_n_steps={every_n_steps}: average at "
                "least 2 snapshots taken at least 1 step apart, or set last=0 (off)"
            )
        self.directory, self.last, self.every_n_steps = Path(directory), last, every_n_steps

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for step, path in snapshots(self.directory).items():
            if step > trainer.global_step:  # from before a resume to an earlier checkpoint
                log.info("removing snapshot %s: the run resumed at step %d", path.name, step)
                path.unlink()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *_) -> None:
        if trainer.global_step > 0 and trainer.global_step % self.every_n_steps == 0:
            self.save(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer, pl_module)

    def save(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # every rank holds the same weights after a step: the first one writes them
        if not trainer.is_global_zero or trainer.global_step == 0:
            return
        weights = trainable_weights(pl_module.model)
        path = self.directory / f"step-{trainer.global_step:07d}.pt"
        atomic_write(path, lambda file: torch.save(weights, file))
        for old in list(snapshots(self.directory).values())[: -self.last]:
            old.unlink()


def average_snapshots(paths: list[Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the snapshots' weights, accumulated in float64."""
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        weights = torch.load(path, map_location="cpu", weights_only=True)
        if total and weights.keys() != total.keys():
            raise ValueError(f"{path} holds other weights than {paths[0]}: cannot average them")
        for name, tensor in weights.items():
            total[name] = total.get(name, 0) + tensor.double()
    return {name: (tensor / len(paths)).float() for name, tensor in total.items()}


def load_average(model: nn.Module, directory: Path, last: int) -> list[int]:
    """Put the mean of the newest ``last`` snapshots into ``model``; returns their steps."""
    found = snapshots(directory)
    steps = list(found)[-last:]
    if len(steps) < 2:
        log.warning(
            "checkpoint_average: %d snapshot(s) in %s, fewer than 2: testing the final weights",
            len(steps),
            directory,
        )
        return steps
    put_weights(model, average_snapshots([found[s] for s in steps]), str(directory))
    return steps


def put_weights(model: nn.Module, weights: dict[str, torch.Tensor], source: str = "") -> None:
    """Copy ``weights`` (every trainable weight of ``model``, by name) into the model."""
    params = dict(model.named_parameters())
    if weights.keys() != {name for name, p in params.items() if p.requires_grad}:
        raise ValueError(f"{source or 'these weights'}: not this model's trainable weights")
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)
