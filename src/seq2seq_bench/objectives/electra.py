"""ELECTRA pretraining: MLM masking with <mask> only (`mask_rate` of the tokens); labels
are the original tokens, position for position. The model side (generator,
discriminator, loss) is `objectives/replaced_token_detection.py`, which `prepare_model` wraps around the
backbone."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from seq2seq_bench.objectives.denoising import Document, Frame, required_token
from seq2seq_bench.objectives.mlm import MaskedLMObjective
from seq2seq_bench.objectives.replaced_token_detection import ReplacedTokenDetection
from seq2seq_bench.types import Tokenizers


class ElectraObjective(MaskedLMObjective):
    name = "electra"

    def __init__(
        self,
        mask_rate: float = 0.15,
        generator_width: float = 0.25,
        generator_layers: int | None = None,
        discriminator_weight: float = 50.0,
        **text: Any,
    ) -> None:
        """``text``: sides, max_tokens, pack_tokens (128), seed; see `DenoisingObjective`."""
        super().__init__(mask_rate, 1.0, 0.0, **{"pack_tokens": 128} | text)
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

    def original(self, document: Document, frame: Frame, tokenizers: Tokenizers) -> list[int]:
        """Labels in the source tokenizer, aligned with the input: the discriminator labels
        input tokens (so ELECTRA also pretrains a BERT encoder with its own vocabulary)."""
        return frame.wrap(document.content)

    def model_inputs(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The wrapper computes the generator's and the discriminator's losses itself: it
        needs the original tokens."""
        return {
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "labels": batch["labels"],
        }

    def scored_labels(self, output: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The discriminator's: 1 where the generator replaced the input token."""
        return output.token_labels

    def loss(
        self, output: Any, labels: torch.Tensor, label_smoothing: float
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Generator MLM loss + weight x discriminator loss, as the wrapper computed it."""
        parts = {
            "generator_loss": output.generator_loss,
            "discriminator_loss": output.discriminator_loss,
        }
        return output.loss, parts
