"""The layer table printed as a run starts shows what was counted, and no FLOPs nobody measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from seq2seq_bench.train import train

from .conftest import TINY, compose_config


def start_output(tmp_path: Path, capsys: pytest.CaptureFixture[str], summary: bool) -> str:
    overrides = [*TINY, "trainer.max_steps=1", "run_test=false"]
    cfg = compose_config(tmp_path, [*overrides, f"trainer.enable_model_summary={summary}"])
    capsys.readouterr()
    train(cfg)
    return capsys.readouterr().out


def test_the_summary_counts_parameters_and_prints_no_flops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = start_output(tmp_path, capsys, summary=True)
    assert "Total params" in out and "Modules in train mode" in out
    assert "model" in out and "TransformerForSeq2Seq" in out  # the layer table itself
    assert "FLOPs" not in out and "Flops" not in out  # Lightning's said 0 for every run


def test_the_summary_can_be_turned_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "Total params" not in start_output(tmp_path, capsys, summary=False)
