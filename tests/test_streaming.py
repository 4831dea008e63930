"""The train stream: disjoint and complete across DDP ranks and dataloader workers,
reshuffled per epoch under a seed, batched under the token budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from seq2seq_bench.data.corpora import TsvCorpus
from seq2seq_bench.data.split import split_of
from seq2seq_bench.data.streaming import TrainStream
from seq2seq_bench.data.tokenizer import train_tokenizer
from seq2seq_bench.objectives.base import Tokenizers
from seq2seq_bench.objectives.translation import TranslationObjective

PAIRS = [(f"Sentence number {i} is here.", f"La phrase numéro {i} est ici.") for i in range(400)]


class OnePass(TrainStream):
    """One pass over the data, yielding source texts: what each rank/worker reads."""

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        tok = self.tokenizers.source
        for example in self._examples(0):
            yield tok.decode(example.input_ids, skip_special_tokens=True)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[TsvCorpus, Tokenizers]:
    path = tmp_path_factory.mktemp("stream") / "pairs.tsv"
    path.write_text("".join(f"{en}\t{fr}\n" for en, fr in PAIRS), encoding="utf-8")
    tok = train_tokenizer([t for p in PAIRS for t in p], vocab_size=400)
    return TsvCorpus(path), Tokenizers(tok, tok)


def _stream(setup, cls=TrainStream, rank=0, world_size=1, seed=0, max_tokens=256) -> TrainStream:
    corpus, tokenizers = setup
    return cls(
        corpus,
        TranslationObjective(),
        tokenizers,
        val_fraction=0.1,
        test_fraction=0.1,
        split_salt="",
        max_tokens=max_tokens,
        max_sentences=None,
        bucket_size=64,
        shuffle_buffer=50,
        num_shards=8,
        seed=seed,
        rank=rank,
        world_size=world_size,
        batches_per_epoch=5,
    )


def _train_sources() -> list[str]:
    return sorted(en for en, _ in PAIRS if split_of(en, 0.1, 0.1) == "train")


def test_ranks_read_disjoint_parts_that_cover_the_train_split(setup) -> None:
    parts = [list(_stream(setup, OnePass, rank=r, world_size=2)) for r in range(2)]
    assert parts[0] and parts[1]
    assert not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == _train_sources()


def test_dataloader_workers_read_disjoint_parts(setup) -> None:
    loader = DataLoader(_stream(setup, OnePass), batch_size=None, num_workers=2)
    seen = list(loader)
    assert sorted(seen) == _train_sources()  # no duplicates, nothing lost


def test_shuffle_is_seeded_and_changes_with_epoch(setup) -> None:
    def order(seed: int, epoch: int) -> list[str]:
        stream = _stream(setup, OnePass, seed=seed)
        stream.set_epoch(epoch)
        return list(stream)

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1)
    assert order(0, 0) != order(1, 0)
    assert sorted(order(0, 1)) == _train_sources()


def test_batches_fit_the_budget_and_the_stream_keeps_going(setup) -> None:
    stream = _stream(setup, max_tokens=256)
    assert len(stream) == 5
    batches = []
    for batch in stream:  # runs past one pass: the stream never runs dry
        batches.append(batch)
        if len(batches) == 60:
            break
    assert len(batches) == 60
    for batch in batches:
        rows, width = batch["input_ids"].shape
        assert rows * max(width, batch["labels"].shape[1]) <= 256 or rows == 1
        assert (batch["labels"] == -100).sum() == (batch["labels"] < 0).sum()
        assert torch.equal(batch["attention_mask"].bool(), batch["input_ids"] != 0)


def test_empty_train_split_is_a_clear_error(tmp_path: Path, setup) -> None:
    _, tokenizers = setup
    path = tmp_path / "one.tsv"
    path.write_text("Hello.\tBonjour.\n", encoding="utf-8")
    stream = TrainStream(
        TsvCorpus(path),
        TranslationObjective(),
        tokenizers,
        val_fraction=0.0,
        test_fraction=0.0,
        split_salt="",
        max_tokens=256,
        max_sentences=None,
        bucket_size=8,
        shuffle_buffer=4,
        num_shards=2,
        seed=0,
        rank=1,
        world_size=2,
        batches_per_epoch=1,
    )
    with pytest.raises(RuntimeError, match="training split is empty"):
        next(iter(stream))
