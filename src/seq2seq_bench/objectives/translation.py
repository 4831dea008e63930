"""Supervised translation: read the source (with an optional task prefix), predict the target."""

from __future__ import annotations

import numpy as np

from seq2seq_bench.objectives.base import Objective, token_ids
from seq2seq_bench.types import Example, Tokenizers


class TranslationObjective(Objective):
    """``prefix`` is prepended to every source, as T5 expects ("translate English to French: ")."""

    is_translation = True
    fixed_inputs = True

    def __init__(
        self, prefix: str = "", max_source_tokens: int = 128, max_target_tokens: int = 128
    ):
        self.prefix = prefix
        self.max_source_tokens = max_source_tokens
        self.max_target_tokens = max_target_tokens

    def source_text(self, source: str) -> str:
        return self.prefix + source

    def encode(
        self,
        pairs: list[tuple[str, str]],
        tokenizers: Tokenizers,
        rng: np.random.Generator | None = None,
    ) -> list[Example]:
        if not pairs:  # transformers < 5.6 fails on an empty batch
            return []
        sources = token_ids(
            tokenizers.source, [self.source_text(s) for s, _ in pairs], self.max_source_tokens
        )
        targets = token_ids(tokenizers.target, [t for _, t in pairs], self.max_target_tokens)
        return [Example(s, t) for s, t in zip(sources, targets, strict=True)]
