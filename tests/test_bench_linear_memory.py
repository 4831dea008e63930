"""The oneDNN memory bench measures what its rows say: each variant trains the linears it
names, and the table shows every sample."""

from __future__ import annotations

import pytest

from benchmarks import linear_memory
from benchmarks.run import linear_memory_lines
from seq2seq_bench import onednn_linear


@pytest.mark.skipif(not onednn_linear.available(), reason="this torch build has no oneDNN")
@pytest.mark.parametrize("variant", linear_memory.VARIANTS)
def test_each_variant_trains_its_own_linear(
    monkeypatch: pytest.MonkeyPatch, onednn_rows_seen: list[int], variant: str
) -> None:
    monkeypatch.setattr(linear_memory, "STEPS", 4)
    monkeypatch.setattr(linear_memory, "EVERY", 2)
    monkeypatch.setattr(linear_memory, "ROWS", (3, 70))
    monkeypatch.setattr(onednn_linear, "ROW_MULTIPLE", onednn_linear.ROW_MULTIPLE)
    seen = onednn_rows_seen
    result = linear_memory.train(variant)
    assert len(result["rss_mb"]) == 2 and all(mb > 0 for mb in result["rss_mb"])
    assert result["after_trim_mb"] > 0
    assert len(seen) == (0 if variant == "mkl" else 4 * 3)  # a step: 2 forwards, 1 input gradient
    if variant == "onednn":
        assert all(rows % 64 == 0 for rows in seen)
    if variant == "onednn_unpadded":
        assert any(rows % 64 for rows in seen)


def test_the_table_has_a_row_per_variant_and_a_cell_per_sample() -> None:
    result = {
        "steps": 800,
        "every": 400,
        "rows": [100, 4200],
        "variants": {
            "mkl": {"rss_mb": [400.0, 406.0], "after_trim_mb": 251.0},
            "onednn": {"rss_mb": [634.0, 634.0], "after_trim_mb": 330.0},
        },
    }
    lines = linear_memory_lines(result)
    assert "| linear | 400 steps | 800 steps | after malloc_trim |" in lines
    assert "| onednn | 634 MB | 634 MB | 330 MB |" in lines
    assert linear_memory_lines({"skipped": "no oneDNN"})[-1] == "oneDNN linear: no oneDNN"
