from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seq2seq_bench.data.corpora import SampleCorpus, TsvCorpus
from seq2seq_bench.data.split import split_of


@given(st.text(min_size=1, max_size=40))
def test_split_is_a_function_of_the_normalised_source(source: str) -> None:
    first = split_of(source, 0.1, 0.1)
    assert split_of(source, 0.1, 0.1) == first
    assert split_of(" " + source.upper() + "\u00a0", 0.1, 0.1) == split_of(source.upper(), 0.1, 0.1)


def test_split_fractions_are_respected() -> None:
    splits = [split_of(f"sentence {i}", 0.1, 0.2) for i in range(20_000)]
    assert abs(splits.count("val") / 20_000 - 0.1) < 0.01
    assert abs(splits.count("test") / 20_000 - 0.2) < 0.01


def test_bad_fractions_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to less than 1"):
        split_of("x", 0.6, 0.5)


def _assert_source_disjoint(pairs: list[tuple[str, str]], val: float, test: float) -> None:
    seen: dict[str, set[str]] = {}
    for source, _ in pairs:
        seen.setdefault(source.casefold(), set()).add(split_of(source, val, test))
    crossing = [s for s, splits in seen.items() if len(splits) > 1]
    assert not crossing, f"sources in several splits: {crossing[:5]}"
    assert {s for splits in seen.values() for s in splits} == {"train", "val", "test"}


def test_sample_splits_are_source_disjoint() -> None:
    _assert_source_disjoint(list(SampleCorpus().iter_pairs()), 0.05, 0.05)


@pytest.mark.skipif(
    not (Path(os.environ.get("S2S_DATA_DIR", "data")) / "fra-eng/fra.txt").is_file(),
    reason="Tatoeba not available (set S2S_DATA_DIR)",
)
def test_tatoeba_splits_are_source_disjoint() -> None:
    corpus = TsvCorpus(
        Path(os.environ.get("S2S_DATA_DIR", "data")) / "fra-eng/fra.txt", max_columns=3
    )
    pairs = list(corpus.iter_pairs())
    assert len(pairs) > 150_000
    _assert_source_disjoint(pairs, 0.01, 0.01)
