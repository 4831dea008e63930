"""How fast each objective turns text into examples, against plain translation encoding
(tokenizing both sides) on the same pairs: the data-side cost of pretraining objectives,
which run inside every dataloader worker."""

from __future__ import annotations

import time

import numpy as np

from seq2seq_bench.data.corpora import SampleCorpus
from seq2seq_bench.data.tokenizer import train_tokenizer
from seq2seq_bench.objectives.bart import BartDenoisingObjective
from seq2seq_bench.objectives.base import Objective
from seq2seq_bench.objectives.electra import ElectraObjective
from seq2seq_bench.objectives.mlm import MaskedLMObjective
from seq2seq_bench.objectives.span_corruption import SpanCorruptionObjective
from seq2seq_bench.objectives.translation import TranslationObjective
from seq2seq_bench.types import Tokenizers

OBJECTIVES: dict[str, Objective] = {
    "span_corruption": SpanCorruptionObjective(),
    "bart": BartDenoisingObjective(),
    "mlm": MaskedLMObjective(pack_tokens=128),
    "electra": ElectraObjective(),
}


def _seconds(objective: Objective, pairs, tokenizers: Tokenizers, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):  # best of n: the least disturbed by other work
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for i in range(0, len(pairs), 512):  # the stream's encode chunk
            objective.encode(pairs[i : i + 512], tokenizers, rng)
        best = min(best, time.perf_counter() - start)
    return best


def measure(repeats: int = 3) -> dict[str, dict[str, float]]:
    pairs = list(SampleCorpus().iter_pairs())
    tokenizer = train_tokenizer([t for pair in pairs for t in pair], vocab_size=4000)
    tokenizers = Tokenizers(tokenizer, tokenizer)
    peer = _seconds(TranslationObjective(), pairs, tokenizers, repeats)
    rows = {"translation (peer)": {"pairs_per_sec": len(pairs) / peer, "ratio": 1.0}}
    for name, objective in OBJECTIVES.items():
        seconds = _seconds(objective, pairs, tokenizers, repeats)
        rows[name] = {"pairs_per_sec": len(pairs) / seconds, "ratio": peer / seconds}
    return rows
