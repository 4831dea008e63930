"""Memory: peak RSS of training per backbone and token budget, and the corpus reader's memory
as the corpus grows.

Each training figure is the peak resident memory of a process that builds the run as
`train.py` does and trains a few steps of our loop (`benchmarks.trainers ours`) at that
`data.max_tokens`: what a user must have free. The reader figure is the peak RSS of a
process that streams every pair of Tatoeba, and of Tatoeba repeated 10 times, through
`TsvCorpus.iter_pairs`: a streaming reader holds one line at a time, so the two must be
within 20 %. The oneDNN linear's memory as batch shapes change: `benchmarks.linear_memory`.

    python -m benchmarks.memory stream <file>   # one reader run
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import linear_memory
from benchmarks.jobs import json_job

BACKBONES = ("transformer_base", "t5_small", "bart_base", "bert_encoder")
BUDGETS = (1024, 4096)
STEPS = 3


def training_peaks() -> dict[str, dict[str, float]]:
    peaks: dict[str, dict[str, float]] = {}
    for backbone in BACKBONES:
        for budget in BUDGETS:
            command = [sys.executable, "-m", "benchmarks.trainers", "ours", backbone]
            label = f"memory: {backbone} at {budget} tokens"
            row = json_job(label, [*command, str(STEPS), str(budget)])
            peaks.setdefault(backbone, {})[str(budget)] = row["peak_rss_mb"]
    return peaks


def stream(path: str) -> dict[str, float]:
    from seq2seq_bench.data.corpora import TsvCorpus

    pairs = sum(1 for _ in TsvCorpus(path, max_columns=3).iter_pairs())
    return {
        "pairs": pairs,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def reader_peaks() -> dict[str, Any]:
    tatoeba = Path(os.environ.get("S2S_DATA_DIR", "data")) / "fra-eng" / "fra.txt"
    if not tatoeba.is_file():
        return {"skipped": "Tatoeba not found: set S2S_DATA_DIR"}
    with tempfile.TemporaryDirectory(prefix="s2s-memory-") as folder:
        tenfold = Path(folder) / "fra10.txt"
        text = tatoeba.read_bytes()
        tenfold.write_bytes(text * 10)
        del text
        command = [sys.executable, "-m", "benchmarks.memory", "stream"]
        one = json_job("memory: reading Tatoeba", [*command, str(tatoeba)])
        ten = json_job("memory: reading Tatoeba x10", [*command, str(tenfold)])
    return {"1x": one, "10x": ten, "ratio": ten["peak_rss_mb"] / one["peak_rss_mb"]}


def measure() -> dict[str, Any]:
    return {
        "training_peak_rss_mb": training_peaks(),
        "reader": reader_peaks(),
        "linear": linear_memory.measure(),
        "steps": STEPS,
    }


if __name__ == "__main__":
    if sys.argv[1] == "stream":
        print(json.dumps(stream(sys.argv[2])))
