"""BART denoising (Lewis et al., 2020, section 2.2): five noising functions, each with its
own rate (0 turns it off), applied in fairseq's order; the target is the original text.

- `sentence_permutation`: fraction of a document's sentences shuffled among themselves
- `text_infilling`: fraction of tokens removed in spans of length ~ Poisson(`poisson_lambda`),
  each span replaced by one <mask>; zero-length spans insert a <mask>
- `token_masking`: fraction of tokens replaced by <mask>
- `token_deletion`: fraction of tokens deleted (the model must find where)
- `document_rotation`: probability that a document is rotated to start at a random token

The defaults are the paper's best (text infilling 0.3 + sentence permutation), which needs
several sentences per example: hence `pack_tokens` (whole texts packed into documents).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seq2seq_bench.objectives.denoising import (
    DenoisingObjective,
    Document,
    Frame,
    probabilistic_round,
    required_token,
)
from seq2seq_bench.types import Example, Tokenizers


def permute_sentences(
    content: list[int], starts: list[int], fraction: float, rng: np.random.Generator
) -> list[int]:
    """fairseq's permute_sentences: ``fraction`` of the sentences trade places."""
    bounds = [*starts, len(content)]
    sentences = [content[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    count = int(np.ceil(len(sentences) * fraction))
    order = np.arange(len(sentences))
    chosen = rng.permutation(len(sentences))[:count]
    order[chosen] = chosen[rng.permutation(count)]
    return [token for i in order for token in sentences[i]]


def infill(
    content: list[int], rate: float, poisson_lambda: float, mask: int, rng: np.random.Generator
) -> list[int]:
    """Remove exactly round_p(rate * n) tokens in Poisson-length spans, one <mask> each."""
    budget = probabilistic_round(rate * len(content), rng)
    if budget == 0:
        return list(content)
    lengths: list[int] = []
    while sum(lengths) < budget:
        lengths.append(int(rng.poisson(poisson_lambda)))
    lengths[-1] -= sum(lengths) - budget  # the last span ends on the budget
    kept = len(content) - budget
    # insertion points among the kept tokens, in order; spans keep their drawn order
    points = np.sort(rng.integers(0, kept + 1, size=len(lengths)))
    out: list[int] = []
    source = seen = 0
    for point, length in zip(points.tolist(), lengths, strict=True):
        while seen < point:
            out.append(content[source])
            source, seen = source + 1, seen + 1
        out.append(mask)
        source += length
    return out + content[source:]


def choose(count: int, rate: float, rng: np.random.Generator, cap: int | None = None) -> np.ndarray:
    """round_p(rate * count) distinct positions (at most ``cap``), as a boolean mask."""
    k = probabilistic_round(rate * count, rng)
    k = min(k, count if cap is None else cap)
    picked = np.zeros(count, dtype=bool)
    picked[rng.choice(count, size=k, replace=False)] = True
    return picked


def rotate(content: list[int], rng: np.random.Generator) -> list[int]:
    if len(content) < 2:
        return list(content)
    start = int(rng.integers(1, len(content)))
    return content[start:] + content[:start]


class BartDenoisingObjective(DenoisingObjective):
    name = "bart"

    def __init__(
        self,
        token_masking: float = 0.0,
        token_deletion: float = 0.0,
        text_infilling: float = 0.3,
        poisson_lambda: float = 3.0,
        sentence_permutation: float = 1.0,
        document_rotation: float = 0.0,
        **text: Any,
    ) -> None:
        """``text``: how text is read (sides, max_tokens, pack_tokens, seed; see
        `DenoisingObjective`)."""
        super().__init__(**{"pack_tokens": 128} | text)
        rates = dict(
            token_masking=token_masking,
            token_deletion=token_deletion,
            text_infilling=text_infilling,
            sentence_permutation=sentence_permutation,
            document_rotation=document_rotation,
        )
        for knob, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"objective.{knob}={rate}: a rate between 0 (off) and 1")
        self.rates, self.poisson_lambda = rates, poisson_lambda

    def corrupt(
        self, document: Document, frame: Frame, tokenizers: Tokenizers, rng: np.random.Generator
    ) -> Example:
        mask = required_token(tokenizers.source, "mask_token_id", self.name)
        rates = self.rates
        tokens = list(document.content)
        if rates["sentence_permutation"]:
            tokens = permute_sentences(
                tokens, document.sentence_starts, rates["sentence_permutation"], rng
            )
        if rates["text_infilling"]:
            tokens = infill(tokens, rates["text_infilling"], self.poisson_lambda, mask, rng)
        if rates["token_masking"]:
            picked = choose(len(tokens), rates["token_masking"], rng)
            tokens = [mask if p else t for t, p in zip(tokens, picked.tolist(), strict=True)]
        if rates["token_deletion"]:  # never all of them: an input must keep some text
            picked = choose(len(tokens), rates["token_deletion"], rng, cap=len(tokens) - 1)
            tokens = [t for t, p in zip(tokens, picked.tolist(), strict=True) if not p]
        if rates["document_rotation"] and rng.random() < rates["document_rotation"]:
            tokens = rotate(tokens, rng)
        return Example(frame.wrap(tokens), self.original(document, frame, tokenizers))
