"""The model side of next-sentence and sentence-order prediction, around any backbone.

BERT reads `[CLS] A [SEP] B [SEP]`, adds a segment embedding that tells A's tokens from
B's, and predicts from the hidden state at the first position whether B belongs after A.
This wrapper does the same with any backbone's encoder: a learned vector is added to the
token embeddings of segment B (segment A adds nothing, so a single-segment input after
pretraining reads exactly as the encoder was trained to read segment A), and a BERT-style
pooler + two-way classifier reads position 0. With `with_decoder`, the backbone's decoder
also reconstructs the (masked) input from the same encoder pass: BERT's MLM half, in the
seq2seq form the MLM objective uses. The segment vector and the head are pretraining-only:
`export()` hands back the backbone alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import ModelOutput


@dataclass
class SentencePairOutput(ModelOutput):
    logits: Tensor | None = None  # the decoder's (B, T, V), or the sentence logits (B, 1, 2)
    sentence_logits: Tensor | None = None  # (B, 2): 1 = B belongs after A
    sentence_labels: Tensor | None = None  # (B,)


def token_embedding(encoder: nn.Module) -> nn.Module:
    """The encoder's token-embedding module (T5, BART, BERT, our Transformer)."""
    get = getattr(encoder, "get_input_embeddings", None)
    embedding = get() if callable(get) else getattr(encoder, "embed_tokens", None)
    if not isinstance(embedding, nn.Module):
        raise TypeError(f"{type(encoder).__name__} exposes no token embedding to add segments to")
    return embedding


class SentencePairModel(nn.Module):
    def __init__(self, seq2seq: PreTrainedModel, with_decoder: bool) -> None:
        super().__init__()
        self.seq2seq, self.with_decoder = seq2seq, with_decoder
        width = token_embedding(seq2seq.get_encoder()).embedding_dim
        self.segment_b = nn.Parameter(torch.zeros(width))
        self.pooler = nn.Sequential(nn.Linear(width, width), nn.Tanh())
        self.classifier = nn.Linear(width, 2)

    def export(self) -> PreTrainedModel:
        """What a pretraining run saves as its model: the seq2seq backbone alone."""
        return self.seq2seq

    def prepare_decoder_input_ids_from_labels(self, labels: Tensor) -> Tensor:
        return self.seq2seq.prepare_decoder_input_ids_from_labels(labels)

    def encode(self, input_ids: Tensor, attention_mask: Tensor, segments: Tensor) -> Tensor:
        """The encoder's hidden states, segment B's vector added to its token embeddings
        for this call only (a forward hook, removed after: the decoder, which may share
        the embedding, never sees it)."""
        encoder = self.seq2seq.get_encoder()
        in_b = (segments == 1).unsqueeze(-1)

        def add_segment(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
            return output + in_b.to(output.dtype) * self.segment_b.to(output.dtype)

        handle = token_embedding(encoder).register_forward_hook(add_segment)
        try:
            return encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        finally:
            handle.remove()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        segments: Tensor,
        sentence_labels: Tensor,
        decoder_input_ids: Tensor | None = None,
    ) -> SentencePairOutput:
        hidden = self.encode(input_ids, attention_mask, segments)
        sentence_logits = self.classifier(self.pooler(hidden[:, 0]))
        if not self.with_decoder:
            return SentencePairOutput(
                sentence_logits.unsqueeze(1), sentence_logits, sentence_labels
            )
        if decoder_input_ids is None:
            raise ValueError("MLM + sentence prediction needs decoder_input_ids")
        decoded = self.seq2seq(
            encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
        )
        return SentencePairOutput(decoded.logits, sentence_logits, sentence_labels)
