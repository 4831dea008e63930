"""The frozen-encoder cache: training on stored states gives what the encoder gives, a second
run of the same setting reuses them, and settings where they would be wrong are refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from seq2seq_bench.build import build
from seq2seq_bench.checks import ConfigError
from seq2seq_bench.encoder_cache import EncoderCache
from seq2seq_bench.train import train

from .backbone_helpers import BACKBONES, model_overrides
from .conftest import TINY, compose_config

CACHED = [*TINY, "freeze=encoder", "cache_encoder=true", "data.max_tokens=256"]


def cached_overrides(backbone: str) -> list[str]:
    return [o for o in CACHED if not o.startswith("model=")] + model_overrides(backbone)


def first_training_batches(run, count: int = 3) -> list[dict[str, torch.Tensor]]:
    loader = run.datamodule.train_dataloader()
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == count:
            return batches
    return batches


@pytest.mark.parametrize("backbone", BACKBONES)
def test_training_on_cached_states_computes_what_the_encoder_computes(
    tmp_path: Path, backbone: str
) -> None:
    run = build(compose_config(tmp_path, cached_overrides(backbone)))
    module = run.module
    assert isinstance(module.encoder_cache, EncoderCache)
    module.model.train()
    for module_part in module.model.get_encoder().modules():  # as FrozenInEval keeps it
        module_part.eval()
    torch.manual_seed(0)
    for batch in first_training_batches(run):
        assert "pair_ids" in batch
        torch.manual_seed(1)  # the same decoder dropout both ways
        cached, _ = module(batch)
        torch.manual_seed(1)
        uncached, _ = module({k: v for k, v in batch.items() if k != "pair_ids"})
        # float16 storage: the states differ in the 4th significant digit at most
        torch.testing.assert_close(cached.logits, uncached.logits, atol=2e-2, rtol=1e-2)
        assert not torch.equal(cached.logits, torch.zeros_like(cached.logits))


def test_a_second_run_reuses_the_cache_and_training_uses_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = compose_config(tmp_path / "a", [*CACHED, "trainer.max_steps=6", "run_test=false"])
    cache_dir = tmp_path / "cache"
    with open_dict(cfg):
        cfg.paths.cache_dir = str(cache_dir)
    with caplog.at_level(logging.INFO):
        metrics = train(cfg)
    assert metrics["steps"] == 6
    assert "encoded" in caplog.text
    stored = list((cache_dir / "encoder_states").iterdir())
    assert len(stored) == 1 and (stored[0] / "states.npy").is_file()

    caplog.clear()
    # another decoder setting, the same encoder weights (a scratch encoder's weights come
    # from the seed: another seed is another encoder, and gets its own cache)
    again = compose_config(tmp_path / "b", [*CACHED, "optimizer.lr=1e-3", "trainer.max_steps=2"])
    with open_dict(again):
        again.paths.cache_dir = str(cache_dir)
    torch.manual_seed(0)  # as train() seeds before it builds: the same scratch encoder
    run = build(again)
    assert run.module.encoder_cache.directory == stored[0]
    assert "encoded" not in caplog.text

    calls = []
    encoder = run.model.model.get_encoder()
    encoder.register_forward_hook(lambda *args: calls.append(1))
    batch = first_training_batches(run, 1)[0]
    run.module.training_step(batch, 0)
    assert calls == [], "a training step ran the frozen encoder"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["freeze=none"], "every encoder weight frozen"),
        (["freeze=encoder", "freeze.tied=train", "model=t5_tiny"], "every encoder weight"),
        (["freeze=encoder", "objective=mlm"], "noises its inputs"),
    ],
)
def test_settings_where_cached_states_would_be_wrong_are_refused(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    cfg = compose_config(tmp_path, [*TINY, "cache_encoder=true", *overrides])
    with pytest.raises(ConfigError, match=message):
        build(cfg)


def test_a_cache_that_does_not_match_the_batch_fails_loudly(tmp_path: Path) -> None:
    run = build(compose_config(tmp_path, CACHED))
    batch = first_training_batches(run, 1)[0]
    cached_lengths = torch.from_numpy(run.module.encoder_cache.offsets).diff()
    length = int(batch["attention_mask"][0].sum())
    other = int(torch.nonzero(cached_lengths != length)[0])  # a pair of another length
    batch["pair_ids"][0] = other
    with pytest.raises(RuntimeError, match="does not match the data"):
        run.module(batch)
