"""Learning-rate schedules (`scheduler=` configs): linear warmup, then a decay driven by
training progress.

Progress is the larger of step/max_steps and elapsed/max_time, so one recipe works for a
step budget and for a wall-clock budget (`++trainer.max_time=00:00:30:00`): with a time
budget the learning rate reaches its floor as the clock runs out, as in nanoT5.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from seq2seq_bench.checks import ConfigError

NAMES = ("constant", "linear", "cosine", "inverse_sqrt")


@dataclass(frozen=True)
class Schedule:
    name: str = "cosine"
    warmup_steps: int = 1000
    min_lr_ratio: float = 0.01  # the floor of linear and cosine, as a fraction of the peak

    def __post_init__(self) -> None:
        problems = []
        if self.name not in NAMES:
            problems.append(f"scheduler.name={self.name!r}: choose one of {', '.join(NAMES)}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            problems.append(f"scheduler.warmup_steps={self.warmup_steps!r}: a whole number >= 0")
        if not isinstance(self.min_lr_ratio, int | float) or not 0 <= self.min_lr_ratio <= 1:
            problems.append(f"scheduler.min_lr_ratio={self.min_lr_ratio!r}: a number in [0, 1]")
        if problems:
            raise ConfigError("; ".join(problems))

    def factor(self, step: int, progress: Callable[[int], float]) -> float:
        """Multiplier on the peak learning rate at ``step`` (0-based); ``progress(step)`` is
        the fraction of the budget used, in [0, 1]."""
        return lr_factor(self.name, step, progress(step), self.warmup_steps, self.min_lr_ratio)


def lr_factor(name: str, step: int, progress: float, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier on the peak learning rate at ``step`` (0-based) and ``progress`` in [0, 1]."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    progress = min(max(progress, 0.0), 1.0)
    if name == "constant":
        return warm
    if name == "linear":
        return warm * (min_ratio + (1 - min_ratio) * (1 - progress))
    if name == "cosine":
        return warm * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
    if name == "inverse_sqrt":  # Vaswani et al.: peak at the end of warmup, then 1/sqrt(step)
        return min((step + 1) / max(warmup_steps, 1), math.sqrt(max(warmup_steps, 1) / (step + 1)))
    raise ConfigError(f"scheduler.name={name!r}: choose one of {', '.join(NAMES)}")
