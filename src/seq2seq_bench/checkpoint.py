"""Resolve and load a trained model: whatever path a user has, one model, ready to decode.

Accepted paths, in the order they are recognised:

- a run dir (has `config.yaml`): its `model/` export if the run finished, else the newest
  of `checkpoints/best.ckpt` and `checkpoints/last.ckpt` with the run's `tokenizer/`;
  ``weights=model|best|last`` picks one explicitly;
- an exported Hugging Face dir (has `config.json`), such as a run's `model/`;
- a Lightning `.ckpt` file inside a run (`<run>/checkpoints/x.ckpt`).

The task prefix (T5's "translate English to French: ") and the source truncation length
come from the run's config when there is one. Every failure is a `CheckpointError` whose
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
from seq2seq_bench.objectives.base import Tokenizers

log = logging.getLogger(__name__)

WEIGHTS = ("auto", "model", "best", "last")
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
    if (path / "config.yaml").is_file():
        return _from_run(path, weights)
    if (path / "config.json").is_file():
        if weights in ("best", "last"):
            raise CheckpointError(f"weights={weights} needs a run dir, but {path} is an export")
        parent = path.parent if (path.parent / "config.yaml").is_file() else None
        return _from_export(path, parent)
    raise CheckpointError(f"{path} has neither config.yaml nor config.json: {EXPECTED}")


def _from_run(run_dir: Path, weights: str) -> LoadedModel:
    export = run_dir / "model"
    if weights in ("auto", "model") and (export / "config.json").is_file():
        return _from_export(export, run_dir)
    if weights == "model":
        raise CheckpointError(f"{export} has no exported model (the run did not finish)")
    names = ["best", "last"] if weights == "auto" else [weights]
    found = [run_dir / "checkpoints" / f"{n}.ckpt" for n in names]
    found = [p for p in found if p.is_file()]
    if not found:
        raise CheckpointError(
            f"{run_dir} has no model/ and no checkpoints/{'|'.join(names)}.ckpt: "
            "the run stopped before its first checkpoint"
        )
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    whole = [p for p in found if readable(p)]
    if not whole:
        names = ", ".join(p.name for p in found)
        raise CheckpointError(
            f"no whole checkpoint in {run_dir / 'checkpoints'}: {names} truncated or not a "
            "Lightning checkpoint"
        )
    if whole[0] != found[0]:
        log.warning("%s is not a whole checkpoint: loading %s", found[0], whole[0])
    return _from_lightning(whole[0], run_dir)


def _brief(err: Exception, limit: int = 300) -> str:
    """A loader's message, which can run to many lines, as one line of at most ``limit``."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _run_dir_of(ckpt: Path) -> Path:
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(
            f"{ckpt}: no config.yaml in {run_dir}; a .ckpt is loaded together with its run's "
            "config.yaml and tokenizer/, so keep it in <run dir>/checkpoints/"
        )
    return run_dir


def _run_config(run_dir: Path | None) -> DictConfig | None:
    if run_dir is None:
        return None
    try:
        cfg = OmegaConf.load(run_dir / "config.yaml")
    except Exception as err:  # yaml and omegaconf raise several types
        raise CheckpointError(
            f"{run_dir / 'config.yaml'} is not a readable config: {_brief(err)}"
        ) from err
    if not isinstance(cfg, DictConfig):
        raise CheckpointError(f"{run_dir / 'config.yaml'} is not a run config (not a mapping)")
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


def _from_export(export: Path, run_dir: Path | None) -> LoadedModel:
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(str(export))
    except Exception as err:
        raise CheckpointError(f"cannot load a seq2seq model from {export}: {_brief(err)}") from err
    tokenizers = _tokenizers(export, export / "source_tokenizer")
    return _finish(model, tokenizers, export, run_dir)


def _from_lightning(ckpt: Path, run_dir: Path) -> LoadedModel:
    cfg = _run_config(run_dir)
    assert cfg is not None
    if not (run_dir / "tokenizer").is_dir():
        raise CheckpointError(f"{run_dir} has no tokenizer/: cannot decode {ckpt}")
    tokenizers = _tokenizers(run_dir / "tokenizer", run_dir / "source_tokenizer")
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    except Exception as err:
        raise CheckpointError(
            f"{ckpt} is not a readable Lightning checkpoint: {_brief(err)}"
        ) from err
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    try:
        model = _rebuild(cfg, tokenizers)
        model.load_state_dict(weights, strict=True)
    except Exception as err:
        raise CheckpointError(
            f"cannot rebuild the model of {run_dir / 'config.yaml'} and load {ckpt} into it "
            f"(a pretrained backbone's model.pretrained must be loadable here): {_brief(err)}"
        ) from err
    from seq2seq_bench.freezing import exportable

    return _finish(exportable(model), tokenizers, ckpt, run_dir, cfg)


def _rebuild(cfg: DictConfig, tokenizers: Tokenizers) -> PreTrainedModel:
    """The run's model as train.py built it (backbone, then freezing: LoRA wraps it), so
    that the checkpoint's parameter names match; the weights come from the checkpoint."""
    from hydra.utils import instantiate  # only this path needs Hydra's instantiate

    model = instantiate(cfg.model)(tokenizers=tokenizers)
    if cfg.get("freeze") is not None:
        model, _ = instantiate(cfg.freeze)(model)
    return model


def _finish(
    model: PreTrainedModel,
    tokenizers: Tokenizers,
    weights: Path,
    run_dir: Path | None,
    cfg: DictConfig | None = None,
) -> LoadedModel:
    if cfg is None:
        cfg = _run_config(run_dir)
    objective = cfg.get("objective") if cfg is not None else None
    if objective is not None:
        prefix = str(objective.get("prefix") or "")
        max_source = objective.get("max_source_tokens")
    else:  # an export on its own: the Hugging Face convention, as t5-small's config has it
        specific = getattr(model.config, "task_specific_params", None) or {}
        task = specific.get("translation_en_to_fr", {})
        prefix, max_source = str(task.get("prefix", "")), None
        log.info("no run config beside %s: task prefix %r, no source truncation", weights, prefix)
    return LoadedModel(
        model=model.eval(),
        tokenizers=tokenizers,
        prefix=prefix,
        max_source_tokens=int(max_source) if max_source else None,
        weights=weights,
        run_dir=run_dir,
        run_config=cfg,
    )
