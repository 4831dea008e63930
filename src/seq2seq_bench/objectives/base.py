"""The objective interface: raw pairs in, token ids for the model out.

An objective is the only thing that decides what the model reads and what it must
predict; the module, batcher and backbones never change between objectives.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Example:
    """One model example: unpadded input ids and label ids (both end with eos)."""

    input_ids: list[int]
    labels: list[int]
    index: int = -1  # position in an evaluation set, for mapping back to references


@dataclass
class Tokenizers:
    """Source and target tokenizers; the same object twice unless a backbone (a pretrained
    BERT encoder, say) brings its own source vocabulary."""

    source: PreTrainedTokenizerBase
    target: PreTrainedTokenizerBase


class Objective(ABC):
    """Transforms a batch of (source, target) text pairs into model examples."""

    #: True when the objective's output is a translation that BLEU/chrF can score.
    is_translation: bool = False

    @abstractmethod
    def encode(
        self,
        pairs: list[tuple[str, str]],
        tokenizers: Tokenizers,
        rng: np.random.Generator | None = None,
    ) -> list[Example]:
        """``rng`` drives random noise: the training stream passes one seeded per rank,
        worker and epoch; without one (evaluation) the noise is a fixed function of the
        text, so that every validation scores the same corrupted inputs."""

    def prepare_model(self, model: PreTrainedModel, tokenizers: Tokenizers) -> nn.Module:
        """The model to train. Most objectives train the backbone as it is; one that needs
        extra parts (ELECTRA's generator) wraps it, and the wrapper's `export()` says what
        the run saves."""
        return model
