"""Is a difference in BLEU or chrF larger than the test set's noise? sacrebleu's paired
bootstrap resampling (Koehn 2004, as `sacrebleu --paired-bs` runs it) answers for two
systems' translations of the same sentences.

The p-value is sacrebleu's own (`PairedTest`). The 95 % confidence interval of the
difference comes from the same resamples: sacrebleu draws its resample indices from a
generator seeded with SACREBLEU_SEED (12345 by default), so drawing them again with that
seed gives the very samples its test used, on which the difference system - baseline is
read off at the 2.5th and 97.5th percentiles.

Several seeds per configuration are compared as Clark et al. (2011) do for optimizer
replicas: the translations of seed k of the system are paired with those of seed k of the
baseline and all seeds are concatenated, so the resampling sees every replica.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

from seq2seq_bench.metrics import reference_streams
from seq2seq_bench.rundir import PREDICTIONS_HEADER

SAMPLES = 1000  # sacrebleu's default number of bootstrap resamples
METRICS = {"bleu": BLEU, "chrf": CHRF}


@dataclass(frozen=True)
class Difference:
    """One metric of a system against the baseline on one test set."""

    metric: str
    baseline: float
    system: float
    delta: float  # system - baseline
    ci_low: float  # 95 % confidence interval of delta
    ci_high: float
    p_value: float
    sentences: int

    def as_dict(self) -> dict[str, float | str | int]:
        return asdict(self)


@dataclass(frozen=True)
class Predictions:
    """A predictions TSV: sources, references (first, then others) and hypotheses."""

    sources: list[str]
    references: list[list[str]]
    hypotheses: list[str]

    @classmethod
    def read(cls, path: Path) -> Predictions:
        # split on "\n" alone, as the file was written: `splitlines` (and text mode's "\r")
        # would also break a row at a line separator inside a sentence
        lines = path.read_bytes().decode("utf-8").removesuffix("\n").split("\n")
        if lines[0] + "\n" != PREDICTIONS_HEADER:
            raise ValueError(f"{path} is not a predictions file of this framework")
        rows = [line.split("\t") for line in lines[1:]]
        if any(len(row) != 4 for row in rows):
            raise ValueError(f"{path}: expected 4 tab-separated columns on every line")
        references = [[row[1], *(row[3].split(" ||| ") if row[3] else [])] for row in rows]
        return cls([r[0] for r in rows], references, [r[2] for r in rows])

    @classmethod
    def concatenate(cls, parts: list[Predictions]) -> Predictions:
        return cls(
            [s for p in parts for s in p.sources],
            [r for p in parts for r in p.references],
            [h for p in parts for h in p.hypotheses],
        )


def compare(baseline: Predictions, system: Predictions, samples: int = SAMPLES) -> list[Difference]:
    """BLEU and chrF of ``system`` against ``baseline`` on the same sentences."""
    if baseline.sources != system.sources or baseline.references != system.references:
        raise ValueError("the two systems translated different test sets: nothing to pair")
    streams = reference_streams(baseline.references)
    named = [("baseline", baseline.hypotheses), ("system", system.hypotheses)]
    metrics = {name: make() for name, make in METRICS.items()}
    _, results = PairedTest(named, metrics, streams, test_type="bs", n_samples=samples)()
    identical = baseline.hypotheses == system.hypotheses
    differences = []
    keys = [k for k in results if k != "System"]  # sacrebleu's names: BLEU, chrF2
    for (name, metric), key in zip(metrics.items(), keys, strict=True):
        base, other = results[key]
        low, high = _difference_interval(metric, baseline, system, streams, samples)
        # sacrebleu (after MultEval) gives identical systems the smallest p-value on purpose;
        # here identical translations mean no evidence of a difference: p = 1
        p_value = 1.0 if identical else float(other.p_value)
        differences.append(
            Difference(
                metric=name,
                baseline=base.score,
                system=other.score,
                delta=other.score - base.score,
                ci_low=low,
                ci_high=high,
                p_value=p_value,
                sentences=len(system.hypotheses),
            )
        )
    return differences


def _difference_interval(
    metric: BLEU | CHRF,
    baseline: Predictions,
    system: Predictions,
    streams: list[list[str | None]],
    samples: int,
) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of system - baseline over sacrebleu's resamples."""
    seed = os.environ.get("SACREBLEU_SEED", "12345")
    rng = np.random.default_rng(None if seed.lower() == "none" else int(seed))
    n = len(system.hypotheses)
    indices = rng.choice(n, size=(samples, n), replace=True)  # as sacrebleu draws them
    stats = [
        np.array(metric._extract_corpus_statistics(p.hypotheses, streams), dtype="float32")
        for p in (baseline, system)
    ]
    base, other = (
        np.array([metric._compute_score_from_stats(s[i].sum(0)).score for i in indices])
        for s in stats
    )
    low, high = np.percentile(other - base, [2.5, 97.5])
    return float(low), float(high)
