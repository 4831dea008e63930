"""train/tokens_per_sec: each step's tokens over its own interval, never across a validation."""

from __future__ import annotations

import torch

from seq2seq_bench import module as module_file

from .conftest import plain_module


def test_a_step_is_timed_with_its_own_tokens_and_not_across_a_validation(monkeypatch) -> None:
    clock = iter([10.0, 12.0, 13.0, 20.0, 21.0])
    monkeypatch.setattr(module_file.time, "perf_counter", lambda: next(clock))
    module = plain_module(torch.nn.Linear(1, 1), tokenizers=None)
    logged: list[tuple[str, float]] = []
    monkeypatch.setattr(module, "log", lambda name, value, **_: logged.append((name, value)))

    module.log_tokens_per_sec(100)  # t=10: nothing before it to time
    module.log_tokens_per_sec(300)  # t=12: the first step's 100 tokens took 2 s
    module.on_validation_start()  # t=13
    module.log_tokens_per_sec(50)  # t=20: the 300-token step's interval held a validation
    module.log_tokens_per_sec(10)  # t=21: 50 tokens in 1 s
    assert logged == [("train/tokens_per_sec", 50.0), ("train/tokens_per_sec", 50.0)]
