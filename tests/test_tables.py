"""The final scores table: every number a set has, and no empty table for a run not tested."""

from __future__ import annotations

import pytest

from seq2seq_bench.tables import print_scores


def test_each_test_set_gets_a_row_of_its_scores(capsys: pytest.CaptureFixture[str]) -> None:
    scores = {"test": {"bleu": 31.256, "loss": 1.5}, "multi30k": {"bleu": 12.0, "chrf": 40.5}}
    print_scores("final metrics", scores, ["params 10 trainable"])
    out = capsys.readouterr().out
    assert "31.26" in out and "40.50" in out and "multi30k" in out
    assert "-" in out.split("multi30k")[1].splitlines()[0]  # its loss was not measured
    assert out.rstrip().endswith("params 10 trainable")


def test_a_run_without_a_test_set_says_so_instead_of_an_empty_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_scores("final metrics  (outputs/x)", {}, ["params 10 trainable"])
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "final metrics  (outputs/x): no test set scored",
        "params 10 trainable",
    ]
