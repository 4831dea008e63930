"""Checkpoints a run can come back from: atomic writes, last.ckpt always the newest state,
a truncated file skipped with a warning, and SIGTERM saving before a non-zero exit."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from seq2seq_bench.atomic import atomic_write, readable, save_dir_atomically
from seq2seq_bench.checkpoint import CheckpointError, load
from seq2seq_bench.rundir import RunDir
from seq2seq_bench.train import train

from .conftest import TINY, compose_config, train_command, train_env


def test_a_write_that_dies_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    atomic_write(path, lambda f: torch.save({"step": 1}, f))

    def dies_half_way(file) -> None:
        file.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(path, dies_half_way)
    assert torch.load(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_an_export_that_dies_leaves_the_old_export(tmp_path: Path) -> None:
    export = tmp_path / "model"
    save_dir_atomically(export, lambda d: (d / "config.json").write_text("{}"))

    def dies(directory: Path) -> None:
        (directory / "config.json").write_text('{"half')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_dir_atomically(export, dies)
    assert (export / "config.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_readable_tells_a_whole_checkpoint_from_a_truncated_one(tmp_path: Path) -> None:
    whole = tmp_path / "whole.ckpt"
    torch.save({"w": torch.ones(1000)}, whole)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(whole.read_bytes()[:-200])
    assert readable(whole) and not readable(cut) and not readable(tmp_path / "none.ckpt")


@pytest.fixture(scope="module")
def stepped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """11 steps, last.ckpt every 4 steps, validation (best.ckpt) every 5."""
    tmp = tmp_path_factory.mktemp("last")
    cfg = compose_config(
        tmp,
        [
            *TINY,
            "trainer.max_steps=11",
            "trainer.val_check_interval=5",
            "checkpoint.every_n_train_steps=4",
            "run_test=false",
        ],
    )
    train(cfg)
    return Path(cfg.paths.output_dir)


def test_last_ckpt_is_the_newest_state(stepped_run: Path) -> None:
    last = torch.load(stepped_run / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 11


def test_resume_and_loading_skip_a_truncated_last_ckpt(
    stepped_run: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoints = stepped_run / "checkpoints"
    last = checkpoints / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a kill mid-write
    os.utime(last)  # and the newest file
    with caplog.at_level(logging.WARNING):
        assert RunDir(stepped_run).claim("last") == str(checkpoints / "best.ckpt")
    assert "last.ckpt is not a whole checkpoint" in caplog.text
    shutil.rmtree(stepped_run / "model", ignore_errors=True)  # as if the run had not finished
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load(stepped_run).weights == checkpoints / "best.ckpt"
    assert "last.ckpt is not a whole checkpoint" in caplog.text


def test_sigterm_saves_last_ckpt_and_exits_non_zero(tmp_path: Path) -> None:
    """What SLURM does before killing a job: the run saves where it is and fails loudly."""
    run_dir = tmp_path / "run"
    args = [
        *TINY,
        "trainer.max_epochs=200",
        "checkpoint.every_n_train_steps=5",
        "run_test=false",
        f"hydra.run.dir={run_dir}",
    ]
    process = subprocess.Popen(
        train_command(*args),
        cwd=tmp_path,
        env=train_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert last.exists(), "no checkpoint before the deadline"
    first_step = torch.load(last, weights_only=False)["global_step"]
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode != 0, output[-2000:]
    saved = torch.load(last, weights_only=False)
    assert saved["global_step"] >= first_step
    assert "SIGTERM: saving" in output
    assert not (run_dir / "metrics.json").exists()


def test_a_checkpoint_without_our_resume_state_is_refused(tmp_path: Path) -> None:
    """Resuming from it would restart the pair count and the training clock at zero: the
    run's epochs and time would be wrong, with no sign of it."""
    cfg = compose_config(tmp_path, [*TINY, "trainer.max_steps=2", "run_test=false"])
    with open_dict(cfg):
        cfg.skip_finished = False
    train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=False)
    del state["s2s_pairs_trained"]  # as another tool's Lightning checkpoint would be
    torch.save(state, last)
    with open_dict(cfg):
        cfg.ckpt_path = "last"
        cfg.trainer.max_steps = 4
    with pytest.raises(
        CheckpointError, match="lacks s2s_pairs_trained: written by another tool or an older"
    ):
        train(cfg)
