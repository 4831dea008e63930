"""Next-sentence prediction (BERT, Devlin et al. 2019) and sentence-order prediction
(ALBERT, Lan et al. 2020), alone or beside masked language modelling.

The encoder reads `[CLS] A [SEP] B [SEP]` (the tokenizer's cls or bos, and its sep or
eos; a tokenizer with neither cls nor bos, T5's, starts with A) with segment ids 0 for
`[CLS] A [SEP]` and 1 for `B [SEP]`. A and B are adjacent sentences of one document (a
`DocumentPair`); with probability `positive_rate` they stay as they are (label 1), else:

- `nsp`: B is replaced by a sentence of another document of the same batch (label 0);
  never by B itself, nor by a sentence from A's own document. BERT draws from the whole
  corpus; drawing from the batch needs no second pass over the data, and a batch holds
  pairs from many documents (pairs are batched by length, not by document).
- `sop`: A and B are swapped (label 0), so topic cannot give the answer away: ALBERT's
  reason to replace NSP.

With `mask_rate > 0` (`objective=bert`), the tokens of A and B (never the framing) are
masked as the MLM objective masks them and the decoder reconstructs the uncorrupted
`A B`; the loss is MLM + `sentence_weight` x the sentence loss, as BERT sums them.
With `mask_rate = 0` only the encoder and the sentence head train.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from seq2seq_bench.objectives.base import Objective
from seq2seq_bench.objectives.denoising import ordinary_ids, required_token, text_rng
from seq2seq_bench.objectives.mlm import mask_tokens
from seq2seq_bench.objectives.sentence_pair_model import SentencePairModel
from seq2seq_bench.types import DocumentPair, Example, Tokenizers

log = logging.getLogger(__name__)

TASKS = ("nsp", "sop")
NO_DOCUMENTS = (
    "the {name} objective needs documents: B must be the sentence that follows A in its "
    "document, and this corpus is a list of unrelated sentence pairs (Tatoeba is). Use "
    "data=text_files data.corpus.documents=true, with one sentence per line and a blank "
    "line between documents"
)


def pair_frame(tokenizer: PreTrainedTokenizerBase, objective: str) -> tuple[list[int], int]:
    """The `[CLS]` (maybe none) and `[SEP]` ids of a tokenizer."""
    cls = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    sep = tokenizer.sep_token_id
    if sep is None:
        sep = required_token(tokenizer, "eos_token_id", objective)
    return ([] if cls is None else [int(cls)]), int(sep)


class SentencePairObjective(Objective):
    needs_documents = True

    def __init__(
        self,
        task: str = "nsp",
        positive_rate: float = 0.5,
        mask_rate: float = 0.0,
        mask_fraction: float = 0.8,
        random_fraction: float = 0.1,
        sentence_weight: float = 1.0,
        max_tokens: int = 128,
        seed: int = 0,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"objective.task={task!r}: choose one of {', '.join(TASKS)}")
        if not 0.0 <= positive_rate <= 1.0:
            raise ValueError(f"objective.positive_rate={positive_rate}: a fraction in [0, 1]")
        if not 0 <= mask_rate <= 1 or mask_fraction + random_fraction > 1:
            raise ValueError("objective: need 0 <= mask_rate <= 1 and mask + random fractions <= 1")
        if max_tokens < 8:
            raise ValueError(f"objective.max_tokens={max_tokens}: at least 8 for two sentences")
        self.task, self.positive_rate = task, positive_rate
        self.mask_rate, self.mask_fraction, self.random_fraction = (
            mask_rate,
            mask_fraction,
            random_fraction,
        )
        self.sentence_weight, self.max_tokens, self.seed = sentence_weight, max_tokens, seed
        self._kept_in_order = 0  # NSP pairs whose batch had no other document to draw from

    @property
    def kept_in_order(self) -> int:
        """NSP pairs left positive: their batch had no sentence of another document."""
        return self._kept_in_order

    @property
    def name(self) -> str:
        return self.task if self.mask_rate == 0 else f"mlm+{self.task}"

    @property
    def sentence_task(self) -> str:
        return self.task

    def prepare_model(self, model: PreTrainedModel, tokenizers: Tokenizers) -> nn.Module:
        return SentencePairModel(model, with_decoder=self.mask_rate > 0)

    # -- data ---------------------------------------------------------------------------
    def encode(
        self,
        pairs: list[tuple[str, str]],
        tokenizers: Tokenizers,
        rng: np.random.Generator | None = None,
    ) -> list[Example]:
        if not pairs:
            return []
        if not all(isinstance(pair, DocumentPair) for pair in pairs):
            raise ValueError(NO_DOCUMENTS.format(name=self.name))
        tokenizer = tokenizers.source
        cls, sep = pair_frame(tokenizer, self.task)
        half = max(1, (self.max_tokens - len(cls) - 2) // 2)
        texts = [text for pair in pairs for text in pair]
        ids = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=half)
        ids = [list(x) for x in ids["input_ids"]]
        arranged: list[tuple[int, int, int]] = []  # (sentence A, sentence B, label)
        kept_before = self._kept_in_order
        for i in range(len(pairs)):
            noise = rng if rng is not None else text_rng(self.seed, ids[2 * i] + ids[2 * i + 1])
            arranged.append(self.arrange(i, pairs, texts, noise))
        if self._kept_in_order > kept_before:
            log.warning(
                "nsp: %d pairs of a batch had no sentence from another document to draw a "
                "negative from and were kept in order (%d in this process so far); give the "
                "corpus more documents or raise data.max_tokens",
                self._kept_in_order - kept_before,
                self._kept_in_order,
            )
        return self.examples(arranged, texts, ids, cls, sep, tokenizers, rng)

    def arrange(
        self,
        i: int,
        pairs: list[tuple[str, str]],
        texts: list[str],
        noise: np.random.Generator,
    ) -> tuple[int, int, int]:
        """Pair ``i`` as (sentence index of A, of B, label) into ``texts``."""
        a, b = 2 * i, 2 * i + 1
        if noise.random() < self.positive_rate:
            return a, b, 1
        if self.task == "sop":
            return b, a, 0
        other = self.negative(i, pairs, texts, noise)
        if other is None:
            self._kept_in_order += 1
            return a, b, 1
        return a, other, 0

    @staticmethod
    def negative(
        i: int, pairs: list[tuple[str, str]], texts: list[str], noise: np.random.Generator
    ) -> int | None:
        """A random sentence of the batch from another document than pair ``i``'s, that is
        not its true next sentence; None if there is none."""
        document, true_next = pairs[i].document, pairs[i][1]

        def usable(k: int) -> bool:
            return pairs[k // 2].document != document and texts[k] != true_next

        for k in noise.integers(0, len(texts), size=16).tolist():
            if usable(k):
                return k
        start = int(noise.integers(0, len(texts)))  # few candidates: look at every one
        order = [(start + k) % len(texts) for k in range(len(texts))]
        return next((k for k in order if usable(k)), None)

    def examples(
        self,
        arranged: list[tuple[int, int, int]],
        texts: list[str],
        ids: list[list[int]],
        cls: list[int],
        sep: int,
        tokenizers: Tokenizers,
        rng: np.random.Generator | None,
    ) -> list[Example]:
        mlm = self.mask_rate > 0
        if mlm:
            mask = required_token(tokenizers.source, "mask_token_id", f"mlm+{self.task}")
            vocabulary = ordinary_ids(tokenizers.source)
            originals = tokenizers.target(
                [f"{texts[a]} {texts[b]}" for a, b, _ in arranged],
                truncation=True,
                max_length=self.max_tokens,
            )["input_ids"]
        examples = []
        for row, (a, b, label) in enumerate(arranged):
            first, second = ids[a], ids[b]
            if mlm:
                noise = rng if rng is not None else text_rng(self.seed + 1, first + second)
                masked = [
                    mask_tokens(
                        part,
                        self.mask_rate,
                        self.mask_fraction,
                        self.random_fraction,
                        mask,
                        vocabulary,
                        noise,
                    )[0]
                    for part in (first, second)
                ]
                first, second = masked
            input_ids = [*cls, *first, sep, *second, sep]
            segments = [0] * (len(cls) + len(first) + 1) + [1] * (len(second) + 1)
            labels = list(originals[row]) if mlm else [label]
            examples.append(Example(input_ids, labels, segments=segments, sentence_label=label))
        return examples

    # -- model --------------------------------------------------------------------------
    def model_inputs(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        inputs = {
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "segments": batch["segments"],
            "sentence_labels": batch["sentence_labels"],
        }
        if self.mask_rate > 0:
            inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(
                batch["labels"]
            )
        return inputs

    def loss(
        self, output: Any, labels: torch.Tensor, label_smoothing: float
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The sentence head's cross-entropy; with MLM, the label-smoothed reconstruction
        loss plus `sentence_weight` x it."""
        sentence = nn.functional.cross_entropy(
            output.sentence_logits.float(), output.sentence_labels
        )
        if self.mask_rate == 0:
            return sentence, {}
        mlm, mlm_parts = super().loss(output, labels, label_smoothing)
        parts = {"mlm_loss": mlm.detach(), f"{self.task}_loss": sentence.detach()}
        parts["mlm_nll_loss"] = mlm_parts["nll_loss"]
        return mlm + self.sentence_weight * sentence, parts

    def sentence_counts(self, output: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(correct, total) sentence-level predictions: `val/<task>_acc`."""
        predicted = output.sentence_logits.argmax(-1)
        correct = (predicted == output.sentence_labels).sum()
        return correct, torch.tensor(output.sentence_labels.numel(), device=correct.device)
