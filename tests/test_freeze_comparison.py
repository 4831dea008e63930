"""`experiment=freeze_comparison` runs unchanged on a checkpoint this framework wrote.

Where no published weights exist offline (T5, mT5, BART), the study's "pretrained" is one
of our own runs: here a t5_tiny pretrained (for two steps) with T5 span corruption.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seq2seq_bench.train import train

from .backbone_helpers import compose


@pytest.fixture(scope="module")
def our_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("pretrain")
    metrics = train(
        compose(tmp, "t5_tiny", "objective=span_corruption", "objective.input_length=32")
    )
    return Path(metrics["output_dir"]), metrics


@pytest.mark.parametrize(
    ("setting", "init", "strategy"),
    [
        ("upstream", "pretrained", "all"),
        ("scratch_full", "scratch", "none"),
        ("pretrained_decoder", "pretrained", "encoder"),
        ("pretrained_full", "pretrained", "none"),
    ],
)
def test_each_setting_runs_on_our_own_checkpoint(
    tmp_path: Path, our_checkpoint: tuple[Path, dict], setting: str, init: str, strategy: str
) -> None:
    run_dir, pretrained = our_checkpoint
    cfg = compose(
        tmp_path,
        "t5_tiny",
        "experiment=freeze_comparison",
        f"setting={setting}",
        f"model.pretrained={run_dir}",
    )
    assert (cfg.model.init, cfg.freeze.name) == (init, strategy)
    assert cfg.objective.prefix == "translate English to French: "
    metrics = train(cfg)
    assert metrics["trainable"]["strategy"] == strategy
    test, before = metrics["test"]["test"], pretrained["test"]["test"]
    assert "bleu" in test and "bleu" not in before  # pretrained by denoising, tested translating
    if setting == "upstream":  # our checkpoint, tested as it is
        assert metrics["steps"] == 0
        exported = load_file(Path(metrics["output_dir"]) / "model" / "model.safetensors")
        original = load_file(run_dir / "model" / "model.safetensors")
        assert all(torch.equal(exported[k], original[k]) for k in original)
    else:
        assert metrics["steps"] == 2
    if setting == "pretrained_decoder":
        frozen = metrics["trainable"]["frozen"]
        assert any(k.startswith("encoder.block.") for k in frozen)
        assert not any(k.startswith("decoder.block.") for k in frozen)
