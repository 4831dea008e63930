"""The predictions TSV that `s2s-evaluate compare=` pairs reads back exactly what was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from seq2seq_bench.rundir import write_predictions
from seq2seq_bench.significance import Predictions, compare


def test_predictions_read_back_whole_rows_whatever_separators_the_text_holds(
    tmp_path: Path,
) -> None:
    # U+2028, NEL and form feed are line breaks to str.splitlines; \r is one to text mode
    rows = [
        ("Line\u2028separator.", ["R\u00e9f\x85\u00e9rence.", "Autre\x0c."], "Hyp\u2029."),
        ("Plain.", ["Simple."], "Simple\r."),
    ]
    path = tmp_path / "predictions.tsv"
    write_predictions(path, rows)
    read = Predictions.read(path)
    assert read.sources == [source for source, _, _ in rows]
    assert read.references == [refs for _, refs, _ in rows]
    assert read.hypotheses == [hyp for _, _, hyp in rows]


def test_a_file_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.tsv"
    for text in ("", "a\tb\n"):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match="not a predictions file"):
            Predictions.read(path)


def test_a_better_system_wins_and_identical_ones_do_not_differ() -> None:
    sources = [f"s{i}" for i in range(30)]
    references = [[f"the cat number {i} sat on the mat"] for i in range(30)]
    good = Predictions(sources, references, [r[0] for r in references])
    bad = Predictions(sources, references, ["a dog" for _ in references])
    bleu, chrf = compare(bad, good, samples=200)
    assert bleu.delta > 50 and bleu.ci_low > 0 and bleu.p_value < 0.05
    assert chrf.delta > 0 and chrf.sentences == 30
    same = compare(good, good, samples=200)
    assert all(d.delta == 0 and d.p_value == 1.0 for d in same)
