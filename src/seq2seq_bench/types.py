"""The few types every layer shares, at the bottom of the house: data, models, objectives,
metrics and the module all import from here, and this module imports nothing of ours."""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

#: the label id that losses and metrics ignore (padding, and positions not predicted)
LABEL_PAD = -100


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
