"""Where `model.pretrained` points, and loading from there with one clear error.

`model.pretrained` accepts, recognised in this order:

1. a run dir this framework wrote (it holds `model/config.json`): the run's `model/`
   export, whose tokenizer lies beside the weights (and in `model/source_tokenizer/` when
   the source side has its own);
2. any local dir saved with `save_pretrained` (it holds `config.json`);
3. a Hugging Face hub id such as `google-t5/t5-small` (needs internet or a filled HF cache).

Everything else, and a hub id that cannot be fetched, raises `PretrainedLoadError`, whose
message says what to do instead of a deep traceback from the hub client.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from safetensors import SafetensorError
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedModel

from seq2seq_bench.rundir import SOURCE_TOKENIZER, RunDir
from seq2seq_bench.types import Tokenizers

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
T = TypeVar("T")


class PretrainedLoadError(RuntimeError):
    """`model.pretrained` names nothing loadable; the message says what to do."""


def offline_hint(spec: str) -> str:
    return (
        f"No internet here? On a machine with internet save '{spec}' once:\n"
        '  python -c "from transformers import AutoModelForSeq2SeqLM as M, AutoTokenizer as T; '
        f"M.from_pretrained('{spec}').save_pretrained('DIR'); "
        f"T.from_pretrained('{spec}').save_pretrained('DIR')\"\n"
        "then copy DIR here and set model.pretrained=DIR (a run dir of this framework works too)."
    )


def resolve(spec: str | os.PathLike[str] | None) -> str:
    """The directory or hub id that `from_pretrained` should read for ``spec``."""
    if spec is None or str(spec).strip() == "":
        raise PretrainedLoadError(
            "model.init=pretrained needs model.pretrained=<local dir | hub id | run dir>"
        )
    path = Path(spec).expanduser()
    if RunDir(path).has_export():
        return str(RunDir(path).export)
    if (path / "config.json").is_file():
        return str(path)
    if path.exists():
        unfinished = RunDir(path).checkpoints.is_dir()
        raise PretrainedLoadError(
            f"model.pretrained={spec}: {path} holds no config.json"
            + (" (a run that never exported model/: it did not finish)" if unfinished else "")
            + ". Point it at a dir saved with save_pretrained, or at a finished run dir."
        )
    if not HUB_ID.match(str(spec)):
        raise PretrainedLoadError(
            f"model.pretrained={spec}: no such directory, and not a hub id (org/name)"
        )
    return str(spec)


def _fetch(spec: str, what: str, load: Callable[[], T]) -> T:
    """Run one `from_pretrained` call, turning hub/file errors into `PretrainedLoadError`."""
    try:
        return load()
    # hub client, missing files, bad json, a truncated safetensors file: all land here
    except (OSError, ValueError, SafetensorError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        local = Path(spec).is_dir()
        raise PretrainedLoadError(
            f"cannot load the {what} of model.pretrained={spec}: {first_line}"
            + ("" if local else "\n" + offline_hint(spec))
        ) from err


def load_config(spec: str | os.PathLike[str] | None) -> PretrainedConfig:
    source = resolve(spec)
    return _fetch(source, "config", lambda: AutoConfig.from_pretrained(source))


def load_model(
    model_class: type[PreTrainedModel],
    spec: str | os.PathLike[str] | None,
    model_types: tuple[str, ...],
    choice: str,
    **kwargs: object,
) -> PreTrainedModel:
    """``model_class.from_pretrained`` on the resolved ``spec``, after checking that it
    holds one of ``model_types`` (a BART checkpoint under `model=t5_small` is a mistake)."""
    source = resolve(spec)
    config = load_config(source)
    if config.model_type not in model_types:
        raise PretrainedLoadError(
            f"model.pretrained={spec} holds a '{config.model_type}' model, but model={choice} "
            f"loads {' / '.join(model_types)}: choose the model= that matches the checkpoint"
        )
    return _fetch(source, "weights", lambda: model_class.from_pretrained(source, **kwargs))


def load_tokenizer(source: str) -> Any:
    """The tokenizer saved in ``source`` (a resolved dir or hub id); any tokenizer class."""
    return _fetch(source, "tokenizer", lambda: AutoTokenizer.from_pretrained(source))


def load_tokenizers(spec: str | os.PathLike[str] | None) -> Tokenizers:
    """The tokenizer(s) saved with a model: one for both sides unless the model's dir holds
    a `source_tokenizer/` (as our runs write for backbones with their own source vocabulary)."""
    source = resolve(spec)
    target = load_tokenizer(source)
    source_dir = Path(source) / SOURCE_TOKENIZER
    return Tokenizers(load_tokenizer(source_dir) if source_dir.is_dir() else target, target)
