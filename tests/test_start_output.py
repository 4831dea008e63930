"""What a run prints as it starts: the layer table with what was counted and no FLOPs
nobody measured, and no false alarms: about the train set's length, about frozen parts
kept in eval mode, about a monitored metric when training stops before validating."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from seq2seq_bench.train import train

from .conftest import TINY, compose_config, train_command, train_env

ARGS = [*TINY, "trainer.max_steps=1", "run_test=false", "data.num_workers=2"]


def test_a_run_starts_with_a_parameter_table_and_no_false_numbers_or_alarms(
    tmp_path: Path,
) -> None:
    """As a user sees it: `python train.py` in its own process, with pytest's warning
    filters out of the way."""
    done = subprocess.run(
        train_command(
            *ARGS,
            "trainer.enable_model_summary=true",
            "freeze=encoder",
            f"hydra.run.dir={tmp_path}/run",
        ),
        env=train_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout + done.stderr
    assert "Total params" in out and "Modules in train mode" in out
    assert "model" in out and "TransformerForSeq2Seq" in out  # the layer table itself
    assert "FLOPs" not in out and "Flops" not in out  # Lightning's said 0 for every run
    # Lightning suspects any IterableDataset with a length; ours is exact with workers
    # (tests/test_ddp.py), so datamodule.py filters the warning
    assert "IterableDataset" not in out
    # the frozen encoder is kept in eval mode on purpose (freezing.py logs it);
    # FrozenInEval silences Lightning's warning for exactly those modules
    assert "kept in eval mode (no dropout): encoder" in out
    assert "in eval mode at the start of training" not in out
    # one step, no validation: Lightning hints that val/bleu is never logged; ours says why
    assert "could not find the monitored key" not in out
    assert "training stopped before its first validation: testing the final weights" in out
    assert "litlogger" not in out  # Lightning's advert for its cloud logger
    assert "LeafSpec" not in out  # a deprecation inside Lightning's own code
    assert "GPU available" in out  # Lightning's other start-up lines stay


def test_the_summary_can_be_turned_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = compose_config(tmp_path, [*ARGS, "trainer.enable_model_summary=false"])
    capsys.readouterr()
    train(cfg)
    assert "Total params" not in capsys.readouterr().out
