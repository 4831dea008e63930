"""Start-up: seconds from `python train.py` to the first training step on Tatoeba.

Three states of the cache, interleaved over the repetitions so that a busy moment hits
each alike: cold (nothing cached: the tokenizer is trained and the corpus scanned), a
cached tokenizer but no corpus scan (what every run paid before the scan was cached), and
warm (both cached). The number is the run's own `startup_sec` (process start to the first
training batch). The machine's CPU use by anything else is sampled for a second before
each run, so a run that shared the CPU shows.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from benchmarks.jobs import ROOT, run_job

STATES = ("cold", "tokenizer cached", "warm")


def one_run(cache: Path, out: Path, label: str) -> float:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "data=tatoeba",
        "model=transformer_base",
        "trainer.max_steps=1",
        "run_test=false",
        "+trainer.limit_val_batches=0",
        "progress_bar=none",
        "logger=none",
        f"paths.output_dir={out}",
        f"paths.cache_dir={cache}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZERS_PARALLELISM"}
    run_job(f"startup: {label}", command, env=env, timeout=600)
    return float(json.loads((out / "metrics.json").read_text())["startup_sec"])


def measure(repetitions: int = 3) -> dict[str, Any]:
    if not (Path(os.environ.get("S2S_DATA_DIR", "data")) / "fra-eng" / "fra.txt").is_file():
        return {"skipped": "Tatoeba not found: set S2S_DATA_DIR"}
    seconds: dict[str, list[float]] = {state: [] for state in STATES}
    loads: list[float] = []
    work = Path(tempfile.mkdtemp(prefix="s2s-startup-"))
    try:
        for repetition in range(repetitions):
            cache = work / f"cache{repetition}"
            for state in STATES:
                if state == "tokenizer cached":
                    shutil.rmtree(cache / "scans", ignore_errors=True)
                out = work / f"run-{repetition}-{state.replace(' ', '_')}"
                loads.append(psutil.cpu_percent(interval=1.0))
                label = f"{state}, {repetition + 1} of {repetitions}"
                seconds[state].append(one_run(cache, out, label))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        state: {
            "median_sec": statistics.median(values),
            "min_sec": min(values),
            "max_sec": max(values),
            "runs": values,
        }
        for state, values in seconds.items()
    } | {"other_cpu_percent": {"median": statistics.median(loads), "max": max(loads)}}
