"""T5 span corruption (Raffel et al., 2020, section 3.1.4).

Contiguous spans covering `noise_density` of the tokens (mean length
`mean_noise_span_length`) are cut out; each is replaced in the input by a unique sentinel
(<extra_id_0>, <extra_id_1>, ...) and the target lists every sentinel followed by the
span it replaced, then eos. With `input_length` set, texts are concatenated and cut into
pieces of exactly the raw length that T5's `compute_input_and_target_lengths` gives, so
every input has `input_length` tokens and every target the same length: fixed-size
batches, as in T5. The last piece of each encoded chunk is shorter rather than dropped.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase

from seq2seq_bench.objectives.denoising import DenoisingObjective, Document, Frame, required_token
from seq2seq_bench.types import Example, Tokenizers


def _lengths_after_corruption(tokens: int, density: float, mean_span: float) -> tuple[int, int]:
    """T5's arithmetic, with the same clamps as the noise mask (at least one span of at
    least one token) so that short inputs come out exactly as long as computed too."""
    noise = min(max(int(round(tokens * density)), 1), tokens - 1)
    spans = min(max(int(round(noise / mean_span)), 1), noise, tokens - noise)
    return tokens - noise + spans + 1, noise + spans + 1  # inputs, targets (each with eos)


def compute_input_and_target_lengths(
    inputs_length: int, noise_density: float, mean_noise_span_length: float
) -> tuple[int, int]:
    """T5's rule: the longest raw length whose corrupted input fits ``inputs_length``;
    returns (raw tokens per example, target length)."""
    tokens = inputs_length
    while (
        tokens > 2
        and _lengths_after_corruption(tokens, noise_density, mean_noise_span_length)[0]
        > inputs_length
    ):  # tiny inputs: one sentinel costs more than the noise saves
        tokens -= 1
    while _lengths_after_corruption(tokens + 1, noise_density, mean_noise_span_length)[0] <= (
        inputs_length
    ):
        tokens += 1
    _, targets = _lengths_after_corruption(tokens, noise_density, mean_noise_span_length)
    if noise_density == 0.5 and targets > tokens:  # T5's tweak to keep round numbers
        tokens, targets = tokens - 1, targets - 1
    return tokens, targets


def _random_segmentation(items: int, segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``items`` into ``segments`` non-empty runs at random (lengths, in order)."""
    first = np.arange(items - 1) < (segments - 1)
    rng.shuffle(first)
    segment_id = np.cumsum(np.concatenate([[0], first]))
    return np.bincount(segment_id, minlength=segments)


def random_spans_noise_mask(
    length: int, noise_density: float, mean_noise_span_length: float, rng: np.random.Generator
) -> np.ndarray:
    """T5's noise mask: True at noise tokens; spans alternate with kept runs, and the
    sequence starts with a kept run. A 1-token text cannot be corrupted (all False)."""
    if length < 2:
        return np.zeros(length, dtype=bool)
    noise = min(max(int(round(length * noise_density)), 1), length - 1)
    spans = max(int(round(noise / mean_noise_span_length)), 1)
    spans = min(spans, noise, length - noise)
    noise_lengths = _random_segmentation(noise, spans, rng)
    kept_lengths = _random_segmentation(length - noise, spans, rng)
    interleaved = np.stack([kept_lengths, noise_lengths], axis=1).reshape(-1)
    span_starts = np.cumsum(interleaved)[:-1]
    start = np.zeros(length, dtype=np.int64)
    start[span_starts] = 1
    return np.cumsum(start) % 2 == 1


@lru_cache(maxsize=8)
def sentinel_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, ...]:
    """Ids of <extra_id_0>, <extra_id_1>, ... for as many as the tokenizer has."""
    vocab = tokenizer.get_vocab()
    ids = []
    while (token := f"<extra_id_{len(ids)}>") in vocab:
        ids.append(vocab[token])
    if not ids:
        raise ValueError(
            f"objective=span_corruption needs <extra_id_N> sentinel tokens and "
            f"{type(tokenizer).__name__} has none: use our tokenizer (model.init=scratch) or a "
            "T5/mT5 tokenizer"
        )
    return tuple(ids)


def merge(inputs: list[int], targets: list[int], sentinels: tuple[int, ...]) -> list[int]:
    """Undo span corruption: put each sentinel's span from ``targets`` back into ``inputs``
    (both without framing). Used by the tests, and handy for inspecting examples."""
    spans: dict[int, list[int]] = {}
    current = None
    sentinel_set = set(sentinels)
    for token in targets:
        if token in sentinel_set:
            current = token
            spans[current] = []
        elif current is not None:
            spans[current].append(token)
    out: list[int] = []
    for token in inputs:
        out += spans.get(token, []) if token in sentinel_set else [token]
    return out


class SpanCorruptionObjective(DenoisingObjective):
    name = "span_corruption"

    def __init__(
        self,
        noise_density: float = 0.15,
        mean_noise_span_length: float = 3.0,
        input_length: int | None = 128,
        **text: Any,
    ) -> None:
        """``text``: sides, max_tokens, seed (see `DenoisingObjective`); T5 packs its own way."""
        super().__init__(**text, pack_tokens=None)
        if not 0.0 < noise_density < 1.0 or mean_noise_span_length < 1:
            raise ValueError("span_corruption: need 0 < noise_density < 1, mean span >= 1")
        self.noise_density, self.mean_noise_span_length = noise_density, mean_noise_span_length
        self.input_length = input_length
        self.raw_length, self.target_length = (
            compute_input_and_target_lengths(input_length, noise_density, mean_noise_span_length)
            if input_length
            else (None, None)
        )

    def documents(
        self, texts: list[tuple[list[int], str]], tokenizer: PreTrainedTokenizerBase
    ) -> list[Document]:
        """T5 packing: concatenate, cut into ``raw_length`` pieces (or one text each)."""
        if self.raw_length is None:
            return [Document(content, [0], [text]) for content, text in texts]
        stream = [token for content, _ in texts for token in content]
        pieces = range(0, len(stream), self.raw_length)
        return [Document(stream[i : i + self.raw_length], [0], []) for i in pieces]

    def corrupt(
        self, document: Document, frame: Frame, tokenizers: Tokenizers, rng: np.random.Generator
    ) -> Example:
        if tokenizers.target is not tokenizers.source:
            raise ValueError(
                "objective=span_corruption predicts source tokens: it needs one tokenizer for "
                "both sides (this backbone has its own source vocabulary: use objective=bart "
                "or objective=mlm)"
            )
        tokenizer = tokenizers.source
        sentinels = sentinel_ids(tokenizer)
        eos = required_token(tokenizer, "eos_token_id", self.name)
        mask = random_spans_noise_mask(
            len(document.content), self.noise_density, self.mean_noise_span_length, rng
        )
        inputs: list[int] = []
        targets: list[int] = []
        span, previous = -1, False
        for token, noise in zip(document.content, mask.tolist(), strict=True):
            if noise and not previous:
                span += 1
                if span >= len(sentinels):
                    raise ValueError(
                        f"span_corruption: more spans than the tokenizer's {len(sentinels)} "
                        "sentinels; lower objective.input_length or raise mean_noise_span_length"
                    )
                inputs.append(sentinels[span])
                targets.append(sentinels[span])
            (targets if noise else inputs).append(token)
            previous = noise
        return Example(frame.wrap(inputs), [*targets, eos])
