"""Resident memory of training linears while the batch shape keeps changing: MKL's nn.Linear
against the oneDNN linear (onednn_linear.py) with its rows padded to a multiple of 64, and
without the padding.

oneDNN keeps state for every input shape it meets, and a token-budget run feeds it a new
row count whenever a batch's size x width is new. Unpadded, a 512-2048-512 MLP trained on
random row counts grew without a visible bound (5.6 GB after 1,600 steps at 100-4,200 rows,
against MKL's flat 0.53 GB, on 2026-12-07); padding the rows bounds the shapes to
max_rows / 64 per weight (flat at 1.3 GB). This is the
worst case, a new row count nearly every step; Tatoeba's plan at 4,096 tokens has 18
distinct row counts in an epoch. Each variant runs in a process of its own, with glibc's
malloc tuned as train.py tunes it (allocator.py), and reports its RSS every `EVERY` steps.

    python -m benchmarks.linear_memory <mkl|onednn|onednn_unpadded>   # one variant
"""

from __future__ import annotations

import ctypes
import gc
import json
import random
import sys
from typing import Any

import torch

from benchmarks.jobs import json_job

VARIANTS = ("mkl", "onednn", "onednn_unpadded")
STEPS, EVERY = 1600, 400
ROWS = (100, 4200)  # up to a 4,096-token batch
WIDTH, HIDDEN = 512, 2048  # transformer_big's and t5_small's feed-forward


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def train(variant: str) -> dict[str, Any]:
    from seq2seq_bench import onednn_linear
    from seq2seq_bench.allocator import keep_freed_memory

    keep_freed_memory()
    torch.manual_seed(0)
    rows = random.Random(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(WIDTH, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, WIDTH)
    )
    if variant != "mkl":
        onednn_linear.use_onednn_linear(model)
    if variant == "onednn_unpadded":
        onednn_linear.ROW_MULTIPLE = 1
    samples = []
    for number in range(1, STEPS + 1):
        x = torch.randn(rows.randint(*ROWS), WIDTH)
        model(x).sum().backward()
        if number % EVERY == 0:
            samples.append(rss_mb())
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # what of it is freed memory the heap holds
    return {"rss_mb": samples, "after_trim_mb": rss_mb()}


def measure() -> dict[str, Any]:
    if not torch.backends.mkldnn.is_available():
        return {"skipped": "this torch build has no oneDNN"}
    command = [sys.executable, "-m", "benchmarks.linear_memory"]
    rows = {v: json_job(f"memory: linear {v}", [*command, v]) for v in VARIANTS}
    return {"steps": STEPS, "every": EVERY, "rows": list(ROWS), "variants": rows}


if __name__ == "__main__":
    print(json.dumps(train(sys.argv[1])))
