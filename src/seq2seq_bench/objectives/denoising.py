"""What every pretraining objective shares: monolingual text, framing, packing, noise rng.

A pretraining objective reads one or both sides of a parallel corpus as monolingual text
(`sides`), tokenizes it with the source tokenizer, strips the tokenizer's framing special
tokens (eos; bos/cls where a tokenizer adds them) so that noise only ever touches real
text, optionally packs consecutive texts into documents of up to `pack_tokens` tokens
(Tatoeba sentences are short; BART-style sentence permutation needs several sentences per
document), and asks the subclass to corrupt each document. The frame goes back on after.
"""

from __future__ import annotations

import hashlib
import math
from abc import abstractmethod
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from transformers import PreTrainedTokenizerBase

from seq2seq_bench.objectives.base import Objective, token_ids
from seq2seq_bench.types import Example, Tokenizers

SIDES = ("source", "target", "both")


@dataclass(frozen=True)
class Document:
    """Token ids of one training document, without framing, and where its sentences start."""

    content: list[int]
    sentence_starts: list[int]  # offsets into content; the first is 0
    texts: list[str]  # the raw texts it was made of (for a target tokenizer of its own)


@dataclass(frozen=True)
class Frame:
    """The special tokens a tokenizer puts around every text (e.g. [] and [eos])."""

    prefix: list[int]
    suffix: list[int]

    def wrap(self, content: list[int]) -> list[int]:
        return [*self.prefix, *content, *self.suffix]


def monolingual_texts(pairs: list[tuple[str, str]], sides: str) -> list[str]:
    """The texts a pretraining objective reads from parallel pairs; empty ones dropped."""
    if sides not in SIDES:
        raise ValueError(f"objective.sides={sides!r}: choose one of {', '.join(SIDES)}")
    picked = {"source": (0,), "target": (1,), "both": (0, 1)}[sides]
    texts = []
    for pair in pairs:  # a plain-text corpus yields (text, text): read it once
        sides_of_pair = picked[:1] if pair[0] == pair[1] else picked
        texts += [pair[i] for i in sides_of_pair if pair[i].strip()]
    return texts


@lru_cache(maxsize=8)
def template_frame(tokenizer: PreTrainedTokenizerBase) -> Frame:
    """The special tokens the tokenizer's template puts around every text, read off the
    encoding of one plain word. Only these are stripped: a text that itself spells a special
    token (a corpus line "<s>") keeps it as content instead of losing it as framing."""
    ids = token_ids(tokenizer, ["a"], 16)[0]
    special = frozenset(tokenizer.all_special_ids) - {tokenizer.unk_token_id}  # unk: text
    start, end = 0, len(ids)
    while start < end and ids[start] in special:
        start += 1
    while end > start and ids[end - 1] in special:
        end -= 1
    return Frame(ids[:start], ids[end:])


def strip_frame(ids: list[int], frame: Frame) -> list[int]:
    return ids[len(frame.prefix) : len(ids) - len(frame.suffix)]


def text_rng(seed: int, content: list[int]) -> np.random.Generator:
    """A generator that is a fixed function of the seed and the tokens (evaluation noise)."""
    digest = hashlib.blake2b(np.asarray(content, dtype=np.int64).tobytes(), digest_size=8)
    return np.random.default_rng([seed, int.from_bytes(digest.digest(), "little")])


def probabilistic_round(x: float, rng: np.random.Generator) -> int:
    """floor or ceil with the probability that makes the expectation exactly ``x``, so that
    short texts realise the configured rate on average (round() would bias them)."""
    low = math.floor(x)
    return low + int(rng.random() < x - low)


@lru_cache(maxsize=8)
def _sentence_end_ids(tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    ends = (".", "!", "?", "。")
    return frozenset(i for t, i in tokenizer.get_vocab().items() if t.rstrip().endswith(ends))


@lru_cache(maxsize=8)
def ordinary_ids(tokenizer: PreTrainedTokenizerBase) -> np.ndarray:
    """Every id that is not a special token: what random replacement may draw."""
    special = set(tokenizer.all_special_ids)
    return np.array([i for i in range(len(tokenizer)) if i not in special], dtype=np.int64)


def required_token(tokenizer: PreTrainedTokenizerBase, attribute: str, objective: str) -> int:
    token_id = getattr(tokenizer, attribute, None)
    if token_id is None:
        raise ValueError(
            f"objective={objective} needs a {attribute.removesuffix('_id')} in the tokenizer, "
            f"and {type(tokenizer).__name__} has none: use our tokenizer (model.init=scratch) "
            "or a pretrained model whose tokenizer has one"
        )
    return int(token_id)


class DenoisingObjective(Objective):
    """Base of the pretraining objectives. ``max_tokens`` truncates each text;
    ``pack_tokens`` (None: one text per example) packs whole consecutive texts."""

    name = "denoising"

    def __init__(
        self,
        sides: str = "both",
        max_tokens: int = 128,
        pack_tokens: int | None = None,
        seed: int = 0,
    ) -> None:
        monolingual_texts([], sides)  # validates `sides`
        self.sides, self.max_tokens, self.pack_tokens, self.seed = (
            sides,
            max_tokens,
            pack_tokens,
            seed,
        )

    def encode(
        self,
        pairs: list[tuple[str, str]],
        tokenizers: Tokenizers,
        rng: np.random.Generator | None = None,
    ) -> list[Example]:
        texts = monolingual_texts(pairs, self.sides)
        if not texts:  # transformers < 5.6 fails on an empty batch
            return []
        tokenizer = tokenizers.source
        encoded = token_ids(tokenizer, texts, self.max_tokens)
        frame = template_frame(tokenizer)
        contents = [
            (content, text)
            for ids, text in zip(encoded, texts, strict=True)
            if (content := strip_frame(list(ids), frame))
        ]
        if not contents:
            return []
        examples = []
        for document in self.documents(contents, tokenizer):
            noise = rng if rng is not None else text_rng(self.seed, document.content)
            examples.append(self.corrupt(document, frame, tokenizers, noise))
        return examples

    def documents(
        self, texts: list[tuple[list[int], str]], tokenizer: PreTrainedTokenizerBase
    ) -> list[Document]:
        """Whole texts packed greedily up to ``pack_tokens``; sentence starts at each text
        and after each sentence-final token inside it."""
        ends = _sentence_end_ids(tokenizer)
        groups: list[list[tuple[list[int], str]]] = []
        size = 0
        for content, text in texts:
            if not groups or self.pack_tokens is None or size + len(content) > self.pack_tokens:
                groups.append([])
                size = 0
            groups[-1].append((content, text))
            size += len(content)
        documents = []
        for group in groups:
            content: list[int] = []
            starts: list[int] = []
            for ids, _ in group:
                starts.append(len(content))
                starts += [len(content) + i + 1 for i, t in enumerate(ids[:-1]) if t in ends]
                content += ids
            documents.append(Document(content, starts, [text for _, text in group]))
        return documents

    def original(self, document: Document, frame: Frame, tokenizers: Tokenizers) -> list[int]:
        """The uncorrupted document as labels, in the target tokenizer."""
        if tokenizers.target is tokenizers.source:
            return frame.wrap(document.content)
        return list(tokenizers.target(" ".join(document.texts))["input_ids"])

    @abstractmethod
    def corrupt(
        self, document: Document, frame: Frame, tokenizers: Tokenizers, rng: np.random.Generator
    ) -> Example: ...
