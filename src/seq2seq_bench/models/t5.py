"""T5 (Raffel et al., 2020) and mT5 (Xue et al., 2021): `model=t5_small|t5_tiny|mt5_small|mt5_tiny`.

From scratch the shape comes from the yaml (the published shapes for `*_small`) and the
vocabulary from our shared tokenizer, whose ids match T5's conventions (pad=0 is also the
decoder start token, eos=1) and which carries the `<extra_id_*>` sentinels that span
corruption needs. Pretrained, both come from `model.pretrained`.

In transformers 5, T5 and mT5 built from a config always tie `shared`, the encoder and
decoder input embeddings and the LM head into one tensor (published mT5 checkpoints keep
their separate LM head when loaded). `freezing.py` reports whatever ties a model really has.
"""

from __future__ import annotations

from typing import Any

from transformers import (
    MT5Config,
    MT5ForConditionalGeneration,
    PreTrainedModel,
    T5Config,
    T5ForConditionalGeneration,
)

from seq2seq_bench.models.backbone import Backbone, shared_vocabulary
from seq2seq_bench.models.pretrained import load_model
from seq2seq_bench.types import Tokenizers

FAMILIES: dict[str, tuple[type, type[PreTrainedModel]]] = {
    "t5": (T5Config, T5ForConditionalGeneration),
    "mt5": (MT5Config, MT5ForConditionalGeneration),
}


class T5Backbone(Backbone):
    """``shape``: T5Config fields (d_model, d_kv, d_ff, num_layers, num_heads, ...)."""

    lora_targets = ("q", "v")
    fp16_safe = False  # feed-forward activations exceed float16's 65504

    def __init__(
        self,
        family: str = "t5",
        init: str = "auto",
        pretrained: str | None = None,
        task_prefix: str = "",
        **shape: Any,
    ) -> None:
        super().__init__(init, pretrained, task_prefix, **shape)
        if family not in FAMILIES:
            raise ValueError(f"model.family={family!r}: choose one of {', '.join(FAMILIES)}")
        self.family, self.choice = family, f"{family}_*"

    def from_config(self, tokenizers: Tokenizers) -> PreTrainedModel:
        tok = shared_vocabulary(tokenizers, self.choice)
        config_class, model_class = FAMILIES[self.family]
        config = config_class(
            vocab_size=len(tok),
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
            decoder_start_token_id=tok.pad_token_id,
            **self.shape,
        )
        return model_class(config)

    def load(self, tokenizers: Tokenizers) -> PreTrainedModel:
        _, model_class = FAMILIES[self.family]
        return load_model(model_class, self.pretrained, (self.family,), self.choice)
