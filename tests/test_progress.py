"""The progress bar of a run the clock ends counts epochs without a last one to count to."""

from __future__ import annotations

import lightning as L

from seq2seq_bench.progress import ProgressBar


def description(max_epochs: int, epoch: int) -> str:
    bar = ProgressBar()
    bar._trainer = L.Trainer(max_epochs=max_epochs, logger=False, enable_checkpointing=False)
    return bar._get_train_description(epoch).strip()


def test_a_budget_run_shows_its_epoch_without_a_negative_total() -> None:
    assert description(-1, 3) == "Epoch 3"  # Lightning's own bar: "Epoch 3/-2"
    assert description(10, 3) == "Epoch 3/9"
