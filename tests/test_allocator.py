"""The allocator setting train.py applies: a step's large buffers are reused, not re-faulted."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# A training step in miniature: buffers above glibc's 32 MiB mmap ceiling, written (so every
# page is touched), freed, and allocated again by the next step. Prints the minor page
# faults of 10 steps after a first one.
STEPS = """
import resource, sys, torch
from seq2seq_bench.allocator import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
def step():
    for mib in (64, 40, 96):
        torch.ones(mib * 2**18)  # float32: `mib` MiB
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", STEPS, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")
def test_freed_step_buffers_are_reused_instead_of_faulted_back_in() -> None:
    default, tuned = page_faults("default"), page_faults("tuned")
    pages = 10 * (64 + 40 + 96) * 2**20 // 4096  # every page of every step, once
    assert default > 0.9 * pages  # glibc's default: each buffer is a fresh mmap()
    assert tuned < 0.2 * pages  # measured: 0.096 (the heap is reused, not unmapped)
