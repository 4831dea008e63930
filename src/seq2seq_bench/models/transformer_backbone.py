"""The vanilla Transformer as a `model=transformer_*` backbone.

From scratch its vocabulary size and special-token ids come from the tokenizer the data
pipeline actually uses; pretrained (`model.init=pretrained`), weights and tokenizer come
from `model.pretrained`, typically a run of ours: a pretraining run
(`objective=span_corruption`, ...) that a translation run then fine-tunes.
"""

from __future__ import annotations

from transformers import PreTrainedModel

from seq2seq_bench.models.backbone import Backbone, shared_vocabulary
from seq2seq_bench.models.pretrained import load_model
from seq2seq_bench.models.transformer import TransformerConfig, TransformerForSeq2Seq
from seq2seq_bench.types import Tokenizers


class TransformerBackbone(Backbone):
    """``shape``: TransformerConfig fields (d_model, encoder_layers, num_heads, ...)."""

    lora_targets = ("qkv_proj", "q_proj", "kv_proj")  # fused projections

    choice = "transformer_*"

    def from_config(self, tokenizers: Tokenizers) -> PreTrainedModel:
        tok = shared_vocabulary(tokenizers, self.choice)
        config = TransformerConfig(
            vocab_size=len(tok),
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
            decoder_start_token_id=tok.pad_token_id,
            **self.shape,
        )
        return TransformerForSeq2Seq(config)

    def load(self, tokenizers: Tokenizers) -> PreTrainedModel:
        model_type = TransformerConfig.model_type
        return load_model(TransformerForSeq2Seq, self.pretrained, (model_type,), self.choice)
