"""Checkpoint averaging: the newest N snapshots are kept, their mean is what the run tests and
exports, and a resume drops snapshots from the abandoned trajectory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from seq2seq_bench import averaging
from seq2seq_bench import train as train_module
from seq2seq_bench.averaging import WeightSnapshots, average_snapshots, snapshots
from seq2seq_bench.checks import ConfigError
from seq2seq_bench.train import train

from .conftest import TINY, compose_config


def test_the_average_is_the_element_wise_mean(tmp_path: Path) -> None:
    for k, value in enumerate([1.0, 2.0, 6.0]):
        torch.save(
            {"w": torch.full((2, 2), value), "b": torch.tensor([k * 1.0])}, tmp_path / f"{k}"
        )
    average = average_snapshots([tmp_path / f"{k}" for k in range(3)])
    assert torch.equal(average["w"], torch.full((2, 2), 3.0))
    assert torch.equal(average["b"], torch.tensor([1.0]))
    torch.save({"other": torch.ones(1)}, tmp_path / "other")
    with pytest.raises(ValueError, match="other weights"):
        average_snapshots([tmp_path / "0", tmp_path / "other"])


@pytest.mark.parametrize(("last", "every"), [(1, 10), (0, 10), (3, 0)])
def test_settings_that_cannot_average_are_refused(last: int, every: int) -> None:
    with pytest.raises(ConfigError, match="checkpoint_average"):
        WeightSnapshots(Path("unused"), last=last, every_n_steps=every)


@pytest.fixture(scope="module")
def averaged_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """11 steps, a snapshot every 3 (3, 6, 9) and at the end (11); the newest 3 averaged.

    Whether an 11-step average validates better than the final weights is a coin toss (val
    BLEU 0.38 against 0.39), so the comparison is made to prefer the newer candidate here:
    this pins what happens once the average is chosen; the test below pins the refusal."""
    tmp = tmp_path_factory.mktemp("average")
    cfg = compose_config(
        tmp,
        [
            *TINY,
            "trainer.max_steps=11",
            "checkpoint_average.last=3",
            "checkpoint_average.every_n_steps=3",
            "test_decoding.num_beams=1",
        ],
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "at_least_as_good", lambda *_: True)
        train(cfg)
    return Path(cfg.paths.output_dir)


def test_the_run_tests_and_exports_the_mean_of_the_newest_snapshots(averaged_run: Path) -> None:
    kept = snapshots(averaged_run / "checkpoints" / "snapshots")
    assert list(kept) == [6, 9, 11]
    average = average_snapshots(list(kept.values()))
    exported = dict(
        AutoModelForSeq2SeqLM.from_pretrained(averaged_run / "model").named_parameters()
    )
    for name, tensor in average.items():
        assert torch.allclose(exported[name], tensor, atol=1e-6), name
    final = torch.load(averaged_run / "checkpoints" / "last.ckpt", weights_only=False)
    final_weights = {k.removeprefix("model."): v for k, v in final["state_dict"].items()}
    assert any(not torch.allclose(final_weights[n], average[n]) for n in average), (
        "the average equals the final weights: the test would not see averaging"
    )

    metrics = json.loads((averaged_run / "metrics.json").read_text())
    record = metrics["checkpoint_average"]
    assert record["steps"] == [6, 9, 11]
    assert "val/loss" in record["val_final"] and "val/loss" in record["val_average"]
    assert record["val_final"]["val/loss"] != record["val_average"]["val/loss"]
    assert record["used"] and metrics["tested_weights"] == "average"
    assert metrics["val"]["val/loss"] == pytest.approx(record["val_average"]["val/loss"])


def test_an_average_that_validates_worse_is_not_tested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = averaging.average_snapshots

    def ruined(paths: list[Path]) -> dict[str, torch.Tensor]:
        noise = torch.Generator().manual_seed(0)  # large random weights: confident nonsense
        return {n: torch.randn(w.shape, generator=noise) * 3 for n, w in real(paths).items()}

    monkeypatch.setattr(averaging, "average_snapshots", ruined)
    cfg = compose_config(
        tmp_path,
        [
            *TINY,
            "objective=mlm",  # monitors val/loss: any broken average validates worse
            "trainer.max_steps=8",
            "checkpoint_average.last=2",
            "checkpoint_average.every_n_steps=2",
            "run_test=false",
        ],
    )
    metrics = train(cfg)
    record = metrics["checkpoint_average"]
    assert record["val_average"]["val/loss"] > record["val_final"]["val/loss"]
    assert not record["used"] and metrics["tested_weights"] == "final"
    assert metrics["val"]["val/loss"] == pytest.approx(record["val_final"]["val/loss"])
    final = torch.load(
        Path(metrics["output_dir"]) / "checkpoints" / "last.ckpt", weights_only=False
    )
    exported = dict(
        AutoModelForSeq2SeqLM.from_pretrained(
            Path(metrics["output_dir"]) / "model"
        ).named_parameters()
    )
    for key, tensor in final["state_dict"].items():
        name = key.removeprefix("model.")
        if name in exported:
            assert torch.equal(exported[name], tensor), name


class FakeTrainer:
    is_global_zero = True

    def __init__(self, step: int) -> None:
        self.global_step = step


def test_a_resume_drops_snapshots_newer_than_its_step(tmp_path: Path) -> None:
    callback = WeightSnapshots(tmp_path, last=5, every_n_steps=2)
    model = torch.nn.Linear(2, 2)
    module = torch.nn.Module()
    module.model = model
    for step in (2, 4, 6, 8):
        callback.save(FakeTrainer(step), module)
    assert list(snapshots(tmp_path)) == [2, 4, 6, 8]
    callback.on_train_start(FakeTrainer(4), module)  # resumed from last.ckpt at step 4
    assert list(snapshots(tmp_path)) == [2, 4]
    callback.last = 2
    for step in (6, 8, 10):
        callback.save(FakeTrainer(step), module)
    assert list(snapshots(tmp_path)) == [8, 10]
