from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seq2seq_bench.data.corpora import (
    DataPathError,
    HFDatasetCorpus,
    MalformedLineError,
    ParallelFilesCorpus,
    ReadStats,
    SampleCorpus,
    TsvCorpus,
)
from seq2seq_bench.data.normalize import normalize_text, one_line

from .conftest import EN_FR


def test_normalize_replaces_nonbreaking_spaces_and_composes() -> None:
    assert normalize_text("  Cours\u202f!\u00a0 ") == "Cours !"
    assert normalize_text("e\u0301te\u0301") == "été"  # NFD -> NFC
    assert normalize_text("a \t b") == "a b"
    # line and paragraph separators would split a line of a predictions file
    assert normalize_text("a\u2028b\x85c\x0cd\u3000e\x1ef") == "a b c d e f"


@given(st.text())
def test_normalized_text_has_single_spaces_only_and_is_a_fixed_point(text: str) -> None:
    out = normalize_text(text)
    assert all(not ch.isspace() for ch in out.replace(" ", ""))
    assert "  " not in out and out == out.strip()
    assert normalize_text(out) == out


@given(st.text())
def test_one_line_keeps_the_words_and_leaves_no_line_or_field_break(text: str) -> None:
    out = one_line(text)
    assert len(out.splitlines()) <= 1 and "\t" not in out
    assert out.split() == text.split()  # what BLEU and chrF read


def test_tsv_reads_all_pairs_normalised(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text("Run!\tCours\u202f!\nHi.\tSalut !\tCC-BY attribution\n", encoding="utf-8")
    stats = ReadStats()
    pairs = list(TsvCorpus(path, max_columns=3).iter_pairs(stats=stats))
    assert pairs == [("Run!", "Cours !"), ("Hi.", "Salut !")]
    assert stats.kept == 2 and stats.total_skipped == 0


def test_tsv_bad_lines_are_counted_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    lines = [
        b"Good.\tBien.\n",
        b"no tab here\n",
        b"\tvide\n",
        b"Bad bytes\t\xff\xfe\n",
        b"\n",
        b"a\tb\tc\td\n",
        b"Fine.\tBon.\n",
    ]
    path.write_bytes(b"".join(lines))
    stats = ReadStats()
    pairs = list(TsvCorpus(path, max_columns=3).iter_pairs(stats=stats))
    assert pairs == [("Good.", "Bien."), ("Fine.", "Bon.")]
    assert stats.kept == 2
    assert stats.total_skipped == 5  # every line is either kept or counted
    assert stats.skipped["undecodable bytes (not UTF-8)"] == 1
    assert stats.skipped["empty side"] == 1
    assert stats.skipped["blank line"] == 1


def test_tsv_strict_mode_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("Good.\tBien.\nno tab here\n", encoding="utf-8")
    with pytest.raises(MalformedLineError, match=r"bad.tsv:2: fewer than 2"):
        list(TsvCorpus(path, strict=True).iter_pairs())


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DataPathError, match="S2S_DATA_DIR"):
        TsvCorpus(tmp_path / "nope.tsv")


def test_a_directory_given_as_a_corpus_file_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(DataPathError, match="is a directory: give the file inside it"):
        TsvCorpus(tmp_path)


def test_a_byte_order_mark_is_not_part_of_the_first_sentence(tmp_path: Path) -> None:
    """Editors on Windows start UTF-8 files with a BOM; it must not reach the tokenizer."""
    tsv = tmp_path / "bom.tsv"
    tsv.write_text("".join(f"{en}\t{fr}\n" for en, fr in EN_FR), encoding="utf-8-sig")
    assert list(TsvCorpus(tsv).iter_pairs()) == EN_FR
    (tmp_path / "t.en").write_text("".join(en + "\n" for en, _ in EN_FR), encoding="utf-8-sig")
    (tmp_path / "t.fr").write_text("".join(fr + "\n" for _, fr in EN_FR), encoding="utf-8-sig")
    assert list(ParallelFilesCorpus(tmp_path / "t.en", tmp_path / "t.fr").iter_pairs()) == EN_FR


def test_shards_partition_the_corpus(tsv_file: Path) -> None:
    corpus = TsvCorpus(tsv_file)
    shards = [list(corpus.iter_pairs(k, 4)) for k in range(4)]
    assert sorted(p for s in shards for p in s) == sorted(EN_FR)
    assert sum(len(s) for s in shards) == len(EN_FR)


def test_parallel_files(tmp_path: Path) -> None:
    (tmp_path / "t.en").write_text("".join(en + "\n" for en, _ in EN_FR), encoding="utf-8")
    (tmp_path / "t.fr").write_text("".join(fr + "\n" for _, fr in EN_FR), encoding="utf-8")
    assert list(ParallelFilesCorpus(tmp_path / "t.en", tmp_path / "t.fr").iter_pairs()) == EN_FR


def test_parallel_files_misaligned_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "t.en").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "t.fr").write_text("a\n", encoding="utf-8")
    with pytest.raises(MalformedLineError, match="same number of lines"):
        ParallelFilesCorpus(tmp_path / "t.en", tmp_path / "t.fr")


def test_hf_dataset_reader_on_local_json(tmp_path: Path) -> None:
    import json

    path = tmp_path / "pairs.jsonl"
    rows = [{"translation": {"en": en, "fr": fr}} for en, fr in EN_FR] + [
        {"translation": {"en": "x"}}
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    stats = ReadStats()
    corpus = HFDatasetCorpus("json", data_files=str(path), translation_field="translation")
    assert list(corpus.iter_pairs(stats=stats)) == EN_FR
    assert stats.total_skipped == 1
    assert (
        corpus.fingerprint()
        == HFDatasetCorpus(
            "json", data_files=str(path), translation_field="translation"
        ).fingerprint()
    )


def test_hf_dataset_missing_gives_clear_error() -> None:
    with pytest.raises(DataPathError, match="could not load the Hugging Face dataset"):
        list(HFDatasetCorpus("definitely-not/a-dataset-here").iter_pairs())


def test_sample_corpus_ships_with_package() -> None:
    stats = ReadStats()
    pairs = list(SampleCorpus().iter_pairs(stats=stats))
    assert len(pairs) > 2000 and stats.total_skipped == 0


def test_fingerprint_changes_with_content(tmp_path: Path, tsv_file: Path) -> None:
    before = TsvCorpus(tsv_file).fingerprint()
    tsv_file.write_text("A.\tB.\n", encoding="utf-8")
    assert TsvCorpus(tsv_file).fingerprint() != before
