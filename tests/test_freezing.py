"""Freezing strategies: frozen tensors never move, trainable ones do, the optimizer holds
only what trains, frozen parts stay in eval mode, and tied tensors are reported."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader
from transformers import PreTrainedModel

from seq2seq_bench.data.batching import collate
from seq2seq_bench.freezing import FreezeReport, freeze, lora, part_modules
from seq2seq_bench.frozen_in_eval import FrozenInEval
from seq2seq_bench.train import train

from .backbone_helpers import backbone_of, build, compose
from .conftest import EN_FR, plain_module

CASES = [
    ("t5_tiny", "encoder"),
    ("t5_tiny", "decoder"),
    ("t5_tiny", "embeddings"),
    ("mt5_tiny", "decoder"),
    ("bart_tiny", "encoder"),
    ("bart_tiny", "embeddings"),
    ("bert_encoder", "encoder"),
    ("bert_encoder", "embeddings"),
    ("transformer_tiny", "decoder"),
    ("t5_tiny", "lora"),
    ("bert_encoder", "lora"),
]


def apply(
    model: PreTrainedModel, strategy: str, backbone: str
) -> tuple[PreTrainedModel, FreezeReport]:
    if strategy == "lora":
        return lora(model, r=4, alpha=8, dropout=0.0, backbone=backbone_of(backbone))
    return freeze(model, [strategy], name=strategy)


class ModeProbe(L.Callback):
    """Records, at every training step, whether frozen and trainable parts are in train mode."""

    def __init__(self, frozen: list[torch.nn.Module], trainable: list[torch.nn.Module]) -> None:
        self.frozen, self.trainable, self.seen = frozen, trainable, []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, i: int) -> None:
        modes = [m.training for m in self.frozen], [m.training for m in self.trainable]
        self.seen.append(modes)


def fit_steps(
    model: PreTrainedModel,
    tokenizers: Any,
    objective: Any,
    report: FreezeReport,
    probe: L.Callback | None = None,
    steps: int = 3,
) -> L.Trainer:
    batch = collate(objective.encode(EN_FR, tokenizers), tokenizers.source.pad_token_id)
    batch["pairs"] = torch.tensor(len(EN_FR))  # what a training batch counts (train_set.py)
    module = plain_module(model, tokenizers, objective, lr=1e-2)
    callbacks = [FrozenInEval(model, report.eval_modules)] + ([probe] if probe else [])
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=steps,
        val_check_interval=1,  # a validation between steps: modes must survive it
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    train_batches = DataLoader([batch] * steps, batch_size=None)  # already batched
    trainer.fit(module, train_batches, val_dataloaders=DataLoader([batch], batch_size=None))
    return trainer


@pytest.mark.parametrize(("backbone", "strategy"), CASES)
def test_frozen_tensors_stay_bit_identical_and_trainable_ones_move(
    backbone: str, strategy: str
) -> None:
    model, tokenizers, objective = build(backbone)
    model, report = apply(model, strategy, backbone)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert 0 < len(trainable) < len(before)

    trainer = fit_steps(model, tokenizers, objective, report)

    held = {id(p) for group in trainer.optimizers[0].param_groups for p in group["params"]}
    assert held == {id(p) for p in model.parameters() if p.requires_grad}
    for name, param in model.named_parameters():
        moved = not torch.equal(param.detach(), before[name])
        assert moved == (name in trainable), f"{name}: trainable={name in trainable}, moved={moved}"


@pytest.mark.parametrize(
    ("backbone", "part"), [("t5_tiny", "encoder"), ("bert_encoder", "decoder")]
)
def test_frozen_parts_run_in_eval_mode_through_training_and_validation(
    backbone: str, part: str
) -> None:
    model, tokenizers, objective = build(backbone)
    model, report = freeze(model, [part])
    frozen = part_modules(model, part)
    other = part_modules(model, "decoder" if part == "encoder" else "encoder")[:1]
    dropouts = [m for f in frozen for m in f.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts, "the tiny models have dropout, so eval mode matters"
    probe = ModeProbe(frozen + dropouts, other)
    fit_steps(model, tokenizers, objective, report, probe)
    assert len(probe.seen) == 3
    for frozen_modes, trainable_modes in probe.seen:
        assert not any(frozen_modes) and all(trainable_modes)


def test_frozen_in_eval_undoes_a_stray_train_call() -> None:
    model, _, _ = build("t5_tiny")
    model, report = freeze(model, ["encoder"])
    model.train()  # what user code or an older Lightning might do
    FrozenInEval(model, report.eval_modules).on_train_batch_start(None, None, None, 0)  # type: ignore[arg-type]
    assert not model.encoder.training and model.decoder.training


def test_t5_shared_embedding_is_reported_and_follows_the_tied_policy() -> None:
    model, _, _ = build("t5_tiny")
    assert model.shared.weight is model.lm_head.weight is model.encoder.embed_tokens.weight
    model, report = freeze(model, ["encoder"], tied="freeze")
    (tie,) = report.tied
    assert tie["tensor"] == "shared.weight" and not tie["trainable"]
    assert {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"} <= set(
        tie["aliases"]
    )
    assert "decoder.block.*.layer.*.SelfAttention.q.weight" in report.trainable
    assert "encoder.block.*.layer.*.SelfAttention.q.weight" in report.frozen
    assert report.eval_modules == ["encoder"]

    model, _, _ = build("t5_tiny")
    model, report = freeze(model, ["encoder"], tied="train")
    assert model.shared.weight.requires_grad and report.tied[0]["trainable"]
    assert not model.encoder.block[0].layer[0].SelfAttention.q.weight.requires_grad
    assert "shared.weight" in report.trainable


def test_bart_decoder_freeze_covers_the_lm_head() -> None:
    model, _, _ = build("bart_tiny")
    model, report = freeze(model, ["decoder"])
    assert not model.lm_head.weight.requires_grad  # tied to `shared`, frozen with the decoder
    assert model.model.encoder.layers[0].fc1.weight.requires_grad
    assert report.trainable_params + report.frozen_params == sum(
        p.numel() for p in model.parameters()
    )


def test_lora_trains_only_small_adapters() -> None:
    model, _, _ = build("t5_tiny")
    total = sum(p.numel() for p in model.parameters())
    wrapped, report = lora(model, r=2, alpha=4, backbone=backbone_of("t5_tiny"))
    assert report.trainable_params < 0.1 * total
    assert report.trainable and all("lora_" in name for name in report.trainable)
    assert report.frozen_params == total  # the whole backbone, untouched


def test_unknown_part_and_policy_are_refused() -> None:
    model, _, _ = build("t5_tiny")
    with pytest.raises(ValueError, match="freeze part 'head'"):
        freeze(model, ["head"])
    with pytest.raises(ValueError, match="freeze.tied='maybe'"):
        freeze(model, ["encoder"], tied="maybe")


def test_freeze_all_tests_the_upstream_model_without_training(tmp_path: Path) -> None:
    metrics = train(compose(tmp_path, "t5_tiny", "freeze=all", "freeze.tied=train"))
    assert metrics["steps"] == 0 and metrics["fit_time_sec"] < 1
    assert metrics["trainable"]["trainable_params"] == 0
    assert metrics["trainable"]["eval_modules"] == ["<model>"]
    assert "bleu" in metrics["test"]["test"] and not (tmp_path / "run" / "checkpoints").exists()


def eval_mode_warnings(model: PreTrainedModel, report: FreezeReport) -> list[str]:
    _, tokenizers, objective = build("t5_tiny")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_steps(model, tokenizers, objective, report, steps=1)
    return [str(w.message) for w in caught if "in eval mode at the start" in str(w.message)]


def test_lightnings_eval_mode_warning_is_silenced_only_for_our_frozen_parts() -> None:
    model, _, _ = build("t5_tiny")
    model, report = freeze(model, ["encoder"])
    assert eval_mode_warnings(model, report) == []  # ours: logged by freezing.py instead

    model, _, _ = build("t5_tiny")
    model, report = freeze(model, ["encoder"])
    model.decoder.final_layer_norm.eval()  # not ours: Lightning's warning must still show
    in_eval = sum(not m.training for m in model.modules())
    (message,) = eval_mode_warnings(model, report)
    assert message.startswith(f"Found {in_eval} module(s)")
