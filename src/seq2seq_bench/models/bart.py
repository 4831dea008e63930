"""BART (Lewis et al., 2020): `model=bart_base|bart_tiny`.

From scratch the shape comes from the yaml (`bart_base` is facebook/bart-base's) and the
vocabulary from our shared tokenizer. BART starts decoding from eos, as the published
checkpoints do: the decoder reads `</s> y1 y2 ...` and predicts `y1 y2 ... </s>`.
Pretrained, weights, special ids and tokenizer all come from `model.pretrained`
(the published tokenizer wraps every text in `<s> ... </s>`; that is kept as it is).
"""

from __future__ import annotations

from transformers import BartConfig, BartForConditionalGeneration, PreTrainedModel

from seq2seq_bench.models.backbone import Backbone, shared_vocabulary
from seq2seq_bench.models.pretrained import load_model
from seq2seq_bench.types import Tokenizers


class BartBackbone(Backbone):
    """``shape``: BartConfig fields (d_model, encoder_layers, decoder_ffn_dim, ...)."""

    lora_targets = ("q_proj", "v_proj")

    choice = "bart_*"

    def from_config(self, tokenizers: Tokenizers) -> PreTrainedModel:
        tok = shared_vocabulary(tokenizers, self.choice)
        config = BartConfig(
            vocab_size=len(tok),
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            decoder_start_token_id=tok.eos_token_id,
            forced_eos_token_id=tok.eos_token_id,
            **self.shape,
        )
        return BartForConditionalGeneration(config)

    def load(self, tokenizers: Tokenizers) -> PreTrainedModel:
        return load_model(BartForConditionalGeneration, self.pretrained, ("bart",), self.choice)
