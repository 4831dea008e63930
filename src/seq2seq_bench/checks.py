"""Configuration checks run before training starts: the optimizer's and module's settings,
before any data is read.

Each raises a `ConfigError` whose message names the key and the fix, so a doomed run fails
in seconds (`optimizer.lr=abc` used to fail after the data scan, 17 frames deep in AdamW).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
    """A config value that cannot work, named with its key and the fix."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# dotted key: (test, what the key needs). The scheduler and decoding settings are checked
# by their own classes (`Schedule`, `Decoding`) when they are built, also before any data.
RULES: dict[str, tuple[Any, str]] = {
    "optimizer.lr": (lambda v: _number(v) and v > 0, "a number > 0, e.g. 1e-3"),
    "optimizer.weight_decay": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    "optimizer.eps": (lambda v: _number(v) and v > 0, "a number > 0, e.g. 1e-8"),
    "optimizer.betas": (
        lambda v: len(v) == 2 and all(_number(b) and 0 <= b < 1 for b in v),
        "two numbers in [0, 1), e.g. [0.9,0.98]",
    ),
    "module.label_smoothing": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "module.val_decode_limit": (
        lambda v: v is None or (isinstance(v, int) and v > 0),
        "a whole number > 0, or null for every source",
    ),
}


def check_settings(cfg: Mapping[str, Any]) -> None:
    """Every rule whose key the (resolved, plain) config has."""
    problems = []
    for key, (valid, needs) in RULES.items():
        group, _, name = key.partition(".")
        settings = cfg.get(group) or {}
        if name not in settings:
            continue
        try:
            ok = bool(valid(settings[name]))
        except TypeError:
            ok = False
        if not ok:
            problems.append(f"{key}={settings[name]!r}: use {needs}")
    if problems:
        raise ConfigError("; ".join(problems))
