"""Real 2-process DDP on CPU (gloo), through `python train.py trainer=ddp` as a user runs it:
an epoch trains every pair exactly once across ranks and dataloader workers, and evaluation
of the same weights gives the same numbers with 2 processes as with 1."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from .conftest import TINY, train_command, train_env

DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]
# TINY's single-device trainer keys would override the preset's
BASE = [o for o in TINY if not o.startswith(("trainer.accelerator=", "trainer.devices="))]


def run_train(args: list[str], run_dir: Path) -> dict:
    done = subprocess.run(
        train_command(*args, f"hydra.run.dir={run_dir}"),
        cwd=run_dir.parent,
        env=train_env(run_dir.parent, OMP_NUM_THREADS="1"),  # two processes on two cores
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One process, 12 steps, no validation before the stop: the final weights are tested."""
    tmp = tmp_path_factory.mktemp("ddp")
    run_dir = tmp / "single"
    args = [*BASE, "trainer.accelerator=cpu", "trainer.devices=1", "trainer.max_steps=12"]
    return run_dir, run_train(args, run_dir)


def test_two_processes_score_the_same_weights_as_one(single: tuple[Path, dict]) -> None:
    run_dir, one = single
    assert one["steps"] == 12 and one["tested_weights"] == "final"
    last = run_dir / "checkpoints" / "last.ckpt"
    two = run_train(
        [*BASE, *DDP, "trainer.max_steps=12", f"ckpt_path={last}"], run_dir.parent / "two"
    )
    assert two["steps"] == 12  # restored, nothing left to train: the same weights
    for name in ("test", *one["test"]):
        a, b = one["test"][name], two["test"][name]
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
        assert b["token_acc"] == pytest.approx(a["token_acc"], rel=1e-6)
        assert (b["bleu"], b["chrf"], b["decoded"]) == (a["bleu"], a["chrf"], a["decoded"])


@pytest.mark.parametrize("workers", [0, 2])
def test_an_epoch_trains_every_pair_exactly_once_across_ranks_and_workers(
    single: tuple[Path, dict], workers: int
) -> None:
    """data.max_tokens is the budget of one optimizer step, so 2 processes take about as
    many steps per epoch as 1 (each on half-size batches), and together every pair once."""
    run_dir, one = single
    two = run_train(
        [*BASE, *DDP, "run_test=false", f"data.num_workers={workers}"],
        run_dir.parent / f"epoch-{workers}",
    )
    assert two["epochs"] == 1
    assert two["pairs_trained"] == one["data"]["train_pairs"]
    # the validation's pair count is every rank's, not the logging rank's half
    log = (run_dir.parent / f"epoch-{workers}" / "csv" / "metrics.csv").read_text().splitlines()
    column = log[0].split(",").index("val/epochs")
    assert [float(r.split(",")[column]) for r in log[1:] if r.split(",")[column]] == [1.0]
    assert abs(two["steps"] - one["data"]["batches_per_epoch"]) <= 0.1 * two["steps"]


def test_time_based_checkpoints_keep_the_ranks_in_step(single: tuple[Path, dict]) -> None:
    """Saving on the clock is a collective decision taken every step; a save only some ranks
    enter would hang DDP. Every step is due here, and the run ends with the newest state."""
    run_dir, _ = single
    args = [*BASE, *DDP, "trainer.max_steps=6", "run_test=false"]
    args += ["checkpoint.every_n_minutes=0.00001", "checkpoint.every_n_train_steps=null"]
    clocked = run_dir.parent / "clocked"
    assert run_train(args, clocked)["steps"] == 6
    last = torch.load(clocked / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 6


def test_train_log_ends_with_the_final_metrics_in_full(single: tuple[Path, dict]) -> None:
    """Off a terminal nothing is cut: the log's last lines are the final scores."""
    run_dir, metrics = single
    tail = (run_dir / "train.log").read_text(encoding="utf-8").splitlines()[-3:]
    test = metrics["test"]["test"]
    assert any(f"final test: loss={test['loss']:.2f}" in line for line in tail)
    assert any(f"chrf_first_ref={test['chrf_first_ref']:.2f}" in line for line in tail)
    assert tail[-1].endswith(f"({metrics['steps']} steps)")
