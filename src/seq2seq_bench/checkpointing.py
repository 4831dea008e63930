"""Checkpoints a run can always come back from: atomic files and a last.ckpt that is the newest.

Lightning wrote a checkpoint straight into its final path, so a kill during the write (or a
full disk) left a truncated `last.ckpt` that neither resume nor `s2s-translate` could load.
`AtomicCheckpointIO` writes to a temporary file in the same directory, flushes it to disk
and renames it over the old one: a reader sees the old file or the new one, never half.

`ModelCheckpoint(save_last=True)` beside a monitored checkpoint rewrote `last.ckpt` only
when the monitored score improved. `LastCheckpoint` owns `last.ckpt` instead: every
`every_n_train_steps` steps and every `every_n_minutes` minutes, after each validation,
and when SIGTERM arrives (Lightning stops after the current batch and raises; SLURM sends
SIGTERM before a kill). It never saves on a non-finite loss: the last good one is kept.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from seq2seq_bench.atomic import atomic_write

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        atomic_write(Path(path), lambda file: torch.save(checkpoint, file))


class TrainingInterrupted(RuntimeError):
    """SIGTERM stopped training: last.ckpt was saved, and the run must not look finished."""


class LastCheckpoint(L.Callback):
    def __init__(
        self,
        path: Path,
        every_n_train_steps: int | None = None,
        every_n_minutes: float | None = None,
    ) -> None:
        limits = {"every_n_train_steps": every_n_train_steps, "every_n_minutes": every_n_minutes}
        for name, value in limits.items():
            if value is not None and value <= 0:
                raise ValueError(f"checkpoint.{name}={value}: use a positive number or null")
        self.path = Path(path)  # the run's last.ckpt (RunDir.last)
        self.every_n_train_steps = every_n_train_steps
        self.every_n_minutes = every_n_minutes
        self._saved_at = time.monotonic()
        self._saved_step = -1

    def save(self, trainer: L.Trainer) -> None:
        if trainer.global_step == self._saved_step:
            return
        # the whole state (optimizer, loops, callbacks): resume needs it; said, so that
        # Lightning does not log its default at every save
        trainer.save_checkpoint(self.path, weights_only=False)
        self._saved_at, self._saved_step = time.monotonic(), trainer.global_step

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._saved_at = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        step = trainer.global_step
        due_steps = self.every_n_train_steps and step % self.every_n_train_steps == 0
        minutes = (time.monotonic() - self._saved_at) / 60
        due_time = bool(self.every_n_minutes) and minutes >= self.every_n_minutes
        if self.every_n_minutes and trainer.world_size > 1:
            # clocks differ between ranks, and every rank must take part in a save: agree on
            # it every step (a collective that only some ranks entered would hang them)
            due_time = trainer.strategy.reduce_boolean_decision(due_time, all=False)
        if step > 0 and (due_steps or due_time):
            self.save(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            self.save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, SIGTERMException):
            log.warning("SIGTERM: saving %s at step %d", self.path, trainer.global_step)
            self.save(trainer)
