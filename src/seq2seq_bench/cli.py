"""What the inference command lines (s2s-translate, s2s-evaluate) share.

A user's mistake (a wrong path, a bad setting, a file that is not UTF-8) ends the
program with one line on stderr and exit status 1, never a traceback: tracebacks are
for our bugs. Input is read as bytes and decoded line by line, so an encoding error
names the line to fix.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import transformers
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from transformers import PreTrainedModel

from seq2seq_bench.checkpoint import CheckpointError
from seq2seq_bench.checks import ConfigError
from seq2seq_bench.ctranslate2_engine import EngineError
from seq2seq_bench.data.corpora import DataPathError, EmptyDataError, MalformedLineError
from seq2seq_bench.decoding import DecodingError, ExternalEngine
from seq2seq_bench.models.pretrained import PretrainedLoadError
from seq2seq_bench.rundir import RunDirError
from seq2seq_bench.types import Tokenizers

# The configs of train.py and the tools (S2S_CONF_DIR: another conf/ tree).
CONF_DIR = os.environ.get("S2S_CONF_DIR", str(Path(__file__).resolve().parents[2] / "conf"))
PROGRESS_MIN_LINES = 500
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class UsageError(ValueError):
    """A command-line setting or input that cannot be used, with the fix in the message."""


USER_ERRORS = (
    UsageError,
    CheckpointError,
    ConfigError,
    DecodingError,
    DataPathError,
    EmptyDataError,
    MalformedLineError,
    PretrainedLoadError,
    RunDirError,
    EngineError,
)


@contextmanager
def user_errors(prog: str, also: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Turn the errors a user can fix (and those in ``also``) into `prog: error: message`
    and exit status 1."""
    errors = (*USER_ERRORS, *also)
    try:
        yield
    except InstantiationException as err:  # Hydra wraps what a config's target raised
        if isinstance(err.__cause__, errors):
            raise SystemExit(f"{prog}: error: {err.__cause__}") from None
        raise
    except errors as err:
        raise SystemExit(f"{prog}: error: {err}") from None


def quiet_transformers() -> None:
    """No loading bars: a CLI's output is its translations and its own progress bar."""
    transformers.logging.disable_progress_bar()


def require(cfg: DictConfig, *keys: str) -> None:
    missing = [k for k in keys if OmegaConf.is_missing(cfg, k) or cfg.get(k) in (None, "")]
    if missing:
        raise UsageError(
            f"missing {', '.join(f'{k}=...' for k in missing)}; e.g. ckpt=outputs/<date>/<time> "
            "(a run dir), ckpt=<run>/model (an exported model) or ckpt=<run>/checkpoints/last.ckpt"
        )


def place(model: PreTrainedModel, device: str, dtype: str) -> PreTrainedModel:
    """Move the model to ``device`` (auto: the GPU if there is one) in ``dtype``."""
    if dtype not in DTYPES:
        raise UsageError(f"dtype={dtype}: choose one of {', '.join(DTYPES)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        target = torch.device(device)
    except RuntimeError as err:
        raise UsageError(f"device={device}: {err}; use auto, cpu, cuda or cuda:N") from err
    if target.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device={device}, but no CUDA device is available; use device=cpu")
    return model.to(device=target, dtype=DTYPES[dtype])


ENGINES = ("torch", "ctranslate2")


def inference_model(
    model: PreTrainedModel, tokenizers: Tokenizers, cfg: DictConfig
) -> PreTrainedModel | ExternalEngine:
    """The model the tools decode with: ``engine=torch`` (`generate()`, on ``device`` in
    ``dtype``) or ``engine=ctranslate2`` (converted, in ``compute_type``)."""
    engine = cfg.get("engine", "torch")
    if engine == "torch":
        return place(model, cfg.device, cfg.dtype)
    if engine != "ctranslate2":
        raise UsageError(f"engine={engine}: choose one of {', '.join(ENGINES)}")
    if cfg.dtype != "float32":
        raise UsageError(
            f"dtype={cfg.dtype} is for engine=torch; CTranslate2 takes compute_type= "
            "(default, int8, int8_float32, float16, bfloat16)"
        )
    from seq2seq_bench.ctranslate2_engine import CTranslate2Model

    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return CTranslate2Model(model.eval(), tokenizers, str(cfg.compute_type), device)


def show_progress(setting: bool | str, lines: int) -> bool:
    """``progress=auto``: a bar only where someone watches (a terminal) a long input."""
    if setting == "auto":
        return sys.stderr.isatty() and lines > PROGRESS_MIN_LINES
    return bool(setting)


def read_lines(path: str) -> list[str]:
    """Lines of a UTF-8 file, or of stdin for "-"; an empty line stays an empty string."""
    name = "<stdin>" if path == "-" else path
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read input {name}: {err.strerror}") from err
    if not raw:
        return []
    lines = raw.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    if lines[-1] == b"":  # the newline that ends the last line starts no new one
        lines.pop()
    decoded = []
    for number, line in enumerate(lines, 1):
        try:
            decoded.append(line.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError as err:
            raise UsageError(
                f"{name}:{number}: not valid UTF-8 (byte {line[err.start]:#04x} at column "
                f"{err.start + 1}); convert the input, e.g. `iconv -f latin1 -t utf-8`"
            ) from None
    return decoded
