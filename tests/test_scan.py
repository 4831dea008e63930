"""The corpus scan is cached: a second run reads the same split, pairs and lengths back, and
anything that could change them (corpus content, tokenizer, objective settings) is a new
cache entry, never a stale one."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import pytest

from seq2seq_bench.data import normalize
from seq2seq_bench.data.corpora import HFDatasetCorpus, TextFilesCorpus, TsvCorpus
from seq2seq_bench.data.datamodule import TranslationDataModule
from seq2seq_bench.data.scan import code_fingerprint
from seq2seq_bench.data.tokenizer import train_tokenizer
from seq2seq_bench.objectives.base import Objective
from seq2seq_bench.objectives.sentence_pairs import SentencePairObjective
from seq2seq_bench.objectives.translation import TranslationObjective

from .conftest import EN_FR


def datamodule(
    corpus_path: Path, cache: Path, objective: Objective | None = None, **settings: Any
) -> TranslationDataModule:
    module = TranslationDataModule(
        TsvCorpus(corpus_path),
        objective or TranslationObjective(),
        cache_dir=str(cache),
        **{"vocab_size": 300, "val_fraction": 0.2, "test_fraction": 0.2} | settings,
    )
    module.setup()
    return module


def scans(cache: Path) -> list[Path]:
    return sorted((cache / "scans").glob("*.pkl"))


def test_a_second_setup_reads_the_same_scan_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("".join(f"{s}\t{t}\n" for s, t in EN_FR) + "bad line\n", encoding="utf-8")
    first = datamodule(corpus, tmp_path / "cache")
    assert len(scans(tmp_path / "cache")) == 1
    with caplog.at_level(logging.INFO):
        second = datamodule(corpus, tmp_path / "cache")
    assert "cached corpus scan" in caplog.text
    assert "skipped 1 malformed lines" in caplog.text  # still reported on every run
    assert second.stats == first.stats
    assert second._train_pairs == first._train_pairs
    assert second._train_lengths == first._train_lengths
    assert {k: v.pairs for k, v in second.eval_sets.items()} == {
        k: v.pairs for k, v in first.eval_sets.items()
    }


def test_what_changes_the_scan_changes_the_key(tmp_path: Path) -> None:
    corpus, cache = tmp_path / "pairs.tsv", tmp_path / "cache"
    corpus.write_text("".join(f"{s}\t{t}\n" for s, t in EN_FR), encoding="utf-8")
    base = datamodule(corpus, cache)
    datamodule(corpus, cache, TranslationObjective(max_source_tokens=4))  # other lengths
    assert len(scans(cache)) == 2
    datamodule(corpus, cache, tokenizer_algorithm="unigram")  # another tokenizer
    assert len(scans(cache)) == 3
    datamodule(corpus, cache, split_salt="x")  # another split
    assert len(scans(cache)) == 4
    corpus.write_text("".join(f"{s}\t{t}\n" for s, t in EN_FR[:-3]), encoding="utf-8")
    shorter = datamodule(corpus, cache)  # a changed corpus file: its content is in the key
    assert len(scans(cache)) == 5 and shorter.stats["read"]["kept"] < base.stats["read"]["kept"]
    datamodule(corpus, cache)  # nothing changed: the same entry
    assert len(scans(cache)) == 5


def test_an_unreadable_cache_file_is_scanned_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus, cache = tmp_path / "pairs.tsv", tmp_path / "cache"
    corpus.write_text("".join(f"{s}\t{t}\n" for s, t in EN_FR), encoding="utf-8")
    first = datamodule(corpus, cache)
    [path] = scans(cache)
    path.write_bytes(path.read_bytes()[:100])  # a truncated file
    again = datamodule(corpus, cache)
    assert "unreadable corpus scan cache" in caplog.text
    assert again.stats == first.stats and path.stat().st_size > 100


def test_document_pairs_keep_their_document_through_the_cache(tmp_path: Path) -> None:
    text = "\n\n".join(
        "\n".join(f"{s} ({d})" for s, _ in EN_FR[d : d + 4]) for d in range(0, len(EN_FR), 4)
    )
    (tmp_path / "docs.txt").write_text(text + "\n", encoding="utf-8")

    def read() -> TranslationDataModule:
        module = TranslationDataModule(
            TextFilesCorpus(str(tmp_path / "docs.txt"), documents=True),
            SentencePairObjective("nsp"),
            vocab_size=300,
            cache_dir=str(tmp_path / "cache"),
        )
        module.setup()
        return module

    first, second = read(), read()
    assert [p.document for p in second._train_pairs] == [p.document for p in first._train_pairs]


def test_only_corpora_whose_content_is_fingerprinted_are_cached(tmp_path: Path) -> None:
    local = tmp_path / "pairs.jsonl"
    local.write_text('{"en": "Hi.", "fr": "Salut."}\n', encoding="utf-8")
    assert HFDatasetCorpus("json", data_files=str(local)).content_fingerprinted
    assert not HFDatasetCorpus("some/hub-dataset").content_fingerprinted  # may change upstream
    assert TsvCorpus(local).content_fingerprinted


def test_the_code_that_reads_and_measures_is_part_of_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache written by another version of the reader (here: normalisation) is not read."""
    before = code_fingerprint(TranslationObjective())
    assert before != code_fingerprint(SentencePairObjective("nsp"))  # the objective's own code
    edited = tmp_path / "normalize.py"
    edited.write_text(Path(normalize.__file__).read_text(encoding="utf-8") + "\n# edited\n")
    real = inspect.getfile
    monkeypatch.setattr(inspect, "getfile", lambda m: str(edited) if m is normalize else real(m))
    assert code_fingerprint(TranslationObjective()) != before


def test_a_cold_start_reads_the_corpus_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training the tokenizer and measuring lengths share one read, and the tokenizer
    trained from it is the one a direct read of the training split makes."""
    corpus, cache = tmp_path / "pairs.tsv", tmp_path / "cache"
    corpus.write_text("".join(f"{s}\t{t}\n" for s, t in EN_FR), encoding="utf-8")
    reads = 0
    real = TsvCorpus.iter_pairs

    def counted(self: TsvCorpus, *args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TsvCorpus, "iter_pairs", counted)
    module = datamodule(corpus, cache)
    assert reads == 1 and module._read_corpus is None  # released once scanned
    split = [pair for pair in TsvCorpus(corpus).iter_pairs() if module._split(pair) == "train"]
    assert module._train_pairs == split
    direct = train_tokenizer((text for pair in split for text in pair), vocab_size=300)
    assert direct.get_vocab() == module.tokenizers.source.get_vocab()
    reads = 0
    datamodule(corpus, cache)  # both cached: the corpus is not read at all
    assert reads == 0
