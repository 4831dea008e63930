"""Exact resume: a training killed with SIGKILL mid-epoch and resumed with ckpt_path=last ends
with bit-identical weights to an uninterrupted run of the same seed (CPU), having seen the
remaining batches of the epoch in the same order; its metrics history survives."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import torch

from .conftest import TINY, train_command, train_env

ARGS = [
    *TINY,
    "trainer.max_steps=30",
    "checkpoint.every_n_train_steps=4",
    "trainer.log_every_n_steps=1",
    "run_test=false",
    "model.dropout=0.3",  # dropout draws from the RNG that a resume must restore
]


def command(run_dir: Path, *extra: str) -> list[str]:
    return train_command(*ARGS, *extra, f"hydra.run.dir={run_dir}")


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]


def test_a_killed_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    env = train_env(tmp_path)
    whole = tmp_path / "whole"
    subprocess.run(command(whole), cwd=tmp_path, env=env, check=True, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        command(killed), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    step = 0
    while step < 12 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        if last.exists():
            step = torch.load(last, weights_only=False)["global_step"]
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 0 < step < 30, f"killed at step {step}: not mid-run"

    resumed = subprocess.run(
        command(killed, "ckpt_path=last"), cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # progress_bar=none (in TINY) leaves a batch job's log free of bars: Lightning's default
    # (rich: "Epoch 0/0 ━━━ 3/8 0:00:01 • ... it/s"), transformers' and tqdm's
    assert "it/s" not in resumed.stdout + resumed.stderr
    a, b = weights(whole), weights(killed)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"weights differ after resume: {different[:5]}"

    history = pd.read_csv(killed / "csv" / "metrics.csv")
    steps = sorted(history.dropna(subset=["train/loss"])["step"].unique())
    assert steps[0] < step <= steps[-1]  # logged before the kill and after the resume
