"""Shared fixtures: small corpora written to tmp dirs, and composed Hydra configs."""

from __future__ import annotations

import functools
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from seq2seq_bench.cli import CONF_DIR

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EN_FR = [
    ("The cat is black.", "Le chat est noir."),
    ("The dog is small.", "Le chien est petit."),
    ("I like apples.", "J'aime les pommes."),
    ("Where is the station?", "Où est la gare ?"),
    ("Good morning.", "Bonjour."),
    ("Thank you.", "Merci."),
]


@pytest.fixture
def onednn_rows_seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The row count of every input oneDNN's linear kernel is given, in call order."""
    kernel, seen = torch.ops.mkldnn._linear_pointwise, []

    def spy(x: torch.Tensor, *args: object) -> torch.Tensor:
        seen.append(x.shape[0])
        return kernel(x, *args)

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", spy)
    return seen


@pytest.fixture
def tsv_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{en}\t{fr}\n" for en, fr in EN_FR), encoding="utf-8")
    return path


def compose_config(tmp_path: Path, overrides: list[str]) -> DictConfig:
    """The real `conf/train.yaml`, composed as `train.py` would, writing into tmp_path."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.paths.cache_dir = str(tmp_path / "cache")
        del cfg.hydra
    return cfg


TINY = [
    "model=transformer_tiny",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.enable_model_summary=false",
    "progress_bar=none",
    "data.vocab_size=400",
    "scheduler.warmup_steps=10",
    "optimizer.lr=3e-3",
    "module.val_decode_limit=20",
    "test_decoding.num_beams=2",
    "test_decoding.max_new_tokens=16",
    "val_decoding.max_new_tokens=16",
]


def assert_environment(environment: dict) -> None:
    """What a number was measured with: versions as installed, the commit, device, threads."""
    for package in ("torch", "transformers", "lightning", "datasets", "tokenizers", "sacrebleu"):
        assert environment[package] == metadata.version(package)
    assert environment["python"] == platform.python_version()
    assert environment["device"] == "cpu" and environment["threads"] >= 1
    if environment["commit"] is not None:  # tests run from a git checkout
        assert len(environment["commit"]) == 40 and isinstance(environment["dirty"], bool)


TRAIN_PY = Path(__file__).resolve().parents[1] / "train.py"


def train_command(*args: str) -> list[str]:
    """`python train.py ARGS` in a fresh process, as a user runs it."""
    return [sys.executable, str(TRAIN_PY), *args]


def train_env(cache_root: Path, **extra: str) -> dict[str, str]:
    """The environment of such a process: its own tokenizer cache, W&B offline and quiet."""
    return os.environ | {
        "S2S_CACHE_DIR": str(cache_root / "cache"),
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "HF_HUB_OFFLINE": "1",
        **extra,
    }


def plain_module(model: Any, tokenizers: Any, objective: Any = None, lr: float = 1e-3) -> Any:
    """A Seq2SeqModule outside a composed run: AdamW at a constant ``lr``, greedy decoding,
    no eval sets (so nothing is decoded)."""
    from seq2seq_bench.decoding import Decoding
    from seq2seq_bench.module import Seq2SeqModule
    from seq2seq_bench.objectives.translation import TranslationObjective
    from seq2seq_bench.schedules import Schedule

    return Seq2SeqModule(
        model,
        tokenizers,
        objective or TranslationObjective(),
        optimizer=functools.partial(torch.optim.AdamW, lr=lr),
        schedule=Schedule("constant", warmup_steps=0),
        val_decoding=Decoding(),
        test_decoding=Decoding(),
        eval_sets={},
        test_set_names=["test"],
    )
