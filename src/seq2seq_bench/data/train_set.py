"""The training data of one process: its share of an epoch's plan, encoded batch by batch.

See `plan.py` for why an epoch is a plan. This class runs it: in each dataloader worker it
computes the epoch's batches, keeps this rank's and this worker's steps from the resume
position on, and encodes each batch with the objective (noise seeded by seed, epoch and
batch number, so the same batch gets the same noise in any process). A batch carries
`pairs`, the number of training pairs in it: 0 marks a rank's empty step.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from seq2seq_bench.data.batching import collate
from seq2seq_bench.data.plan import epoch_batches, rank_steps, steps_per_epoch, worker_steps
from seq2seq_bench.objectives.base import Objective
from seq2seq_bench.types import LABEL_PAD, Tokenizers


class PlannedTrainSet(torch.utils.data.IterableDataset):
    def __init__(
        self,
        pairs: list[tuple[str, str]],
        lengths: list[tuple[int, int]],
        objective: Objective,
        tokenizers: Tokenizers,
        *,
        max_tokens: int,
        max_sentences: int | None,
        seed: int,
        rank: int,
        world_size: int,
    ) -> None:
        if not pairs:
            raise ValueError("no training pairs to plan an epoch with")
        self.pairs, self.lengths = pairs, lengths
        self.objective, self.tokenizers = objective, tokenizers
        self.max_tokens, self.max_sentences = max_tokens, max_sentences
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch, self.start = 0, 0
        # the same for every epoch: batch sizes depend on the sorted lengths only
        self.steps = steps_per_epoch(len(self.batches(0)), world_size)

    def batches(self, epoch: int) -> list[list[int]]:
        return epoch_batches(self.lengths, self.max_tokens, self.seed, epoch, self.max_sentences)

    def set_position(self, epoch: int, start: int = 0) -> None:
        """Where the next iteration starts: ``start`` steps into ``epoch`` (a resume)."""
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        worker = torch.utils.data.get_worker_info()
        worker_id, workers = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        steps = rank_steps(self.batches(self.epoch), self.rank, self.world_size)
        for number, batch in worker_steps(steps, worker_id, workers, self.start):
            yield self.encode(number, batch)

    def encode(self, number: int, batch: list[int]) -> dict[str, torch.Tensor]:
        pad = self.tokenizers.source.pad_token_id
        if not batch:
            return empty_step(pad)
        noise = np.random.default_rng([self.seed, self.epoch, number])
        examples = self.objective.encode([self.pairs[i] for i in batch], self.tokenizers, noise)
        # pair_ids: which training pairs these are (the encoder cache is indexed by them)
        extra = {"pairs": torch.tensor(len(batch)), "pair_ids": torch.tensor(batch)}
        return collate(examples, pad) | extra


def empty_step(pad: int) -> dict[str, torch.Tensor]:
    """A one-token batch with no pair in it: the module takes a zero-gradient step on it, so
    that a rank without a batch in an epoch's last round keeps step with the others."""
    one = torch.ones((1, 1), dtype=torch.long)
    return {
        "input_ids": one * pad,
        "attention_mask": one,
        "labels": one * LABEL_PAD,
        "index": torch.zeros(1, dtype=torch.long),
        "pairs": torch.tensor(0),
    }
