"""Each small bad input gets one clear line naming the fix, never a deep traceback; config
values are checked before any data is read."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from seq2seq_bench.build import settings
from seq2seq_bench.checks import ConfigError
from seq2seq_bench.decoding import DecodingError
from seq2seq_bench.models.pretrained import PretrainedLoadError
from seq2seq_bench.models.t5 import T5Backbone

from .backbone_helpers import build
from .conftest import TINY, compose_config, train_command, train_env


def train_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        train_command(*TINY, *args, f"hydra.run.dir={cwd / 'run'}"),
        cwd=cwd,
        env=train_env(cwd),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_bad_learning_rate_fails_before_the_data_is_read(tmp_path: Path) -> None:
    missing = tmp_path / "no-such.tsv"
    done = train_cli(["optimizer.lr=abc", "data=tatoeba", f"data.corpus.path={missing}"], tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "train.py: error: optimizer.lr='abc': use a number > 0, e.g. 1e-3"
    )
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("optimizer.lr=0", "optimizer.lr=0"),
        ("optimizer.betas=[0.9]", "optimizer.betas"),
        ("scheduler.warmup_steps=1.5", "scheduler.warmup_steps=1.5"),
        ("scheduler.name=cosin", "scheduler.name='cosin'"),
        ("module.label_smoothing=1.0", "module.label_smoothing=1.0"),
        ("val_decoding.num_beams=0", "num_beams=0"),
        ("test_decoding.top_p=0.9", "top_p: sampling-only"),
    ],
)
def test_settings_errors_name_a_real_key(tmp_path: Path, override: str, named: str) -> None:
    """Each message names a key of the composed config (the override itself works)."""
    cfg = compose_config(tmp_path, [override])
    with pytest.raises((ConfigError, DecodingError), match=re.escape(named)):
        settings(cfg)


def test_an_empty_corpus_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    done = train_cli(
        ["data=tatoeba", f"data.corpus.path={empty}", "data.extra_test_sets=null"], tmp_path
    )
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: error: no training text to build the tokenizer from")
    assert "Traceback" not in done.stderr


def test_a_validation_interval_longer_than_an_epoch_is_one_line(tmp_path: Path) -> None:
    done = train_cli(["trainer.val_check_interval=100000"], tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: error: trainer.val_check_interval=100000 is more than the")
    assert "trainer.check_val_every_n_epoch=null" in last and "Traceback" not in done.stderr


def test_a_truncated_safetensors_file_is_a_load_error(tmp_path: Path) -> None:
    model, tokenizers, _ = build("t5_tiny")
    model.save_pretrained(tmp_path / "t5")
    weights = tmp_path / "t5" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(PretrainedLoadError, match="cannot load the weights of model.pretrained"):
        T5Backbone(init="pretrained", pretrained=str(tmp_path / "t5")).load(tokenizers)
