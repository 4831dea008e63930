"""Frozen parts stay in eval mode during training (no dropout noise on a part that does
not learn); `freezing.py` switches them to eval, this callback keeps them there."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import lightning as L
from torch import nn


class FrozenInEval(L.Callback):
    """Keeps frozen parts in eval mode whatever calls `.train()` on the model.

    Lightning 2.x restores each submodule's mode after validation, so this mostly guards
    against user code; it costs one attribute read per frozen part and step.
    """

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        self.modules = [model if n == "<model>" else model.get_submodule(n) for n in names]

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Silence Lightning's "Found N module(s) in eval mode at the start of training" when
        those N are exactly our frozen parts: freezing.py has logged which parts and why, and
        every `freeze=encoder` run would otherwise start with a warning that reads like a bug.
        Any other module in eval mode changes N, so that warning still shows."""
        ours = {id(m) for part in self.modules for m in part.modules()}
        in_eval = [m for m in pl_module.modules() if not m.training]
        if in_eval and all(id(m) in ours for m in in_eval):
            found = re.escape(f"Found {len(in_eval)} module(s) in eval mode")
            warnings.filterwarnings("ignore", message=found)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        for module in self.modules:
            if module.training:
                module.eval()
