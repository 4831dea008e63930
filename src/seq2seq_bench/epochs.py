"""How much of its data a run went through, and its time per epoch, from its metrics.json.

Kept apart from `runs.py` (which reads whole sweeps with pandas) because `train.py` writes
these numbers at the end of every run, and importing pandas cost 0.5 s of its start-up.
"""

from __future__ import annotations

from typing import Any


def epoch_fraction(metrics: dict[str, Any]) -> float | None:
    """Epochs of training data a run went through, every process together (unrounded): a
    fraction for a run that a step or time budget stopped inside an epoch."""
    pairs, per_epoch = metrics.get("pairs_trained"), metrics.get("data", {}).get("train_pairs")
    if pairs is None or not per_epoch:
        return None
    return pairs / per_epoch


def epochs_trained(metrics: dict[str, Any]) -> float | None:
    """epoch_fraction as metrics.json records it. Lightning's epoch counter, which it held
    before, read 2 for a run stopped 1.46 epochs in."""
    epochs = epoch_fraction(metrics)
    return None if epochs is None else round(epochs, 3)


def time_per_epoch(metrics: dict[str, Any]) -> float | None:
    """Fit seconds per epoch of data from a metrics.json: fit time over the epochs trained,
    so right for a run stopped inside an epoch and for any number of processes. Older
    metrics.json files without pairs_trained: seconds per batch x batches per epoch."""
    epochs = epoch_fraction(metrics)
    if epochs and metrics.get("fit_time_sec") is not None:
        return metrics["fit_time_sec"] / epochs
    batches = metrics.get("batches", metrics.get("steps"))
    per_epoch = metrics.get("data", {}).get("batches_per_epoch")
    if not batches or not per_epoch or metrics.get("fit_time_sec") is None:
        return None
    return metrics["fit_time_sec"] / batches * per_epoch
