from __future__ import annotations

import random
import statistics

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq_bench.data.batching import collate, example_cost, token_budget_batches
from seq2seq_bench.data.plan import epoch_batches
from seq2seq_bench.types import LABEL_PAD, Example

lengths = st.lists(st.tuples(st.integers(1, 60), st.integers(1, 60)), min_size=1, max_size=300)


def _examples(sizes: list[tuple[int, int]]) -> list[Example]:
    return [Example([7] * s, [9] * t, i) for i, (s, t) in enumerate(sizes)]


@settings(max_examples=60, deadline=None)
@given(lengths, st.integers(60, 1000))
def test_batches_respect_budget_and_keep_every_example(
    sizes: list[tuple[int, int]], budget: int
) -> None:
    examples = _examples(sizes)
    batches = token_budget_batches(examples, budget)
    assert sorted(e.index for b in batches for e in b) == list(range(len(examples)))
    for batch in batches:
        padded = len(batch) * max(example_cost(e) for e in batch)
        assert padded <= budget or len(batch) == 1


def _translation_lengths(count: int) -> list[tuple[int, int]]:
    """Targets up to 5 tokens shorter or longer than their sources, as translations are."""
    rng = random.Random(0)
    sources = [rng.randint(3, 40) for _ in range(count)]
    return [(s, max(1, s + rng.randint(-5, 5))) for s in sources]


def test_the_epoch_plan_keeps_padding_small_on_the_longest_side() -> None:
    lengths = _translation_lengths(20_000)
    batches = epoch_batches(lengths, 1024, seed=0, epoch=0)
    padded = sum(len(b) * max(max(lengths[i]) for i in b) for b in batches)
    assert sum(max(pair) for pair in lengths) / padded > 0.97


def test_training_batch_mates_differ_on_the_shorter_side() -> None:
    """Batches of one (source, target) length class taught the sample run slower per step
    (`plan.epoch_batches`): within a training batch the source-target difference varies as
    much as in the corpus. Sorted on both sides, as evaluation is, it would hardly vary."""
    lengths = _translation_lengths(20_000)
    corpus = statistics.pvariance([s - t for s, t in lengths])
    batches = [b for b in epoch_batches(lengths, 1024, seed=0, epoch=0) if len(b) > 1]
    within = statistics.mean(
        statistics.pvariance([lengths[i][0] - lengths[i][1] for i in b]) for b in batches
    )
    assert within > 0.5 * corpus


def test_max_sentences_caps_batch_size() -> None:
    batches = token_budget_batches(_examples([(2, 2)] * 50), 10_000, max_sentences=8)
    assert max(len(b) for b in batches) == 8


def test_collate_pads_labels_with_minus_100_and_inputs_with_pad() -> None:
    batch = collate(
        [Example([5, 6, 1], [7, 1], 0), Example([5, 1], [7, 8, 9, 1], 1)], pad_token_id=0
    )
    assert batch["input_ids"].tolist() == [[5, 6, 1], [5, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[7, 1, LABEL_PAD, LABEL_PAD], [7, 8, 9, 1]]
    assert batch["index"].tolist() == [0, 1]
    assert batch["labels"].dtype == torch.long
