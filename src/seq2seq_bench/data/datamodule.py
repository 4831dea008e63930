"""The LightningDataModule: tokenizer, one scan of the corpus, the planned train set, eval sets.

`setup` reads the corpus once (`scan.py`, cached between runs) in order to (1) count kept
and skipped lines per split, (2) hold the validation and test splits and the training pairs
in memory, (3) measure each training pair's length in tokens, from which every epoch is planned
(`plan.py`). Skipped lines are reported there, once per run. The position in the epoch is saved in every checkpoint (`state_dict`)
and a resumed run continues from it.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from seq2seq_bench.data.batching import collate, token_budget_batches
from seq2seq_bench.data.corpora import Corpus, EmptyDataError
from seq2seq_bench.data.evalset import EvalSet, eval_sets
from seq2seq_bench.data.scan import CorpusScan, cached_scan, read_split, scan, scan_key
from seq2seq_bench.data.split import split_of
from seq2seq_bench.data.tokenizer import cache_key, load_or_train
from seq2seq_bench.data.train_set import PlannedTrainSet
from seq2seq_bench.objectives.base import Objective
from seq2seq_bench.types import Tokenizers, split_text

log = logging.getLogger(__name__)
# Lightning warns that an IterableDataset's __len__ "could be inaccurate" with several
# workers, in case each would yield every batch. PlannedTrainSet's workers split the rank's
# steps (`plan.worker_steps`) and its length is that step count whatever the workers:
# every pair once per epoch (tests/test_ddp.py). The warning would only alarm users.
warnings.filterwarnings("ignore", message="Your `IterableDataset` has `__len__` defined")


class PositionedLoader(DataLoader):
    """Tells the train set where to start each time Lightning starts iterating: step 0 of
    the current epoch, or, once after a resume, the step the checkpoint was saved at.

    Lightning creates the train iterator after `current_epoch` is set (also when it
    resumes from a checkpoint), so reading it here gives every epoch its own plan.
    """

    def __init__(self, *args: Any, position: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.position = position  # () -> (epoch, first step)

    def __iter__(self):  # type: ignore[override]
        self.dataset.set_position(*self.position())
        return super().__iter__()


class TranslationDataModule(L.LightningDataModule):
    def __init__(
        self,
        corpus: Corpus,
        objective: Objective,
        *,
        extra_test_sets: dict[str, Corpus] | None = None,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        split_salt: str = "",
        vocab_size: int = 8000,
        tokenizer_algorithm: str = "bpe",
        tokenizer_min_frequency: int = 2,
        max_tokens: int = 4096,
        max_sentences: int | None = None,
        eval_max_tokens: int = 8192,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str = ".cache",
        max_eval_pairs: int | None = None,
        strict: bool = False,
        choose_tokenizers: Callable[[Callable[[], Tokenizers]], Tokenizers] | None = None,
    ) -> None:
        """``choose_tokenizers``: the backbone's choice (`Backbone.tokenizers`), given the
        corpus tokenizer as a zero-argument callable; without one the data reads with the
        corpus tokenizer."""
        super().__init__()
        self.corpus, self.objective = corpus, objective
        self.extra_test_sets = dict(extra_test_sets or {})
        self.val_fraction, self.test_fraction, self.split_salt = (
            val_fraction,
            test_fraction,
            split_salt,
        )
        self.vocab_size, self.tokenizer_algorithm = vocab_size, tokenizer_algorithm
        self.tokenizer_min_frequency = tokenizer_min_frequency
        self.max_tokens, self.max_sentences, self.eval_max_tokens = (
            max_tokens,
            max_sentences,
            eval_max_tokens,
        )
        self.num_workers, self.seed, self.cache_dir = num_workers, seed, cache_dir
        self.max_eval_pairs = max_eval_pairs
        self.strict = strict  # applied by the corpus configs; kept here for the record
        self.choose_tokenizers = choose_tokenizers
        self._corpus_tokenizers: Tokenizers | None = None
        self._tokenizers: Tokenizers | None = None
        self.tokenizer_dir: Path | None = None
        self.eval_sets: dict[str, EvalSet] = {}
        self.stats: dict[str, Any] = {}
        self._train_pairs: list[tuple[str, str]] = []
        self._train_lengths: list[tuple[int, int]] = []
        self._resume: dict[str, int] | None = None  # the epoch and step a checkpoint saved
        self._read_corpus: CorpusScan | None = None  # between the tokenizer and the scan

    # -- tokenizer ----------------------------------------------------------------------
    def _split(self, pair: tuple[str, str]) -> str:
        """By the source sentence, or by the whole document for a document corpus."""
        return split_of(split_text(pair), self.val_fraction, self.test_fraction, self.split_salt)

    def _read(self) -> CorpusScan:
        """The corpus read and split, once for both the tokenizer and the scan."""
        if self._read_corpus is None:
            self._read_corpus = read_split(self.corpus, self._split)
        return self._read_corpus

    def _train_texts(self) -> Iterator[str]:
        for pair in self._read().train_pairs:
            yield from pair

    @property
    def tokenizers(self) -> Tokenizers:
        """What the data is tokenized with: the backbone's choice, made once."""
        if self._tokenizers is None:
            choose = self.choose_tokenizers
            corpus = self.corpus_tokenizers
            self._tokenizers = choose(corpus) if choose is not None else corpus()
        return self._tokenizers

    def corpus_tokenizers(self) -> Tokenizers:
        """Load the cached shared tokenizer for this corpus and settings, or train it."""
        if self._corpus_tokenizers is None:
            settings = {
                "vocab_size": self.vocab_size,
                "algorithm": self.tokenizer_algorithm,
                "min_frequency": self.tokenizer_min_frequency,
                "val": self.val_fraction,
                "test": self.test_fraction,
                "salt": self.split_salt,
                "version": 1,
            }
            key = cache_key(self.corpus.fingerprint(), settings)
            tokenizer, self.tokenizer_dir, trained = load_or_train(
                self.cache_dir,
                key,
                self._train_texts,
                self.vocab_size,
                self.tokenizer_algorithm,
                self.tokenizer_min_frequency,
            )
            log.info(
                "%s tokenizer %s (%d tokens)",
                "trained" if trained else "cached",
                self.tokenizer_dir,
                len(tokenizer),
            )
            self._corpus_tokenizers = Tokenizers(tokenizer, tokenizer)
        return self._corpus_tokenizers

    def prepare_data(self) -> None:
        _ = self.tokenizers  # the tokenizer is trained (or loaded) once, before setup

    # -- one scan of the corpus ---------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.eval_sets:
            return
        tokenizers = self.tokenizers
        split_settings = {
            "val": self.val_fraction,
            "test": self.test_fraction,
            "salt": self.split_salt,
        }

        def compute() -> CorpusScan:
            return scan(self._read(), self.objective, tokenizers, self.seed)

        if self.corpus.content_fingerprinted:
            key = scan_key(self.corpus, split_settings, self.objective, tokenizers, self.seed)
            found = cached_scan(self.cache_dir, key, compute)
        else:  # a hub dataset: read it again rather than trust a scan of another revision
            found = compute()
        self._read_corpus = None  # `found` holds what is still needed
        read = found.read
        if read.total_skipped:
            log.warning("skipped %d malformed lines: %s", read.total_skipped, dict(read.skipped))
        if not found.lengths:
            raise EmptyDataError(
                "the training split is empty: check the corpus and data.val_fraction / "
                "data.test_fraction"
            )
        self.eval_sets = eval_sets(found.held_out, self.max_eval_pairs, self.extra_test_sets)
        self._train_pairs, self._train_lengths = found.train_pairs, found.lengths
        self.stats = {
            "read": read.as_dict(),
            "pairs": dict(found.per_split),
            "train_truncated": found.truncated,
            "distinct_sources": {k: len(v.sources) for k, v in self.eval_sets.items()},
            "train_pairs": len(found.train_pairs),
            "batches_per_epoch": self._plan(world=1).steps,  # in 1 process
        }
        log.info("data: %s", self.stats)

    @property
    def train_pairs(self) -> list[tuple[str, str]]:
        """The training split, in the order `pair_ids` in training batches index."""
        return self._train_pairs

    # -- loaders ------------------------------------------------------------------------
    def _plan(self, world: int, rank: int = 0, accumulate: int | None = None) -> PlannedTrainSet:
        """The train set of one rank. ``data.max_tokens`` is the token budget of one
        optimizer step, whatever the number of processes and accumulated batches: each
        batch gets its share, so a run on 1 device and on 8 trains with the same global
        batch (and the same number of pairs per epoch)."""
        if accumulate is None:
            accumulate = self.trainer.accumulate_grad_batches if self.trainer is not None else 1
        return PlannedTrainSet(
            self._train_pairs,
            self._train_lengths,
            self.objective,
            self.tokenizers,
            max_tokens=max(1, self.max_tokens // (world * accumulate)),
            max_sentences=self.max_sentences,
            seed=self.seed,
            rank=rank,
            world_size=world,
        )

    def batches_per_epoch(self, world: int, accumulate: int) -> int:
        """Training batches each of ``world`` processes reads in one epoch."""
        return len(self._plan(world, accumulate=accumulate))

    def train_dataloader(self) -> DataLoader:
        rank = self.trainer.global_rank if self.trainer is not None else 0
        world = self.trainer.world_size if self.trainer is not None else 1
        return PositionedLoader(
            self._plan(world, rank),
            batch_size=None,
            num_workers=self.num_workers,
            position=self._next_position,
            persistent_workers=False,
            prefetch_factor=4 if self.num_workers else None,
            generator=torch.Generator(),  # draws nothing from the global RNG (exact resume)
        )

    def _next_position(self) -> tuple[int, int]:
        """(epoch, first step): where a checkpoint stopped, once, for the epoch it stopped
        in; step 0 of the trainer's current epoch otherwise."""
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        resume, self._resume = self._resume, None
        if resume is not None and resume["epoch"] == epoch:
            return epoch, resume["step"]
        return epoch, 0

    # -- the position in the epoch, saved in every checkpoint ---------------------------
    def state_dict(self) -> dict[str, int]:
        if self.trainer is None:
            return {}
        done = int(self.trainer.fit_loop.epoch_loop.batch_progress.current.processed)
        if done >= self.trainer.num_training_batches:  # an epoch that ended: start the next
            return {}
        return {"epoch": self.trainer.current_epoch, "step": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume = dict(state) if state else None

    def eval_batches(self, name: str) -> list[dict[str, torch.Tensor]]:
        """Deterministic, length-sorted batches of an eval set; `index` maps rows to pairs."""
        evalset = self.eval_sets[name]
        examples = self.objective.encode(evalset.pairs, self.tokenizers)
        examples = [dataclasses.replace(e, index=i) for i, e in enumerate(examples)]
        pad = self.tokenizers.source.pad_token_id
        return [collate(b, pad) for b in token_budget_batches(examples, self.eval_max_tokens)]

    def _eval_loader(self, name: str) -> DataLoader:
        """Each rank scores its own share of the batches, none twice: a DistributedSampler
        would pad the last round with repeats and count them in the loss (the trainer
        configs set use_distributed_sampler=false). Metrics are summed across ranks."""
        rank = self.trainer.global_rank if self.trainer is not None else 0
        world = self.trainer.world_size if self.trainer is not None else 1
        # a rank left without a batch gets one with no rows: Lightning refuses empty loaders
        batches = self.eval_batches(name)[rank::world] or [empty_batch()]
        return DataLoader(batches, batch_size=None, shuffle=False)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_set_names(self) -> list[str]:
        return ["test", *self.extra_test_sets]

    def test_dataloader(self) -> list[DataLoader]:
        return [self._eval_loader(name) for name in self.test_set_names()]


def empty_batch() -> dict[str, torch.Tensor]:
    """An eval batch of zero rows, which the module skips."""
    none = torch.zeros((0, 1), dtype=torch.long)
    return {"input_ids": none, "attention_mask": none, "labels": none, "index": none[:, 0]}
