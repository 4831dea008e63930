"""Backbone builders: Hydra `model=` configs point at these with `_partial_: true`, and
the entry point calls them with the tokenizers, so vocabulary size and special-token ids
always come from the tokenizer the data pipeline actually uses."""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedModel

from seq2seq_bench.models.transformer import TransformerConfig, TransformerForSeq2Seq
from seq2seq_bench.objectives.base import Tokenizers


def transformer(tokenizers: Tokenizers, **shape: Any) -> PreTrainedModel:
    """A vanilla Transformer trained from scratch on our shared tokenizer."""
    tok = tokenizers.target
    if tokenizers.source is not tokenizers.target:
        raise ValueError(
            "model=transformer* shares one vocabulary: use one tokenizer for both sides"
        )
    config = TransformerConfig(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id,
        **shape,
    )
    return TransformerForSeq2Seq(config)
