"""The CPU a figure was measured on is named by its model, not only its architecture."""

from __future__ import annotations

import platform
from pathlib import Path

from seq2seq_bench.environment import cpu_name, describe_environment


def test_the_cpu_is_named_by_its_model(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9654\nflags\t\t: avx2\n")
    assert cpu_name(cpuinfo) == "AMD EPYC 9654"


def test_without_a_model_name_the_architecture_stands_in(tmp_path: Path) -> None:
    arm = tmp_path / "cpuinfo"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nmodel name\t:\n")
    fallback = platform.processor() or platform.machine()
    assert cpu_name(arm) == fallback
    assert cpu_name(tmp_path / "missing") == fallback


def test_a_cpu_run_records_the_cpu_model() -> None:
    assert describe_environment("cpu")["device_name"] == cpu_name()
