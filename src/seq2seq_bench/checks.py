"""Configuration checks run before training starts: the module's settings before any data
is read, precision once the model is built.

Each raises a `ConfigError` whose message names the key and the fix, so a doomed run fails
in seconds (`module.lr=abc` used to fail after the data scan, 17 frames deep in AdamW).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import PreTrainedModel

FP16 = {"16", "16-mixed", "16-true"}
# T5 was pretrained in bf16; its feed-forward activations exceed fp16's range (65504), so
# fp16 training and inference give inf/NaN. bf16 has fp32's range.
FP16_UNSAFE = {"t5", "mt5"}


class ConfigError(ValueError):
    """A config value that cannot work, named with its key and the fix."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# key: (test, what the key needs)
MODULE_RULES: dict[str, tuple[Any, str]] = {
    "lr": (lambda v: _number(v) and v > 0, "a number > 0, e.g. 1e-3"),
    "weight_decay": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    "eps": (lambda v: _number(v) and v > 0, "a number > 0, e.g. 1e-8"),
    "betas": (
        lambda v: len(v) == 2 and all(_number(b) and 0 <= b < 1 for b in v),
        "two numbers in [0, 1), e.g. [0.9,0.98]",
    ),
    "warmup_steps": (lambda v: isinstance(v, int) and v >= 0, "a whole number >= 0"),
    "min_lr_ratio": (lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "label_smoothing": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "scheduler": (
        lambda v: v in ("constant", "linear", "cosine", "inverse_sqrt"),
        "constant, linear, cosine or inverse_sqrt",
    ),
    "val_decode_limit": (
        lambda v: v is None or (isinstance(v, int) and v > 0),
        "a whole number > 0, or null for every source",
    ),
}


def check_module_settings(settings: Mapping[str, Any]) -> None:
    problems = []
    for key, (valid, needs) in MODULE_RULES.items():
        if key not in settings:
            continue
        try:
            ok = bool(valid(settings[key]))
        except TypeError:
            ok = False
        if not ok:
            problems.append(f"module.{key}={settings[key]!r}: use {needs}")
    if problems:
        raise ConfigError("; ".join(problems))


def check_precision(model: PreTrainedModel, precision: str | int) -> None:
    model_type = getattr(model.config, "model_type", "")
    if str(precision) in FP16 and model_type in FP16_UNSAFE:
        raise ConfigError(
            f"trainer.precision={precision} with a {model_type} model: T5/mT5 activations "
            "overflow float16 (inf/NaN losses). Use trainer.precision=bf16-mixed on a GPU "
            "that supports bf16 (Ampere or newer), or trainer.precision=32-true."
        )
