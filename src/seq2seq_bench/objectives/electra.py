"""ELECTRA pretraining: mask `mask_rate` of the tokens with <mask>; labels are the
original tokens, position for position. The model side (generator, discriminator, loss)
is `models/electra.py`, which `prepare_model` wraps around the backbone."""

from __future__ import annotations

import numpy as np
from torch import nn
from transformers import PreTrainedModel

from seq2seq_bench.models.electra import ReplacedTokenDetection
from seq2seq_bench.objectives.base import Example, Tokenizers
from seq2seq_bench.objectives.denoising import (
    DenoisingObjective,
    Document,
    Frame,
    ordinary_ids,
    required_token,
)
from seq2seq_bench.objectives.mlm import mask_tokens


class ElectraObjective(DenoisingObjective):
    name = "electra"

    def __init__(
        self,
        mask_rate: float = 0.15,
        generator_width: float = 0.25,
        generator_layers: int | None = None,
        discriminator_weight: float = 50.0,
        sides: str = "both",
        max_tokens: int = 128,
        pack_tokens: int | None = 128,
        seed: int = 0,
    ) -> None:
        super().__init__(sides=sides, max_tokens=max_tokens, pack_tokens=pack_tokens, seed=seed)
        self.mask_rate = mask_rate
        self.generator_width, self.generator_layers = generator_width, generator_layers
        self.discriminator_weight = discriminator_weight

    def prepare_model(self, model: PreTrainedModel, tokenizers: Tokenizers) -> nn.Module:
        tokenizer = tokenizers.source
        return ReplacedTokenDetection(
            model,
            required_token(tokenizer, "mask_token_id", self.name),
            list(tokenizer.all_special_ids),
            generator_width=self.generator_width,
            generator_layers=self.generator_layers,
            discriminator_weight=self.discriminator_weight,
        )

    def corrupt(
        self, document: Document, frame: Frame, tokenizers: Tokenizers, rng: np.random.Generator
    ) -> Example:
        tokenizer = tokenizers.source
        mask = required_token(tokenizer, "mask_token_id", self.name)
        tokens, _ = mask_tokens(
            document.content, self.mask_rate, 1.0, 0.0, mask, ordinary_ids(tokenizer), rng
        )
        return Example(frame.wrap(tokens), frame.wrap(document.content))
