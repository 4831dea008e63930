"""An evaluation set: every pair for loss/accuracy, every distinct source once for decoding.

Tatoeba often lists several French translations of one English sentence. Loss and token
accuracy use every pair; BLEU/chrF/exact match decode each distinct source once and score
it against all its references (multi-reference) and against the first one alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from seq2seq_bench.data.corpora import Corpus, ReadStats

log = logging.getLogger(__name__)


@dataclass
class EvalSet:
    name: str
    sources: list[str] = field(default_factory=list)  # distinct sources, in first-seen order
    references: list[list[str]] = field(default_factory=list)  # all targets of each source
    pairs: list[tuple[str, str]] = field(default_factory=list)  # every pair, as read
    pair_source: list[int] = field(default_factory=list)  # pair i -> its source index
    pair_is_first: list[bool] = field(default_factory=list)  # the pair that decodes its source

    @classmethod
    def from_pairs(cls, name: str, pairs: list[tuple[str, str]]) -> EvalSet:
        evalset = cls(name)
        position: dict[str, int] = {}
        for pair in pairs:
            source, target = pair
            seen = source in position
            if not seen:
                position[source] = len(evalset.sources)
                evalset.sources.append(source)
                evalset.references.append([])
            evalset.references[position[source]].append(target)
            evalset.pairs.append(pair)  # as read: a DocumentPair keeps its document
            evalset.pair_source.append(position[source])
            evalset.pair_is_first.append(not seen)
        return evalset

    def __len__(self) -> int:
        return len(self.pair_source)


def eval_sets(
    held_out: dict[str, list[tuple[str, str]]],
    max_eval_pairs: int | None,
    extra_test_sets: dict[str, Corpus],
) -> dict[str, EvalSet]:
    """The sets a run (and s2s-evaluate, reading the same data config) scores: each held-out
    split's first ``max_eval_pairs`` pairs, then every pair of each extra test set, whose
    malformed lines are counted and logged, as the training corpus's are."""
    sets = {
        name: EvalSet.from_pairs(name, pairs[:max_eval_pairs]) for name, pairs in held_out.items()
    }
    for name, corpus in extra_test_sets.items():
        read = ReadStats()
        sets[name] = EvalSet.from_pairs(name, list(corpus.iter_pairs(stats=read)))
        if read.total_skipped:
            log.warning(
                "%s: skipped %d malformed lines: %s", name, read.total_skipped, dict(read.skipped)
            )
    return sets
