"""Precision: fp16 is refused for T5/mT5 before training; bf16 autocast works for every backbone."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch

from seq2seq_bench.data.batching import collate
from seq2seq_bench.train import train

from .backbone_helpers import BACKBONES, backbone_of, build, compose
from .conftest import EN_FR


@pytest.mark.parametrize("precision", ["16-mixed", "16-true", "16"])
def test_fp16_with_t5_is_refused_before_training(tmp_path: Path, precision: str) -> None:
    cfg = compose(tmp_path, "t5_tiny", f"trainer.precision={precision}")
    with pytest.raises(ValueError, match="bf16-mixed"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_fp16_is_allowed_where_it_is_safe() -> None:
    for backbone in ("bart_tiny", "bert_encoder", "transformer_tiny"):
        backbone_of(backbone).check_precision("16-mixed")
    backbone_of("mt5_tiny").check_precision("bf16-mixed")
    with pytest.raises(ValueError, match="mt5"):
        backbone_of("mt5_tiny").check_precision("16-mixed")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_bf16_autocast_trains_every_backbone(backbone: str) -> None:
    """What trainer.precision=bf16-mixed does (on CPU here; on GPUs the same code path)."""
    model, tokenizers, objective = build(backbone)
    batch = collate(objective.encode(EN_FR, tokenizers), tokenizers.source.pad_token_id)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(batch["input_ids"], batch["attention_mask"], labels=batch["labels"]).logits
    loss = torch.nn.functional.cross_entropy(
        logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=-100
    )
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_bf16_mixed_runs_through_the_trainer(tmp_path: Path) -> None:
    metrics = train(compose(tmp_path, "t5_tiny", "trainer.precision=bf16-mixed"))
    assert metrics["steps"] == 2 and math.isfinite(metrics["test"]["test"]["loss"])


@pytest.mark.parametrize("has_bf16", [True, False])
def test_auto_is_fp32_on_a_cpu_and_says_when_bf16_may_pay(
    has_bf16: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The same command trains in the same precision on every CPU; one with bf16
    instructions gets a line pointing at the bench that measures whether to ask for it."""
    from seq2seq_bench import build as build_module

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(build_module, "cpu_has_bf16_instructions", lambda: has_bf16)
    with caplog.at_level(logging.INFO, logger="seq2seq_bench.build"):
        assert build_module.resolve_precision("auto") == "32-true"
    assert ("make bench ARGS=precision" in caplog.text) is has_bf16
    assert build_module.resolve_precision("bf16-mixed") == "bf16-mixed"  # asked by name
