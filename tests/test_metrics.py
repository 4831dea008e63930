from __future__ import annotations

import math

import pytest
import sacrebleu
import torch

from seq2seq_bench.metrics import (
    perplexity,
    ratio,
    reference_streams,
    score_set,
    score_texts,
    token_counts,
)

HYPS = ["Le chat est noir.", "Il fait beau aujourd'hui.", "Je vais à la gare."]
REFS = [["Le chat est noir."], ["Il fait très beau aujourd'hui."], ["Je me rends à la gare."]]


def test_single_reference_scores_equal_sacrebleu() -> None:
    scores = score_texts(HYPS, REFS)
    streams = [[r[0] for r in REFS]]
    assert scores.bleu == pytest.approx(sacrebleu.corpus_bleu(HYPS, streams).score)
    assert scores.chrf == pytest.approx(sacrebleu.corpus_chrf(HYPS, streams).score)
    assert scores.exact_match == pytest.approx(100 / 3)
    assert "nrefs:1" in scores.bleu_signature and "nc:6" in scores.chrf_signature


def test_multi_reference_uses_every_reference() -> None:
    refs = [REFS[0], REFS[1] + ["Il fait beau aujourd'hui."], REFS[2]]
    multi = score_texts(HYPS, refs)
    single = score_texts(HYPS, [r[:1] for r in refs])
    assert multi.bleu > single.bleu
    assert multi.exact_match == pytest.approx(200 / 3)
    assert "nrefs:var" in multi.bleu_signature
    streams = reference_streams(refs)
    assert streams[1] == [None, "Il fait beau aujourd'hui.", None]


def test_perfect_and_empty_hypotheses() -> None:
    assert score_texts(
        ["Le chat est noir."] * 2, [["Le chat est noir."]] * 2
    ).bleu == pytest.approx(100)
    assert score_texts(["", ""], [["Le chat."], ["Un chien."]]).bleu == 0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        score_texts(["a"], [])
    with pytest.raises(ValueError):
        score_texts(["a"], [[]])


def test_token_counts_ignore_padding() -> None:
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [9.0, 0.0, 0.0]]])
    labels = torch.tensor([[0, 2, -100]])
    nll, correct, tokens = token_counts(logits, labels)
    expected = torch.nn.functional.cross_entropy(logits[0, :2], labels[0, :2], reduction="sum")
    assert nll.item() == pytest.approx(expected.item())
    assert (correct.item(), tokens.item()) == (1, 2)
    assert perplexity(math.log(4.0)) == pytest.approx(4.0)
    assert perplexity(1000.0) == float("inf")
    assert math.isnan(perplexity(float("nan")))  # not inf: a NaN loss is no measurement


def test_a_mean_over_nothing_is_nan_not_zero() -> None:
    assert ratio(6.0, 3.0) == 2.0
    assert math.isnan(ratio(0.0, 0.0))  # an empty set's loss would read 0.0, a perfect score


def test_a_set_keeps_one_signature_per_score() -> None:
    """Multi-reference BLEU is labelled nrefs:var, first-reference BLEU nrefs:1."""
    scores, signatures = score_set(["a b c d", "e f g h"], [["a b c d", "x"], ["e f g h"]])
    assert scores["bleu"] == pytest.approx(100.0) and scores["bleu_first_ref"] == pytest.approx(
        100.0
    )
    assert "nrefs:var" in signatures["bleu"] and "nrefs:1" in signatures["bleu_first_ref"]
