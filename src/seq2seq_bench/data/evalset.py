"""An evaluation set: every pair for loss/accuracy, every distinct source once for decoding.

Tatoeba often lists several French translations of one English sentence. Loss and token
accuracy use every pair; BLEU/chrF/exact match decode each distinct source once and score
it against all its references (multi-reference) and against the first one alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
        for source, target in pairs:
            seen = source in position
            if not seen:
                position[source] = len(evalset.sources)
                evalset.sources.append(source)
                evalset.references.append([])
            evalset.references[position[source]].append(target)
            evalset.pairs.append((source, target))
            evalset.pair_source.append(position[source])
            evalset.pair_is_first.append(not seen)
        return evalset

    def __len__(self) -> int:
        return len(self.pair_source)

    @property
    def num_references(self) -> int:
        return max((len(r) for r in self.references), default=0)
