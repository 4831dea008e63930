"""Learning-rate schedules: linear warmup, then a decay driven by training progress.

Progress is the larger of step/max_steps and elapsed/max_time, so one recipe works for a
step budget and for a wall-clock budget (`++trainer.max_time=00:00:30:00`): with a time
budget the learning rate reaches its floor as the clock runs out, as in nanoT5.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def lr_factor(
    name: str,
    step: int,
    progress: float,
    warmup_steps: int,
    min_ratio: float,
    d_model: int | None = None,
) -> float:
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
    raise ValueError(f"module.scheduler={name!r}: choose constant, linear, cosine or inverse_sqrt")


def make_lambda(
    name: str, warmup_steps: int, min_ratio: float, progress: Callable[[int], float]
) -> Callable[[int], float]:
    lr_factor(name, 0, 0.0, warmup_steps, min_ratio)  # fail on a bad name before training
    return lambda step: lr_factor(name, step, progress(step), warmup_steps, min_ratio)
