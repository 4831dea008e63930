"""Next-sentence and sentence-order prediction: documents read as adjacent pairs, and the
pairs the objectives build from them (property tests with hypothesis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from seq2seq_bench.data.corpora import ReadStats, SampleCorpus, TextFilesCorpus
from seq2seq_bench.data.split import split_of
from seq2seq_bench.data.tokenizer import train_tokenizer
from seq2seq_bench.models.bert_encoder import minilm_dir
from seq2seq_bench.objectives.sentence_pairs import SentencePairObjective, pair_frame
from seq2seq_bench.types import DocumentPair, Tokenizers, split_text

WORDS = sorted({w for s, _ in list(SampleCorpus().iter_pairs())[:2000] for w in s.split()})
TOK = train_tokenizer([" ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS), 3)], 600)
OURS = Tokenizers(TOK, TOK)
MINILM = AutoTokenizer.from_pretrained(str(minilm_dir()))
BERT = Tokenizers(MINILM, TOK)  # bert_encoder: WordPiece [CLS]/[SEP] in, our BPE out
TOKENIZERS = {"ours": OURS, "minilm": BERT}

sentence = st.lists(st.sampled_from(WORDS[:300]), min_size=1, max_size=8).map(" ".join)
documents_strategy = st.lists(st.lists(sentence, min_size=1, max_size=6), min_size=2, max_size=12)


def adjacent_pairs(documents: list[list[str]]) -> list[DocumentPair]:
    return [
        DocumentPair(a, b, f"doc{d}")
        for d, document in enumerate(documents)
        for a, b in zip(document, document[1:], strict=False)
    ]


def sentence_ids(tokenizers: Tokenizers, text: str, objective: SentencePairObjective) -> tuple:
    cls, _ = pair_frame(tokenizers.source, "test")
    half = max(1, (objective.max_tokens - len(cls) - 2) // 2)
    ids = tokenizers.source(text, add_special_tokens=False, truncation=True, max_length=half)
    return tuple(ids["input_ids"])


def split_example(input_ids: list[int], segments: list[int], cls: list[int], sep: int):
    """(A ids, B ids) of `[CLS] A [SEP] B [SEP]`, checking the framing and the segments."""
    assert input_ids[: len(cls)] == cls and input_ids[-1] == sep
    first_b = segments.index(1)
    assert input_ids[first_b - 1] == sep  # segment 0 ends with the first [SEP]
    assert segments == [0] * first_b + [1] * (len(input_ids) - first_b)
    return input_ids[len(cls) : first_b - 1], input_ids[first_b:-1]


# -- the document reader ------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(documents=documents_strategy, blank_lines=st.integers(1, 3), shards=st.integers(1, 3))
def test_document_pairs_are_adjacent_and_never_cross_a_document(
    tmp_path_factory: pytest.TempPathFactory,
    documents: list[list[str]],
    blank_lines: int,
    shards: int,
) -> None:
    path = tmp_path_factory.mktemp("docs") / "docs.txt"
    path.write_text(("\n" * (blank_lines + 1)).join("\n".join(d) for d in documents) + "\n")
    corpus = TextFilesCorpus(str(path), documents=True)
    stats = ReadStats()
    pairs = [p for shard in range(shards) for p in corpus.iter_pairs(shard, shards, stats)]
    expected, line = [], 1
    for document in documents:  # each pair named by the line its document starts on
        name = f"docs.txt:{line}"
        expected += [(a, b, name) for a, b in zip(document, document[1:], strict=False)]
        line += len(document) + blank_lines
    assert sorted((a, b, p.document) for p in pairs for a, b in [p]) == sorted(expected)
    assert len(pairs) == stats.kept
    singles = sum(len(d) == 1 for d in documents)
    assert stats.skipped.get("one-sentence document (no adjacent pair)", 0) == singles


def test_a_document_is_split_whole_and_a_file_end_ends_one(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("One.\nTwo.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Three.\nFour.\n\nFive.\nSix.\nSeven.\n", encoding="utf-8")
    corpus = TextFilesCorpus([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], documents=True)
    pairs = list(corpus.iter_pairs())
    assert [tuple(p) for p in pairs] == [
        ("One.", "Two."),
        ("Three.", "Four."),
        ("Five.", "Six."),
        ("Six.", "Seven."),
    ]
    assert [p.document for p in pairs] == ["a.txt:1", "b.txt:1", "b.txt:4", "b.txt:4"]
    assert {split_of(split_text(p), 0.3, 0.3) for p in pairs[2:]} == {split_of("b.txt:4", 0.3, 0.3)}
    assert corpus.has_documents and not TextFilesCorpus(str(tmp_path / "a.txt")).has_documents


# -- the pairs the objectives make --------------------------------------------------------
@pytest.mark.parametrize("tokenizer", TOKENIZERS)
@settings(max_examples=40, deadline=None)
@given(documents=documents_strategy, seed=st.integers(0, 2**32 - 1))
def test_nsp_negatives_come_from_another_document_and_are_never_the_true_next(
    tokenizer: str, documents: list[list[str]], seed: int
) -> None:
    tokenizers = TOKENIZERS[tokenizer]
    pairs = adjacent_pairs(documents)
    if len({p.document for p in pairs}) < 2:
        return
    objective = SentencePairObjective("nsp", positive_rate=0.5)
    examples = objective.encode(pairs, tokenizers, np.random.default_rng(seed))
    cls, sep = pair_frame(tokenizers.source, "nsp")
    ids_of = {}  # sentence ids -> the documents it occurs in
    for d, document in enumerate(documents):
        for text in document:
            ids_of.setdefault(sentence_ids(tokenizers, text, objective), set()).add(f"doc{d}")
    for pair, example in zip(pairs, examples, strict=True):
        first, second = split_example(example.input_ids, example.segments, cls, sep)
        assert tuple(first) == sentence_ids(tokenizers, pair[0], objective)
        true_next = sentence_ids(tokenizers, pair[1], objective)
        if example.sentence_label == 1:
            assert tuple(second) == true_next
        else:
            assert tuple(second) != true_next
            assert ids_of[tuple(second)] - {pair.document}  # occurs in another document
        assert example.labels == [example.sentence_label]  # no MLM: the label alone


@pytest.mark.parametrize("tokenizer", TOKENIZERS)
@settings(max_examples=40, deadline=None)
@given(documents=documents_strategy, seed=st.integers(0, 2**32 - 1))
def test_sop_swaps_exactly_the_pairs_it_labels_swapped(
    tokenizer: str, documents: list[list[str]], seed: int
) -> None:
    tokenizers = TOKENIZERS[tokenizer]
    pairs = adjacent_pairs(documents)
    objective = SentencePairObjective("sop")
    cls, sep = pair_frame(tokenizers.source, "sop")
    for pair, example in zip(
        pairs, objective.encode(pairs, tokenizers, np.random.default_rng(seed)), strict=True
    ):
        first, second = split_example(example.input_ids, example.segments, cls, sep)
        a, b = (sentence_ids(tokenizers, t, objective) for t in pair)
        expected = (a, b) if example.sentence_label == 1 else (b, a)
        assert (tuple(first), tuple(second)) == expected


@pytest.mark.parametrize("task", ["nsp", "sop"])
@pytest.mark.parametrize("rate", [0.2, 0.5, 0.9])
def test_the_realised_positive_rate_is_the_configured_one(task: str, rate: float) -> None:
    documents = [[f"{WORDS[d]} {WORDS[i]}" for i in range(6)] for d in range(400)]
    pairs = adjacent_pairs(documents)  # 2,000 pairs
    objective = SentencePairObjective(task, positive_rate=rate)
    labels = [
        e.sentence_label
        for start in range(0, len(pairs), 100)  # batches, as training encodes them
        for e in objective.encode(pairs[start : start + 100], OURS, np.random.default_rng(start))
    ]
    sigma = (rate * (1 - rate) / len(labels)) ** 0.5
    assert abs(np.mean(labels) - rate) < 4 * sigma
    assert objective.kept_in_order == 0
    # evaluation (no rng): the same labels every time, and the same rate
    once = [e.sentence_label for e in objective.encode(pairs, OURS)]
    assert once == [e.sentence_label for e in objective.encode(pairs, OURS)]
    assert abs(np.mean(once) - rate) < 4 * sigma


@pytest.mark.parametrize("tokenizer", TOKENIZERS)
@settings(max_examples=30, deadline=None)
@given(documents=documents_strategy, seed=st.integers(0, 2**32 - 1))
def test_mlm_noise_never_touches_the_framing_and_the_target_is_the_clean_pair(
    tokenizer: str, documents: list[list[str]], seed: int
) -> None:
    tokenizers = TOKENIZERS[tokenizer]
    pairs = adjacent_pairs(documents)
    objective = SentencePairObjective("sop", mask_rate=1.0, mask_fraction=0.5, random_fraction=0.5)
    cls, sep = pair_frame(tokenizers.source, "sop")
    special = set(tokenizers.source.all_special_ids) - {tokenizers.source.mask_token_id}
    for pair, example in zip(
        pairs, objective.encode(pairs, tokenizers, np.random.default_rng(seed)), strict=True
    ):
        first, second = split_example(example.input_ids, example.segments, cls, sep)
        assert not (set(first) | set(second)) & special  # every token noised, no frame token
        a, b = pair if example.sentence_label == 1 else pair[::-1]
        clean = tokenizers.target(f"{a} {b}", truncation=True, max_length=objective.max_tokens)
        assert example.labels == clean["input_ids"]


def test_a_batch_with_one_document_keeps_its_pairs_in_order_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pairs = adjacent_pairs([["a b", "c d", "e f", "g h"]])
    objective = SentencePairObjective("nsp", positive_rate=0.0)
    examples = objective.encode(pairs, OURS, np.random.default_rng(0))
    assert [e.sentence_label for e in examples] == [1, 1, 1]
    assert objective.kept_in_order == 3 and "kept in order" in caplog.text


def test_pairs_without_documents_are_refused() -> None:
    with pytest.raises(ValueError, match="needs documents"):
        SentencePairObjective("nsp").encode([("Hello.", "Bonjour.")], OURS)
    with pytest.raises(ValueError, match="objective.task='nope'"):
        SentencePairObjective("nope")
