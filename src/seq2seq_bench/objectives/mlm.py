"""BERT-style masked language modelling (Devlin et al., 2019) as a seq2seq objective.

`mask_rate` of the tokens are selected; of those, `mask_fraction` become <mask>,
`random_fraction` a random ordinary token, and the rest stay as they are (so the model
cannot learn that only <mask> positions matter). The seq2seq target is the original text,
so the decoder learns to copy and repair, as in MASS/BART-style pretraining.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seq2seq_bench.objectives.bart import choose
from seq2seq_bench.objectives.denoising import (
    DenoisingObjective,
    Document,
    Frame,
    ordinary_ids,
    required_token,
)
from seq2seq_bench.types import Example, Tokenizers


def mask_tokens(
    content: list[int],
    rate: float,
    mask_fraction: float,
    random_fraction: float,
    mask: int,
    vocabulary: np.ndarray,
    rng: np.random.Generator,
) -> tuple[list[int], np.ndarray]:
    """Returns the corrupted tokens and which positions were selected."""
    picked = choose(len(content), rate, rng)
    draw = rng.random(len(content))
    replacements = vocabulary[rng.integers(0, len(vocabulary), size=len(content))]
    out = list(content)
    for i in np.flatnonzero(picked).tolist():
        if draw[i] < mask_fraction:
            out[i] = mask
        elif draw[i] < mask_fraction + random_fraction:
            out[i] = int(replacements[i])
    return out, picked


class MaskedLMObjective(DenoisingObjective):
    name = "mlm"

    def __init__(
        self,
        mask_rate: float = 0.15,
        mask_fraction: float = 0.8,
        random_fraction: float = 0.1,
        **text: Any,
    ) -> None:
        """``text``: how text is read (sides, max_tokens, pack_tokens, seed; see
        `DenoisingObjective`)."""
        super().__init__(**{"pack_tokens": None} | text)
        if not 0 <= mask_rate <= 1 or mask_fraction + random_fraction > 1:
            raise ValueError("mlm: need 0 <= mask_rate <= 1 and mask + random fractions <= 1")
        self.mask_rate, self.mask_fraction, self.random_fraction = (
            mask_rate,
            mask_fraction,
            random_fraction,
        )

    def corrupt(
        self, document: Document, frame: Frame, tokenizers: Tokenizers, rng: np.random.Generator
    ) -> Example:
        tokenizer = tokenizers.source
        mask = required_token(tokenizer, "mask_token_id", self.name)
        tokens, _ = mask_tokens(
            document.content,
            self.mask_rate,
            self.mask_fraction,
            self.random_fraction,
            mask,
            ordinary_ids(tokenizer),
            rng,
        )
        return Example(frame.wrap(tokens), self.original(document, frame, tokenizers))
