"""The one implementation of every score: validation, test, s2s-evaluate and reports all
call these functions, so a number means the same thing wherever it appears.

BLEU and chrF come from sacrebleu on detokenised text, with their signatures kept so
a reader can tell exactly what was computed. Multi-reference scoring pads the reference
streams with None, which sacrebleu reads as "no reference here".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from sacrebleu.metrics import BLEU, CHRF

from seq2seq_bench.data.normalize import normalize_text
from seq2seq_bench.types import LABEL_PAD


@dataclass(frozen=True)
class TextScores:
    bleu: float
    chrf: float
    exact_match: float  # % of hypotheses equal to one of their references (normalised)
    bleu_signature: str
    chrf_signature: str

    def as_dict(self, prefix: str = "") -> dict[str, float | str]:
        return {
            f"{prefix}bleu": self.bleu,
            f"{prefix}chrf": self.chrf,
            f"{prefix}exact_match": self.exact_match,
            f"{prefix}bleu_signature": self.bleu_signature,
            f"{prefix}chrf_signature": self.chrf_signature,
        }


def score_set(
    hypotheses: list[str], references: list[list[str]]
) -> tuple[dict[str, float], dict[str, str]]:
    """A test set's scores as every tool reports them (validation, test, s2s-evaluate):
    against all references and against the first alone, each with its own sacrebleu
    signature (`nrefs:var` or `nrefs:N` for the first, `nrefs:1` for the second)."""
    every = score_texts(hypotheses, references)
    first = score_texts(hypotheses, [refs[:1] for refs in references])
    scores = {
        "bleu": every.bleu,
        "chrf": every.chrf,
        "exact_match": every.exact_match,
        "bleu_first_ref": first.bleu,
        "chrf_first_ref": first.chrf,
    }
    signatures = {
        "bleu": every.bleu_signature,
        "chrf": every.chrf_signature,
        "bleu_first_ref": first.bleu_signature,
        "chrf_first_ref": first.chrf_signature,
    }
    return scores, signatures


def reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """Per-sentence reference lists -> sacrebleu's reference streams, padded with None."""
    width = max((len(r) for r in references), default=0)
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]


def score_texts(hypotheses: list[str], references: list[list[str]]) -> TextScores:
    """Corpus BLEU, chrF and exact match of hypotheses against one or more references each."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        raise ValueError("nothing to score: no hypotheses")
    if any(not refs for refs in references):
        raise ValueError("every hypothesis needs at least one reference")
    streams = reference_streams(references)
    bleu, chrf = BLEU(), CHRF()
    bleu_score = bleu.corpus_score(hypotheses, streams)
    chrf_score = chrf.corpus_score(hypotheses, streams)
    matches = sum(
        normalize_text(h) in {normalize_text(r) for r in refs}
        for h, refs in zip(hypotheses, references, strict=True)
    )
    return TextScores(
        bleu=bleu_score.score,
        chrf=chrf_score.score,
        exact_match=100.0 * matches / len(hypotheses),
        bleu_signature=str(bleu.get_signature()),
        chrf_signature=str(chrf.get_signature()),
    )


def token_counts(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(summed NLL, correct argmax predictions, label tokens) over non-padding labels.

    Sums rather than means, so that batches of different sizes aggregate exactly into a
    corpus-level loss, accuracy and perplexity.
    """
    mask = labels != LABEL_PAD
    nll = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)),
        labels.reshape(-1),
        ignore_index=LABEL_PAD,
        reduction="sum",
    )
    correct = ((logits.argmax(-1) == labels) & mask).sum()
    return nll, correct, mask.sum()


def ratio(total: float, count: float) -> float:
    """A corpus mean from summed counts; NaN when nothing was counted, never a 0 that reads
    as a perfect loss."""
    return total / count if count else float("nan")


def perplexity(mean_nll: float) -> float:
    """exp of the mean per-token NLL; capped so a diverged run reports inf, not an overflow,
    and NaN stays NaN."""
    if math.isnan(mean_nll):
        return mean_nll
    return math.exp(mean_nll) if mean_nll < 50 else float("inf")
