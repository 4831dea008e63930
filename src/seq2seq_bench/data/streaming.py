"""The training stream: corpus -> `datasets` IterableDataset -> objective -> token batches.

`datasets` does the distributed plumbing: line shards are split across DDP ranks
(`split_dataset_by_node`) and across dataloader workers (automatically, inside each
worker), and shuffled with a buffer seeded by seed + epoch. This stream then encodes
pairs in chunks and cuts length-bucketed token-budget batches.

The stream never runs dry: it starts another pass over the data when one ends, and
`__len__` says how many batches make one epoch (one pass, estimated in setup). Every DDP
rank therefore runs the same number of steps per epoch, which a finite stream of
token-budget batches cannot guarantee (uneven ranks hang DDP).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import datasets
import numpy as np
import torch
from datasets.distributed import split_dataset_by_node

from seq2seq_bench.data.batching import bucketed_batches, collate
from seq2seq_bench.data.corpora import Corpus
from seq2seq_bench.data.split import split_of
from seq2seq_bench.objectives.base import Example, Objective, Tokenizers


def _pairs_of_split(
    corpus: Corpus,
    shards: list[int],
    num_shards: int,
    split: str,
    val: float,
    test: float,
    salt: str,
) -> Iterator[dict[str, str]]:
    for shard in shards:
        for source, target in corpus.iter_pairs(shard, num_shards):
            if split_of(source, val, test, salt) == split:
                yield {"source": source, "target": target}


class TrainStream(torch.utils.data.IterableDataset):
    def __init__(
        self,
        corpus: Corpus,
        objective: Objective,
        tokenizers: Tokenizers,
        *,
        val_fraction: float,
        test_fraction: float,
        split_salt: str,
        max_tokens: int,
        max_sentences: int | None,
        bucket_size: int,
        shuffle_buffer: int,
        num_shards: int,
        seed: int,
        rank: int,
        world_size: int,
        batches_per_epoch: int,
        encode_chunk: int = 512,
    ) -> None:
        self.objective, self.tokenizers = objective, tokenizers
        self.max_tokens, self.max_sentences, self.bucket_size = (
            max_tokens,
            max_sentences,
            bucket_size,
        )
        self.seed, self.rank, self.batches_per_epoch = seed, rank, batches_per_epoch
        self.encode_chunk = encode_chunk
        self.epoch = 0
        stream = datasets.IterableDataset.from_generator(
            _pairs_of_split,
            gen_kwargs={
                "corpus": corpus,
                "shards": list(range(num_shards)),
                "num_shards": num_shards,
                "split": "train",
                "val": val_fraction,
                "test": test_fraction,
                "salt": split_salt,
            },
        )
        if world_size > 1:
            stream = split_dataset_by_node(stream, rank=rank, world_size=world_size)
        self.stream = stream.shuffle(seed=seed, buffer_size=shuffle_buffer)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches_per_epoch

    def _examples(
        self, data_pass: int, noise: np.random.Generator | None = None
    ) -> Iterator[Example]:
        # Passes after the first in one epoch happen only when the estimate ran short;
        # they get their own shuffle so that no batch sequence repeats.
        self.stream.set_epoch(self.epoch * 1_000 + data_pass)
        rows = iter(self.stream)
        while chunk := list(itertools.islice(rows, self.encode_chunk)):
            pairs = [(row["source"], row["target"]) for row in chunk]
            yield from self.objective.encode(pairs, self.tokenizers, noise)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        worker = torch.utils.data.get_worker_info()
        worker_id = worker.id if worker is not None else 0
        pad = self.tokenizers.source.pad_token_id
        for data_pass in itertools.count():
            key = [self.seed, self.epoch, data_pass, self.rank, worker_id]
            rng = random.Random("/".join(map(str, key)))
            noise = np.random.default_rng(key)  # the objective's noise (pretraining)
            batches = bucketed_batches(
                self._examples(data_pass, noise),
                self.max_tokens,
                self.bucket_size,
                rng,
                self.max_sentences,
            )
            empty = True
            for batch in batches:
                empty = False
                yield collate(batch, pad)
            if empty:
                raise RuntimeError(
                    "the training split is empty for this rank/worker: use more data, fewer "
                    "dataloader workers, or a larger data.num_shards"
                )
