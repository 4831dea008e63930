"""The planned epoch: every training pair exactly once across ranks and dataloader workers,
the same number of steps on every rank, the same number of batches every epoch, and a
resumed epoch continuing where it stopped."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from seq2seq_bench.data.batching import batch_sizes
from seq2seq_bench.data.plan import epoch_batches, rank_steps, worker_steps
from seq2seq_bench.data.tokenizer import train_tokenizer
from seq2seq_bench.data.train_set import PlannedTrainSet
from seq2seq_bench.objectives.translation import TranslationObjective
from seq2seq_bench.types import Tokenizers

PAIRS = [
    (f"Sentence {i} " + "word " * (i % 13), f"Phrase {i} " + "mot " * (i % 7)) for i in range(300)
]


side = st.integers(1, 60)


@given(
    lengths=st.lists(st.tuples(side, side), min_size=1, max_size=200),
    max_tokens=st.integers(1, 300),
    world=st.integers(1, 5),
    workers=st.integers(1, 4),
    epoch=st.integers(0, 3),
)
@settings(max_examples=150, deadline=None)
def test_every_pair_exactly_once_across_ranks_and_workers(
    lengths: list[tuple[int, int]], max_tokens: int, world: int, workers: int, epoch: int
) -> None:
    batches = epoch_batches(lengths, max_tokens, seed=0, epoch=epoch)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert len(batches) == len(epoch_batches(lengths, max_tokens, seed=0, epoch=epoch + 1))
    per_rank = [rank_steps(batches, rank, world) for rank in range(world)]
    assert len({len(steps) for steps in per_rank}) == 1  # no rank waits for another
    seen = Counter(
        i
        for steps in per_rank
        for worker in range(workers)
        for _, batch in worker_steps(steps, worker, workers)
        for i in batch
    )
    assert seen == Counter(range(len(lengths)))


@given(lengths=st.lists(st.tuples(side, side), min_size=2, max_size=100), start=st.integers(0, 50))
@settings(max_examples=100, deadline=None)
def test_a_resumed_epoch_reads_the_remaining_steps_in_order(
    lengths: list[tuple[int, int]], start: int
) -> None:
    steps = rank_steps(epoch_batches(lengths, 100, seed=1, epoch=0), rank=0, world=1)
    workers = 2
    by_worker = [worker_steps(steps, w, workers, start) for w in range(workers)]
    interleaved = [s for pair in zip(*by_worker, strict=False) for s in pair]
    interleaved += by_worker[0][len(by_worker[1]) :]  # the DataLoader's round-robin
    assert interleaved == steps[start:]


def test_batches_respect_the_token_budget() -> None:
    lengths = [(5, 2), (7, 7), (3, 30), (2, 1), (2, 2), (9, 4), (40, 40), (1, 41), (3, 3)]
    for batch in epoch_batches(lengths, 40, seed=0, epoch=0):
        assert len(batch) == 1 or max(max(lengths[i]) for i in batch) * len(batch) <= 40


@pytest.fixture(scope="module")
def tokenizers() -> Tokenizers:
    tok = train_tokenizer([t for p in PAIRS for t in p], vocab_size=400)
    return Tokenizers(tok, tok)


def planned(tokenizers: Tokenizers, rank: int = 0, world: int = 1) -> PlannedTrainSet:
    objective = TranslationObjective()
    lengths = [(len(e.input_ids), len(e.labels)) for e in objective.encode(PAIRS, tokenizers)]
    return PlannedTrainSet(
        PAIRS,
        lengths,
        objective,
        tokenizers,
        max_tokens=120,
        max_sentences=None,
        seed=0,
        rank=rank,
        world_size=world,
    )


def sources(batch: dict[str, torch.Tensor], tokenizers: Tokenizers) -> list[str]:
    return tokenizers.source.batch_decode(batch["input_ids"], skip_special_tokens=True)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("world", [1, 2])
def test_real_dataloaders_read_every_pair_once(
    tokenizers: Tokenizers, world: int, workers: int
) -> None:
    """Through torch's DataLoader with worker processes: nothing dropped, nothing twice."""
    read: Counter[str] = Counter()
    steps = []
    for rank in range(world):
        dataset = planned(tokenizers, rank, world)
        dataset.set_position(epoch=1)
        batches = list(DataLoader(dataset, batch_size=None, num_workers=workers))
        assert len(batches) == len(dataset)
        steps.append(len(batches))
        for batch in batches:
            if int(batch["pairs"]):
                read.update(s.strip() for s in sources(batch, tokenizers))
    assert len(set(steps)) == 1
    assert read == Counter(s.strip() for s, _ in PAIRS)


def test_the_same_steps_in_the_same_order_with_or_without_workers(tokenizers: Tokenizers) -> None:
    dataset = planned(tokenizers)
    dataset.set_position(epoch=2, start=3)
    plain = [sources(b, tokenizers) for b in DataLoader(dataset, batch_size=None)]
    workers = [sources(b, tokenizers) for b in DataLoader(dataset, batch_size=None, num_workers=2)]
    assert plain == workers and len(plain) == len(dataset) - 3


def test_position_is_saved_and_restored_once() -> None:
    from seq2seq_bench.data.datamodule import TranslationDataModule

    module = TranslationDataModule.__new__(TranslationDataModule)
    progress = SimpleNamespace(current=SimpleNamespace(processed=7))
    module.trainer = SimpleNamespace(
        current_epoch=3,
        num_training_batches=10,
        fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)),
    )
    state = module.state_dict()
    assert state == {"epoch": 3, "step": 7}
    module.load_state_dict(state)
    assert module._next_position() == (3, 7)
    assert module._next_position() == (3, 0)  # only the epoch that was interrupted


@given(
    lengths=st.lists(st.tuples(side, side), min_size=1, max_size=300),
    max_tokens=st.integers(1, 300),
    seed=st.integers(0, 3),
)
@settings(max_examples=60, deadline=None)
def test_the_plan_is_the_sort_by_longest_side_with_random_ties(
    lengths: list[tuple[int, int]], max_tokens: int, seed: int
) -> None:
    """The numpy sort makes the very plan of its pure-Python definition (same batches, same
    order), so a seed's runs are the same as before it."""
    rng = random.Random(f"plan/{seed}/0")
    tie = list(range(len(lengths)))
    rng.shuffle(tie)
    order = sorted(range(len(lengths)), key=lambda i: (max(lengths[i]), tie[i]))
    expected, start = [], 0
    for size in batch_sizes([max(lengths[i]) for i in order], max_tokens, None):
        expected.append(order[start : start + size])
        start += size
    rng.shuffle(expected)
    assert epoch_batches(lengths, max_tokens, seed=seed, epoch=0) == expected


def test_the_kept_plan_is_never_a_stale_one() -> None:
    """Start-up asks for the same plan several times and gets the kept one back; any other
    epoch, setting or lengths (even the same list grown) is planned afresh."""
    lengths = [(n % 7 + 1, n % 5 + 1) for n in range(300)]
    first = epoch_batches(lengths, 40, seed=0, epoch=0)
    assert epoch_batches(lengths, 40, seed=0, epoch=0) == first
    assert epoch_batches(lengths, 40, seed=0, epoch=1) != first
    assert epoch_batches(list(lengths), 40, seed=0, epoch=0) == first  # a copy: recomputed
    lengths.append((3, 3))
    grown = epoch_batches(lengths, 40, seed=0, epoch=0)
    assert sorted(i for batch in grown for i in batch) == list(range(301))
