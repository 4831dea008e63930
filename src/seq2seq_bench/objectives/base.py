"""The objective interface: raw pairs in, token ids for the model out.

An objective is the only thing that decides what the model reads and what it must
predict; the module, batcher and backbones never change between objectives.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase


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
    def encode(self, pairs: list[tuple[str, str]], tokenizers: Tokenizers) -> list[Example]: ...
