"""The objective interface: raw pairs in, token ids for the model out, and the loss.

An objective is the only thing that decides what the model reads, what it must predict,
how that is scored and which validation number picks the best checkpoint; the module,
batcher and backbones never change between objectives. The module calls the hooks below
and nothing else: it never probes a model or an output for attributes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from seq2seq_bench.objectives.smoothed_loss import smoothed_cross_entropy
from seq2seq_bench.types import LABEL_PAD, Example, Tokenizers


def decoder_padding_mask(labels: torch.Tensor) -> torch.Tensor:
    """The decoder positions up to each row's last scored label: where a teacher-forced
    decoder reads real input. A label ignored inside a row (a masked-language-model target)
    still has its input token in the decoder's context, so only the tail is padding."""
    scored = (labels != LABEL_PAD).int()
    width = labels.shape[1]
    past_last = torch.where(scored.any(1), width - scored.flip(1).argmax(1), 0)
    return torch.arange(width, device=labels.device) < past_last[:, None]


def token_ids(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int
) -> list[list[int]]:
    """``tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]``, the same
    ids (a test compares them), 2.5-3x faster for a fast tokenizer: its Rust backend is
    called directly, without building an attention mask and a Python object per text, which
    is most of the time the training data's one scan spends (13 s -> 6 s on Tatoeba), and
    with `encode_batch_fast`, which skips the character offsets nothing here reads (~12 %
    of the encode)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a slow (pure Python) tokenizer
        return [
            list(x) for x in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        ]
    truncation, padding = backend.truncation, backend.padding  # a tokenizer.json may set
    backend.enable_truncation(max_length)  # either (MiniLM's pads): as the call, pad nothing
    backend.no_padding()
    try:
        return [encoding.ids for encoding in backend.encode_batch_fast(texts)]
    finally:
        if truncation is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(**truncation)
        if padding is not None:
            backend.enable_padding(**padding)


class Objective(ABC):
    """Transforms a batch of (source, target) text pairs into model examples."""

    #: True when the objective's output is a translation that BLEU/chrF can score.
    is_translation: bool = False
    #: prepended to every source text (T5's "translate English to French: "); exported
    prefix: str = ""
    #: truncation of the model's input and labels, when the objective truncates them
    max_source_tokens: int | None = None
    max_target_tokens: int | None = None
    #: True when the objective reads adjacent sentences of documents (`DocumentPair`s)
    needs_documents: bool = False
    #: a sentence-level task trained beside any token-level one ("nsp", "sop"): its
    #: accuracy is reported as `val/<task>_acc` from `sentence_counts`
    sentence_task: str | None = None
    #: True when a pair's model input is the same at every epoch (no noise), so that a
    #: frozen encoder's outputs for it can be computed once (`cache_encoder`)
    fixed_inputs: bool = False

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

    def monitor(self) -> tuple[str, str]:
        """The validation metric that picks `best.ckpt`, and `max` or `min`."""
        return ("val/bleu", "max") if self.is_translation else ("val/loss", "min")

    def model_inputs(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """What the model is called with. The decoder reads the labels shifted right behind
        its start token (teacher forcing, as the model itself would shift them); the labels
        are not passed, so the model computes no loss of its own: `loss` below is the one
        trained, and a second cross-entropy per step would be wasted work.

        A model that skips padding (`trains_padding_free`, our Transformer: packing.py) is
        told where the decoder's padding starts; other models keep their own decoder path."""
        inputs = {
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "decoder_input_ids": model.prepare_decoder_input_ids_from_labels(batch["labels"]),
        }
        if getattr(model, "trains_padding_free", False):
            inputs["decoder_attention_mask"] = decoder_padding_mask(batch["labels"])
        return inputs

    def scored_labels(self, output: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The labels the output's logits are scored against (loss, accuracy, perplexity)."""
        return batch["labels"]

    def loss(
        self, output: Any, labels: torch.Tensor, label_smoothing: float
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss, and any parts of it worth logging (`train/<name>`).

        Label-smoothed cross-entropy of the logits (PyTorch's value, a cheaper gradient:
        smoothed_loss.py); the model's own ``output.loss`` is not used, as it carries no
        smoothing. Its token NLL is logged as `train/nll_loss`, comparable to `val/loss`."""
        loss, nll = smoothed_cross_entropy(output.logits, labels, label_smoothing, LABEL_PAD)
        return loss, {"nll_loss": nll}

    def sentence_counts(self, output: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(correct, total) predictions of `sentence_task` in a batch's output."""
        raise NotImplementedError(f"{type(self).__name__} has no sentence-level task")
