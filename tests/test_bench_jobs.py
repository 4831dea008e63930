"""`make bench`'s measurement processes: each says what it runs and how long it took, and a
failed one stops the bench with the child's own error instead of a bare CalledProcessError."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.jobs import BenchError, json_job

PYTHON = sys.executable


def test_a_job_returns_its_last_json_line_and_says_how_long_it_took(
    capsys: pytest.CaptureFixture[str],
) -> None:
    row = json_job("trainers: tiny / ours, 1 of 2", [PYTHON, "-c", "print('warm-up');print(1)"])
    assert row == 1
    progress = capsys.readouterr().err
    assert progress.startswith("bench: trainers: tiny / ours, 1 of 2 ...")
    assert progress.rstrip().endswith(" s")


def test_a_failed_job_raises_with_the_childs_own_error(capsys: pytest.CaptureFixture[str]) -> None:
    child = "import sys; print('step 1', file=sys.stderr); sys.exit('no tokenizer in the run')"
    with pytest.raises(BenchError) as failed:
        json_job("memory: t5_small at 1024 tokens", [PYTHON, "-c", child])
    message = str(failed.value)
    assert message.startswith("memory: t5_small at 1024 tokens failed (exit status 1)")
    assert "no tokenizer in the run" in message and "step 1" in message
    assert capsys.readouterr().err.rstrip().endswith("... failed")


def test_make_bench_stops_on_a_failed_job_with_its_error_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_bench(meta: dict) -> None:
        json_job("startup: cold, 1 of 3", [PYTHON, "-c", "raise SystemExit('corpus not found')"])

    monkeypatch.setattr(run, "RESULTS", tmp_path)
    monkeypatch.setattr(run, "metadata", dict)
    monkeypatch.setitem(run.BENCHES, "startup", failing_bench)
    monkeypatch.setattr(sys, "argv", ["benchmarks.run", "startup"])
    with pytest.raises(SystemExit) as stopped:
        run.main()
    message = str(stopped.value.code)
    assert message.startswith("bench startup: startup: cold, 1 of 3 failed (exit status 1)")
    assert "corpus not found" in message and "no result written for startup" in message
    assert list(tmp_path.iterdir()) == []
