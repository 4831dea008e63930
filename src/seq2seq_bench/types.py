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
    # sentence-pair objectives (NSP/SOP) only: the segment of each input token (0 = A,
    # 1 = B) and what the sentence-level head must predict (1 = B follows A)
    segments: list[int] | None = None
    sentence_label: int | None = None


class DocumentPair(tuple[str, str]):
    """Two adjacent sentences of one document, read as a (source, target) pair, with the
    document they come from: what next-sentence and sentence-order prediction read.

    It unpacks and compares as the plain pair, so every reader of pairs reads it; only the
    sentence-pair objectives and the split look at `document` (a whole document lands in
    one split, and a negative is never drawn from the pair's own document)."""

    document: str

    def __new__(cls, first: str, second: str, document: str) -> DocumentPair:
        pair = super().__new__(cls, (first, second))
        pair.document = document
        return pair

    def __getnewargs__(self) -> tuple[str, str, str]:  # type: ignore[override]
        """Pickling (dataloader workers) rebuilds it with its document."""
        return (self[0], self[1], self.document)

    def __repr__(self) -> str:
        return f"DocumentPair({self[0]!r}, {self[1]!r}, document={self.document!r})"


def split_text(pair: tuple[str, str]) -> str:
    """What decides a pair's split: its source sentence, or its whole document."""
    return pair.document if isinstance(pair, DocumentPair) else pair[0]


@dataclass
class Tokenizers:
    """Source and target tokenizers; the same object twice unless a backbone (a pretrained
    BERT encoder, say) brings its own source vocabulary."""

    source: PreTrainedTokenizerBase
    target: PreTrainedTokenizerBase

    def __post_init__(self) -> None:
        """Text is text: a corpus line or a user's sentence that spells a special token
        ("</s>", "<mask>", "<extra_id_0>", "[SEP]") is encoded as its characters. Left to
        their default, tokenizers turn it into the control id, and a sentence silently ends
        early, gains a mask or a sentinel. Objectives insert control ids as ids, never as
        text, so nothing of ours needs the default. Set on the tokenizer and on its Rust
        backend, which the training data's tokenization calls directly."""
        for tokenizer in (self.source, self.target):
            tokenizer.split_special_tokens = True
            backend = getattr(tokenizer, "backend_tokenizer", None)
            if backend is not None:
                backend.encode_special_tokens = True
