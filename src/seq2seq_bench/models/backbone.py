"""The backbone interface behind every `model=` choice.

A backbone answers two questions, in this order, because the answer to the first shapes
the data pipeline and the answer to the second depends on it:

1. `tokenizers(data_tokenizers)`: which tokenizers does the model read? A pretrained model
   brings its own; a model trained from scratch takes the shared BPE tokenizer that the
   data module trains on the corpus (passed as a zero-argument callable, so a pretrained
   backbone never pays for training a tokenizer it will not use).
2. `backbone(tokenizers=...)`: the `PreTrainedModel`, in train mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers import PreTrainedModel

from seq2seq_bench.checks import ConfigError
from seq2seq_bench.models.pretrained import load_tokenizers
from seq2seq_bench.types import Tokenizers

INITS = ("auto", "scratch", "pretrained")
FP16 = {"16", "16-mixed", "16-true"}


class Backbone:
    """Base class: ``init`` is `scratch` (random weights from the config), `pretrained`
    (weights and tokenizer from ``pretrained``: a local dir, a hub id or one of our runs) or
    `auto` (pretrained exactly when ``pretrained`` is set).

    ``task_prefix`` is not used here: `conf/objective/translation.yaml` reads it
    (`prefix: ${oc.select:model.task_prefix,""}`), so T5 gets "translate English to French: "
    without the objective knowing which model it feeds, and `objective.prefix=...` still wins.
    """

    choice = "backbone"  # the `model=` family name used in error messages
    #: where `freeze=lora` puts its adapters by default: the attention projections' names
    lora_targets: tuple[str, ...] = ()
    #: False where activations overflow float16 (T5 was pretrained in bf16): fp16 is refused
    fp16_safe: bool = True

    def __init__(
        self,
        init: str = "auto",
        pretrained: str | None = None,
        task_prefix: str = "",
        **shape: Any,
    ) -> None:
        """``init``: `auto` (the default) is `pretrained` when ``pretrained`` is given and
        `scratch` otherwise, so `model.pretrained=<run>` alone never trains from scratch by
        mistake.
        ``shape``: the config fields of a model built from scratch (d_model, ...)."""
        if init not in INITS:
            raise ValueError(f"model.init={init!r}: choose one of {', '.join(INITS)}")
        if init == "auto":
            init = "scratch" if pretrained in (None, "") else "pretrained"
        self.init, self.pretrained, self.task_prefix = init, pretrained, task_prefix
        self.shape = shape

    def check_precision(self, precision: str | int) -> None:
        """float16 where this backbone's activations overflow it (`fp16_safe`)."""
        if str(precision) in FP16 and not self.fp16_safe:
            raise ConfigError(
                f"trainer.precision={precision} with model={self.choice}: its activations "
                "overflow float16 (inf/NaN losses). Use trainer.precision=bf16-mixed on a GPU "
                "that supports bf16 (Ampere or newer), or trainer.precision=32-true."
            )

    def tokenizers(self, data_tokenizers: Callable[[], Tokenizers]) -> Tokenizers:
        if self.init == "pretrained":
            return load_tokenizers(self.pretrained)
        return data_tokenizers()

    def __call__(self, tokenizers: Tokenizers) -> PreTrainedModel:
        pretrained = self.init == "pretrained"
        model = self.load(tokenizers) if pretrained else self.from_config(tokenizers)
        return model.train()  # from_pretrained returns eval mode; Lightning does not undo it

    def from_config(self, tokenizers: Tokenizers) -> PreTrainedModel:
        raise NotImplementedError

    def load(self, tokenizers: Tokenizers) -> PreTrainedModel:
        """The model at ``self.pretrained``; ``tokenizers`` are what `tokenizers()` chose."""
        raise NotImplementedError


def shared_vocabulary(tokenizers: Tokenizers, choice: str) -> Any:
    """The one tokenizer of a model whose encoder and decoder share an embedding matrix."""
    if tokenizers.source is not tokenizers.target:
        raise ValueError(f"model={choice} shares one vocabulary: use one tokenizer for both sides")
    return tokenizers.target
