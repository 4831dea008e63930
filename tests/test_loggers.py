"""The `logger=` choices on a tiny run: W&B offline and TensorBoard record it, W&B runs close."""

from __future__ import annotations

from pathlib import Path

import pytest
import wandb
import yaml

from seq2seq_bench.tracking import closes_wandb_run
from seq2seq_bench.train import train

from .conftest import TINY, compose_config
from .wandb_offline import read_offline_run


def test_every_logger_at_once_records_the_run(tmp_path: Path) -> None:
    overrides = ["logger=many", "trainer.max_steps=12", "trainer.log_every_n_steps=4", "seed=7"]
    cfg = compose_config(tmp_path, [*TINY, *overrides])
    metrics = train(cfg)
    out = Path(cfg.paths.output_dir)
    assert wandb.run is None  # train() closed its W&B run

    [run_dir] = (out / "wandb").glob("offline-run-*")
    run = read_offline_run(run_dir)
    assert run.exit_code == 0 and run.job_type == "train"
    assert run.group == "/".join(out.parts[-3:])  # a single run is a group of its own
    assert run.logged("val/loss")[-1] == pytest.approx(metrics["val"]["val/loss"])
    assert len(run.logged("train/loss")) >= 2
    assert run.config["seed"] == 7 and run.config["model"]["d_model"] == 32  # the whole config

    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)
    hparams = yaml.safe_load((out / "csv" / "hparams.yaml").read_text())
    assert hparams["model"]["d_model"] == 32 and hparams["optimizer"]["lr"] == 3e-3


def test_a_failing_run_still_closes_its_wandb_run(tmp_path: Path) -> None:
    @closes_wandb_run
    def failing_training() -> None:
        wandb.init(mode="offline", dir=tmp_path, project="seq2seq-bench-test")
        wandb.log({"train/loss": 1.0})
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        failing_training()
    assert wandb.run is None
    [run_dir] = (tmp_path / "wandb").glob("offline-run-*")
    assert read_offline_run(run_dir).exit_code == 1
