"""Resolve and load a trained model: whatever path a user has, one model, ready to decode.

Accepted paths, in the order they are recognised:

- a run dir (has `config.yaml`): its `model/` export if the run finished, else the newest
  of `checkpoints/best.ckpt` and `checkpoints/last.ckpt` with the run's `tokenizer/`;
  ``weights=model|best|last`` picks one explicitly;
- an exported Hugging Face dir (has `config.json`), such as a run's `model/`;
- a Lightning `.ckpt` file inside a run (`<run>/checkpoints/x.ckpt`).

The model is rebuilt for a `.ckpt` through `build.build_model`, as training built it
(ELECTRA's wrapper and LoRA included). The task prefix (T5's "translate English to
French: ") and the source truncation length come from the run's config when there is one,
else from the export. Every failure is a `CheckpointError` whose
message says what was expected, never a deep traceback from a loader.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedModel

import seq2seq_bench.models  # noqa: F401  (registers our backbones with the Auto classes)
from seq2seq_bench.atomic import readable
from seq2seq_bench.build import build_model
from seq2seq_bench.export import export_prefix
from seq2seq_bench.freezing import exportable
from seq2seq_bench.rundir import SOURCE_TOKENIZER, RunDir, RunDirError
from seq2seq_bench.types import Tokenizers

log = logging.getLogger(__name__)

WEIGHTS = ("auto", "model", "best", "last")
# backbone classes that moved, as older runs' config.yaml name them
RENAMED = {
    "seq2seq_bench.models.build.TransformerBackbone": (
        "seq2seq_bench.models.transformer_backbone.TransformerBackbone"
    ),
}
EXPECTED = (
    "expected a run dir (with config.yaml and model/ or checkpoints/*.ckpt), an exported "
    "model dir (with config.json), or a Lightning .ckpt file inside a run dir"
)


class CheckpointError(ValueError):
    """A checkpoint path that cannot be loaded, with a message that says what was expected."""


@dataclass
class LoadedModel:
    model: PreTrainedModel  # in eval mode, on the CPU
    tokenizers: Tokenizers
    prefix: str  # prepended to every source, as in training
    max_source_tokens: int | None  # sources are truncated to this, as in training
    weights: Path  # the dir or .ckpt file the weights came from
    run_dir: Path | None  # the training run, when there is one
    run_config: DictConfig | None


def load(path: str | Path, weights: str = "auto") -> LoadedModel:
    """Load the model at ``path`` (a run dir, an exported dir or a .ckpt file)."""
    if weights not in WEIGHTS:
        raise CheckpointError(f"weights={weights!r}: choose one of {', '.join(WEIGHTS)}")
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"{path} does not exist: {EXPECTED}")
    if path.is_file():
        if path.suffix != ".ckpt":
            raise CheckpointError(f"{path} is a file but not a .ckpt: {EXPECTED}")
        return _from_lightning(path, _run_dir_of(path))
    if RunDir(path).is_run():
        return _from_run(RunDir(path), weights)
    if (path / "config.json").is_file():
        if weights in ("best", "last"):
            raise CheckpointError(f"weights={weights} needs a run dir, but {path} is an export")
        parent = RunDir(path.parent)
        return _from_export(path, parent if parent.is_run() else None)
    raise CheckpointError(f"{path} has neither config.yaml nor config.json: {EXPECTED}")


def _from_run(run: RunDir, weights: str) -> LoadedModel:
    if weights in ("auto", "model") and run.has_export():
        return _from_export(run.export, run)
    if weights == "model":
        raise CheckpointError(f"{run.export} has no exported model (the run did not finish)")
    candidates = [run.best, run.last] if weights == "auto" else [getattr(run, weights)]
    found = [p for p in candidates if p.is_file()]
    if not found:
        names = "|".join(p.stem for p in candidates)
        raise CheckpointError(
            f"{run.root} has no model/ and no checkpoints/{names}.ckpt: "
            "the run stopped before its first checkpoint"
        )
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    whole = [p for p in found if readable(p)]
    if not whole:
        names = ", ".join(p.name for p in found)
        raise CheckpointError(
            f"no whole checkpoint in {run.checkpoints}: {names} truncated or not a "
            "Lightning checkpoint"
        )
    if whole[0] != found[0]:
        log.warning("%s is not a whole checkpoint: loading %s", found[0], whole[0])
    return _from_lightning(whole[0], run)


def _brief(err: Exception, limit: int = 300) -> str:
    """A loader's message, which can run to many lines, as one line of at most ``limit``."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _run_dir_of(ckpt: Path) -> RunDir:
    inside = RunDir(ckpt.parent.parent)
    run = inside if ckpt.parent == inside.checkpoints else RunDir(ckpt.parent)
    if not run.is_run():
        raise CheckpointError(
            f"{ckpt}: no config.yaml in {run.root}; a .ckpt is loaded together with its run's "
            "config.yaml and tokenizer/, so keep it in <run dir>/checkpoints/"
        )
    return run


def _run_config(run: RunDir | None) -> DictConfig | None:
    if run is None:
        return None
    try:
        cfg = run.load_config()
    except RunDirError as err:
        raise CheckpointError(str(err)) from err
    except Exception as err:  # yaml and omegaconf raise several types
        raise CheckpointError(f"{run.config} is not a readable config: {_brief(err)}") from err
    target = OmegaConf.select(cfg, "model._target_")
    if target in RENAMED:  # a run saved before the class moved: its checkpoint still loads
        cfg.model._target_ = RENAMED[target]
    return cfg


def _tokenizer(path: Path) -> Any:
    try:
        return AutoTokenizer.from_pretrained(str(path))
    except Exception as err:  # transformers raises OSError, ValueError, KeyError, ...
        raise CheckpointError(f"cannot load a tokenizer from {path}: {_brief(err)}") from err


def _tokenizers(target_dir: Path, source_dir: Path) -> Tokenizers:
    """One tokenizer object for both sides unless the run saved a separate source one."""
    target = _tokenizer(target_dir)
    source = _tokenizer(source_dir) if source_dir.is_dir() else target
    return Tokenizers(source, target)


def _from_export(export: Path, run: RunDir | None) -> LoadedModel:
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(str(export))
    except Exception as err:
        raise CheckpointError(f"cannot load a seq2seq model from {export}: {_brief(err)}") from err
    tokenizers = _tokenizers(export, export / SOURCE_TOKENIZER)
    return _finish(model, tokenizers, export, run)


def _from_lightning(ckpt: Path, run: RunDir) -> LoadedModel:
    cfg = _run_config(run)
    assert cfg is not None
    if not run.tokenizer.is_dir():
        raise CheckpointError(f"{run.root} has no tokenizer/: cannot decode {ckpt}")
    tokenizers = _tokenizers(run.tokenizer, run.source_tokenizer)
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    except Exception as err:
        raise CheckpointError(
            f"{ckpt} is not a readable Lightning checkpoint: {_brief(err)}"
        ) from err
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    try:  # the model as training built it, so that the parameter names match
        model = build_model(cfg, tokenizers).model
        model.load_state_dict(weights, strict=True)
    except Exception as err:
        raise CheckpointError(
            f"cannot rebuild the model of {run.config} and load {ckpt} into it "
            f"(a pretrained backbone's model.pretrained must be loadable here): {_brief(err)}"
        ) from err
    return _finish(exportable(model), tokenizers, ckpt, run, cfg)


def _finish(
    model: PreTrainedModel,
    tokenizers: Tokenizers,
    weights: Path,
    run: RunDir | None,
    cfg: DictConfig | None = None,
) -> LoadedModel:
    """The prefix and source limit: from the run's config when there is one, else from
    what the export carries."""
    if cfg is None:
        cfg = _run_config(run)
    objective = cfg.get("objective") if cfg is not None else None
    if objective is not None:
        prefix = str(objective.get("prefix") or "")
        max_source = objective.get("max_source_tokens")
    else:  # an export on its own
        prefix, max_source = export_prefix(model.config) or "", None
        log.info("no run config beside %s: task prefix %r, no source truncation", weights, prefix)
    return LoadedModel(
        model=model.eval(),
        tokenizers=tokenizers,
        prefix=prefix,
        max_source_tokens=int(max_source) if max_source else None,
        weights=weights,
        run_dir=run.root if run is not None else None,
        run_config=cfg,
    )
