"""The run directory: its layout, who may write into it, and every read and write of it.

`RunDir` is the one place that knows where a run keeps what; training writes through it,
and checkpoint loading, `model.pretrained`, reports, sweeps and the studies read through
it. A run dir holds:

    config.yaml               the resolved config the run was built from
    .hydra/                   Hydra's own record (overrides.yaml, hydra.yaml)
    tokenizer/                the target (and shared) tokenizer, saved before training
    source_tokenizer/         the source tokenizer, when a backbone brings its own
    checkpoints/best.ckpt     the best validation; checkpoints/last.ckpt: where to resume
    checkpoints/snapshots/    weight snapshots for checkpoint averaging (averaging.py)
    csv/metrics.csv           the CSV logger's curves
    metrics.json              the final numbers, written last: a run with it is finished
    predictions.tsv           test predictions (predictions_<set>.tsv for extra test sets)
    model/                    the export: weights, config, generation settings, tokenizer
    eval/<name>/              s2s-evaluate's eval.json and predictions
    train.log                 the log

Run and sweep directories end in a per-process id (`s2s.run_id`), so two runs started in
the same second never share one, and a directory that already holds a run's artefacts is
refused unless the run resumes it (`ckpt_path=last`). The resolver is registered on import.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seq2seq_bench.atomic import atomic_write, readable
from seq2seq_bench.types import Tokenizers

log = logging.getLogger(__name__)

LAST = "last"
AUTO = "auto"  # resume if there is a last.ckpt, else start: what a requeued job needs
SOURCE_TOKENIZER = "source_tokenizer"  # in a run dir and in an export alike
PREDICTIONS_HEADER = "source\treference\thypothesis\tother_references\n"


class RunDirError(ValueError):
    """A run directory that cannot be used as asked, with the fix in the message."""


@functools.cache
def run_id() -> str:
    """One id per process (so every interpolation of it agrees), unique across processes
    started in the same second on one machine or many."""
    return f"{os.getpid() % 100_000:05d}{secrets.token_hex(2)}"


OmegaConf.register_new_resolver("s2s.run_id", run_id, replace=True)


def predictions_name(test_set: str, main: str = "test") -> str:
    """`predictions.tsv` for the main set, `predictions_<set>.tsv` for the others."""
    return "predictions.tsv" if test_set == main else f"predictions_{test_set}.tsv"


def write_predictions(path: Path, rows: Sequence[tuple[str, list[str], str]]) -> None:
    """(source, references, hypothesis) rows as the TSV that training and s2s-evaluate write."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(PREDICTIONS_HEADER)
        for source, refs, hyp in rows:
            f.write(f"{source}\t{refs[0]}\t{hyp}\t{' ||| '.join(refs[1:])}\n")


def save_tokenizers(tokenizers: Tokenizers, directory: Path, target_name: str = "") -> None:
    """The target tokenizer in ``directory / target_name``, a separate source one in
    ``directory / source_tokenizer``: the layout of a run dir and of an export."""
    tokenizers.target.save_pretrained(directory / target_name if target_name else directory)
    if tokenizers.source is not tokenizers.target:
        tokenizers.source.save_pretrained(directory / SOURCE_TOKENIZER)


def newest_readable(checkpoints: Path) -> Path:
    """The newest whole checkpoint in ``checkpoints/``, saying so when it is not the newest
    file (a truncated last.ckpt from a kill mid-write before writes were atomic)."""
    files = sorted(checkpoints.glob("*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files:
        if readable(path):
            if path != files[0]:
                log.warning("%s is not a whole checkpoint: resuming from %s", files[0], path)
            return path
    raise RunDirError(f"no whole checkpoint in {checkpoints} ({', '.join(p.name for p in files)})")


@dataclass(frozen=True)
class RunDir:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # -- the layout -----------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def overrides(self) -> Path:
        return self.root / ".hydra" / "overrides.yaml"

    @property
    def hydra_config(self) -> Path:
        return self.root / ".hydra" / "hydra.yaml"

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer"

    @property
    def source_tokenizer(self) -> Path:
        return self.root / SOURCE_TOKENIZER

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.ckpt"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def snapshots(self) -> Path:
        return self.checkpoints / "snapshots"

    @property
    def csv_dir(self) -> str:
        return "csv"  # the CSV logger's name under the run dir (conf/logger/csv.yaml)

    @property
    def curves(self) -> Path:
        return self.root / self.csv_dir / "metrics.csv"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def export(self) -> Path:
        return self.root / "model"

    def predictions(self, test_set: str, main: str = "test") -> Path:
        return self.root / predictions_name(test_set, main)

    def eval_dir(self, name: str) -> Path:
        return self.root / "eval" / name

    def artefacts(self) -> list[str]:
        """What a run wrote here (Hydra's .hydra/ and train.log appear before it starts)."""
        paths = (self.config, self.metrics, self.checkpoints, self.export, self.tokenizer)
        held = [p.name for p in paths if p.exists()]
        return held + ([self.csv_dir] if (self.root / self.csv_dir).exists() else [])

    # -- reads ----------------------------------------------------------------------------
    def is_run(self) -> bool:
        return self.config.is_file()

    def is_finished(self) -> bool:
        return self.metrics.is_file()

    def has_export(self) -> bool:
        return (self.export / "config.json").is_file()

    def load_config(self) -> DictConfig:
        cfg = OmegaConf.load(self.config)
        if not isinstance(cfg, DictConfig):
            raise RunDirError(f"{self.config} is not a run config (not a mapping)")
        return cfg

    def read_metrics(self) -> dict[str, Any] | None:
        """metrics.json, or None while the run has not finished. It is written atomically, so
        an unreadable one was damaged after the run: said, and read as unfinished."""
        try:
            return json.loads(self.metrics.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            log.warning(
                "%s is not readable JSON (%s): taken as an unfinished run", self.metrics, err
            )
            return None

    def data_choice(self) -> str | None:
        """The `data=` the run was started with, from Hydra's record."""
        if not self.hydra_config.is_file():
            return None
        return OmegaConf.load(self.hydra_config).hydra.runtime.choices.get("data")

    # -- writes ---------------------------------------------------------------------------
    def save_config(self, cfg: DictConfig) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, self.config, resolve=True)

    def save_tokenizers(self, tokenizers: Tokenizers) -> None:
        """Beside the checkpoints, so a checkpoint of an interrupted run can still be
        loaded, translated with and evaluated."""
        save_tokenizers(tokenizers, self.root, target_name=self.tokenizer.name)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        text = json.dumps(metrics, indent=2, default=str).encode()
        atomic_write(self.metrics, lambda file: file.write(text))

    # -- who may write ----------------------------------------------------------------------
    def claim(self, ckpt_path: str | None, first_process: bool = True) -> str | None:
        """Check that this run may write here; return the checkpoint to resume from
        (``ckpt_path=last`` becomes the run's own `checkpoints/last.ckpt`; ``auto`` resumes it
        when there is one and starts the run otherwise). Only the first process checks that
        the directory is free: DDP's other ranks start after it wrote."""
        held = self.artefacts()
        if ckpt_path == AUTO:  # a requeued job: resume where it stopped, or start
            if self.last.is_file():
                return str(newest_readable(self.checkpoints))
            ckpt_path = None
            held = [name for name in held if name == self.metrics.name]
        if ckpt_path is None:
            if held and first_process:
                raise RunDirError(
                    f"{self.root} already holds a run ({', '.join(held)}): resume it with "
                    "ckpt_path=last, or give this run its own directory (hydra.run.dir=...)"
                )
            return None
        if ckpt_path == LAST:
            if not self.last.is_file():
                raise RunDirError(
                    f"ckpt_path=last, but {self.root} holds no checkpoints/last.ckpt to resume: "
                    "point hydra.run.dir at the run to resume, or drop ckpt_path to start afresh"
                )
            return str(newest_readable(self.checkpoints))
        if not Path(ckpt_path).is_file():
            raise RunDirError(f"ckpt_path={ckpt_path}: no such checkpoint file")
        return ckpt_path
