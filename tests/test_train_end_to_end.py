"""Tiny trainings through the real Hydra config, as `python train.py ...` runs them."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import open_dict

from seq2seq_bench import train as train_module
from seq2seq_bench.module import NonFiniteError
from seq2seq_bench.rundir import RunDirError
from seq2seq_bench.train import train

from .conftest import TINY, assert_environment, compose_config, plain_module


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = compose_config(tmp, [*TINY, "trainer.max_epochs=3", "trainer.log_every_n_steps=5"])
    return Path(cfg.paths.output_dir), train(cfg)


def test_run_writes_every_artefact(finished_run: tuple[Path, dict]) -> None:
    out, _ = finished_run
    for name in (
        "config.yaml",
        "metrics.json",
        "predictions.tsv",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "csv/metrics.csv",
        "model/config.json",
        "model/tokenizer.json",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["test"]["test"]
    for key in ("loss", "token_acc", "ppl", "bleu", "chrf", "exact_match", "bleu_first_ref"):
        assert key in test
    assert metrics["params"]["trainable"] == metrics["params"]["total"] > 0
    assert metrics["fit_time_sec"] > 0 and metrics["epochs"] == 3
    assert metrics["data"]["read"]["skipped"] == {}
    signatures = metrics["signatures"]["test"]  # one set of signatures per test set
    assert "tok:13a" in signatures["bleu"] and "nrefs:1" in signatures["bleu_first_ref"]
    assert_environment(metrics["environment"])
    assert metrics["environment"]["precision"] == "32-true"  # what `auto` is on a CPU
    assert "matmul_gflops" not in metrics["environment"]  # measured for time budgets only
    rows = (out / "predictions.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "source\treference\thypothesis\tother_references"
    assert len(rows) - 1 == metrics["data"]["distinct_sources"]["test"]


def test_a_run_records_the_code_it_started_with_and_the_speed_its_clock_bought(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout committed or edited while a run trains must not relabel it: the commit is
    read when training starts, not when metrics.json is written. A run against the clock
    records how fast the machine was, the figure that says what its minutes were worth."""
    states = iter([{"commit": "a" * 40, "dirty": False}, {"commit": "b" * 40, "dirty": True}])
    monkeypatch.setattr(train_module, "git_state", lambda: next(states))
    budget = ["trainer.max_steps=2", "++trainer.max_time=00:00:05:00", "run_test=false"]
    environment = train(compose_config(tmp_path, [*TINY, *budget]))["environment"]
    assert (environment["commit"], environment["dirty"]) == ("a" * 40, False)
    assert environment["matmul_gflops"] > 0


def test_loss_falls(finished_run: tuple[Path, dict]) -> None:
    out, metrics = finished_run
    log = pd.read_csv(out / "csv" / "metrics.csv")
    train_loss = log["train/loss"].dropna()
    assert train_loss.iloc[-1] < 0.8 * train_loss.iloc[0]
    # the same steps' token NLL, on val/loss's scale: below the label-smoothed objective
    nll = log["train/nll_loss"].dropna()
    assert list(nll.index) == list(train_loss.index) and nll.iloc[-1] < train_loss.iloc[-1]
    val_loss = log["val/loss"].dropna()
    assert len(val_loss) == 3 and val_loss.iloc[-1] < val_loss.iloc[0]
    assert metrics["test"]["test"]["token_acc"] > 10


def test_resume_from_last_checkpoint(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, [*TINY, "trainer.max_epochs=1", "run_test=false"])
    first = train(cfg)
    with open_dict(cfg):
        cfg.trainer.max_epochs = 2
        cfg.ckpt_path = "last"
    resumed = train(cfg)
    assert resumed["epochs"] == 2
    assert resumed["steps"] == 2 * first["steps"]
    # the training clock (validations excluded) carries on from the checkpoint, never restarts
    clock = pd.read_csv(Path(cfg.paths.output_dir) / "csv" / "metrics.csv")["val/train_time_sec"]
    clock = clock.dropna().tolist()
    assert len(clock) >= 2 and clock == sorted(clock) and clock[0] > 0
    assert clock[-1] >= first["val"]["val/train_time_sec"] + 0.5 * clock[0]
    # so does the pair count: one epoch, then two
    log = pd.read_csv(Path(cfg.paths.output_dir) / "csv" / "metrics.csv")
    assert log["val/epochs"].dropna().round(6).tolist() == [1.0, 2.0]


def test_budget_stop_mid_epoch_validates_the_final_weights(tmp_path: Path) -> None:
    """A step/time budget ends training after the last validation: those final steps count."""
    cfg = compose_config(tmp_path, [*TINY, "trainer.max_epochs=2", "trainer.max_steps=25"])
    metrics = train(cfg)
    assert metrics["steps"] == 25
    # the epochs of data it trained, a fraction: never Lightning's counter, rounded up
    assert metrics["epochs"] == round(metrics["pairs_trained"] / metrics["data"]["train_pairs"], 3)
    assert metrics["epochs"] != int(metrics["epochs"])
    log = pd.read_csv(Path(cfg.paths.output_dir) / "csv" / "metrics.csv")
    validations = log.dropna(subset=["val/loss"])
    assert validations["step"].max() >= 24  # the final weights were validated
    # a validation logs the epochs of pairs trained, as metrics.json has them (Lightning's
    # epoch column on the same row reads 1, the index of the epoch after the stop)
    assert round(validations["val/epochs"].iloc[-1], 3) == metrics["epochs"] < 1
    assert metrics["tested_weights"] in (
        "final",
        str(Path(cfg.paths.output_dir) / "checkpoints/best.ckpt"),
    )


def test_a_diverged_run_stops_loudly_and_writes_no_result(tmp_path: Path) -> None:
    """lr=1e10: NaN within the first steps. The run must stop with an error naming the step,
    never report loss 0.0 / perplexity 1.0, and leave no metrics.json or export."""
    cfg = compose_config(tmp_path, [*TINY, "optimizer.lr=1e10", "scheduler.warmup_steps=0"])
    with pytest.raises(
        NonFiniteError, match=r"non-finite (loss|gradient norm) .* at training step \d+"
    ):
        train(cfg)
    out = Path(cfg.paths.output_dir)
    assert not (out / "metrics.json").exists()
    assert not (out / "model").exists()


def test_validations_after_training_do_not_wind_the_training_clock_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The clock of the by-minutes curves: validations excluded while training, stopped when
    fit ends. A budget run validates the final and the averaged weights after that; those
    validations once counted against training time, so its last points went back in time."""
    now = iter([0.0, 10.0, 12.0, 20.0, 30.0, 40.0, 50.0])
    monkeypatch.setattr("seq2seq_bench.module.time.perf_counter", lambda: next(now))
    module = plain_module(torch.nn.Linear(1, 1), tokenizers=None)
    module.on_train_start()  # 0
    module.on_validation_start()  # 10
    module.on_validation_end()  # 12: 2 s of validation while training
    module.on_train_end()  # 20
    module.on_validation_start()  # 30: after fit
    assert module.train_seconds(module._validation_started) == 18.0
    module.on_validation_end()  # 40
    assert module.train_seconds() == 18.0  # at 50


def test_evaluation_keeps_nan_as_nan() -> None:
    """The corpus sums behind loss and perplexity must not drop a NaN (torchmetrics' default)."""
    module = plain_module(torch.nn.Linear(1, 1), tokenizers=None)
    module._sums["nll"].update(torch.tensor(float("nan")))
    module._sums["correct"].update(torch.tensor(0.0))
    module._sums["tokens"].update(torch.tensor(5.0))
    metrics, _, _ = module._epoch_metrics(None)
    assert math.isnan(metrics["loss"])


def test_a_run_dir_holds_one_run(tmp_path: Path) -> None:
    """A second run into a dir that holds one is refused (it would mix the two runs'
    artefacts); resuming it is allowed; ckpt_path=last with nothing to resume is refused."""
    cfg = compose_config(tmp_path, [*TINY, "trainer.max_steps=2", "run_test=false"])
    with open_dict(cfg):
        cfg.skip_finished = False
        cfg.ckpt_path = "last"
    with pytest.raises(RunDirError, match="no checkpoints/last.ckpt to resume"):
        train(cfg)
    with open_dict(cfg):
        cfg.ckpt_path = None
    train(cfg)
    with pytest.raises(RunDirError, match=r"already holds a run \(config.yaml.*ckpt_path=last"):
        train(cfg)
    with open_dict(cfg):
        cfg.ckpt_path = "auto"  # a requeued job: resumes the last.ckpt it finds
    assert train(cfg)["steps"] == 2


def test_runs_started_in_the_same_second_get_their_own_dirs(tmp_path: Path) -> None:
    """The run dir ends in a per-process id, so two processes never share one."""
    script = (
        "from seq2seq_bench.train import CONF_DIR\n"
        "from hydra import compose, initialize_config_dir\n"
        "with initialize_config_dir(config_dir=CONF_DIR, version_base='1.3'):\n"
        "    cfg = compose(config_name='train', return_hydra_config=True)\n"
        "print(cfg.hydra.run.dir)\n"
    )
    dirs = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(dirs) == 2
    assert all(d.startswith("outputs/") for d in dirs)


def test_the_training_command_starts_without_pandas() -> None:
    """pandas (0.5 s of a 7-10 s start) is for reading sweeps (`runs.py`, `report.py`);
    nothing of ours that a training run needs before its first step imports it. What we add
    is checked: transformers 5.5 (`make test-oldest`) imports pandas itself, its generation
    code importing scikit-learn's metrics, which import pandas; the locked one does not."""
    code = (
        "import sys, transformers.generation.utils; before = 'pandas' in sys.modules; "
        "import seq2seq_bench.train; print(before, 'pandas' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = done.stdout.split()
    assert after == before
