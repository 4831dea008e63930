"""Decoding speed: engine=ctranslate2 (float32, int8) against our generate() path.

A trained model is needed (an untrained one never ends a sentence, which flatters no one):
the run given in S2S_BENCH_RUN, or else the sample run (`python train.py`, ~3 minutes)
trained here first. Every configuration decodes the run's test split, repetitions
interleaved so that a busy moment hits each alike; sentences/s is the median, with the
spread, and each engine's ratio is against our path with the same decoding in the same
repetition. BLEU and the share of translations identical to our path's are reported too.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import torch

from benchmarks.jobs import ROOT, run_job, step
from seq2seq_bench.checkpoint import load
from seq2seq_bench.ctranslate2_engine import CTranslate2Model
from seq2seq_bench.decoding import Decoding, translate
from seq2seq_bench.evaluate import read_sets
from seq2seq_bench.metrics import score_set
from seq2seq_bench.rundir import RunDir

DECODINGS = {
    "greedy": Decoding(num_beams=1, max_new_tokens=128),
    "beam4": Decoding(num_beams=4, max_new_tokens=128, early_stopping=True),
}
ENGINES = ("torch", "ctranslate2 float32", "ctranslate2 int8")
# one decoding of the 337 test sentences takes 1-3 s: on a shared host a single slow second
# moves a ratio by 0.5 (beam 4 int8 read 3.01x, then 2.46x), so the median takes 7
REPETITIONS = 7


def trained_run(work: Path) -> Path:
    given = os.environ.get("S2S_BENCH_RUN")
    if given:
        return Path(given)
    out = work / "sample-run"
    command = [sys.executable, str(ROOT / "train.py"), "progress_bar=none", "logger=none"]
    run_job("engines: training the sample run to decode with", [*command, f"hydra.run.dir={out}"])
    return out


def measure(repetitions: int = REPETITIONS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="s2s-engines-") as work:
        run = trained_run(Path(work))
        loaded = load(run)
        model = loaded.model.eval()
        data = RunDir(run).load_config().data
        evalset = read_sets(data, "test", False, None)[0]["test"]
        models = {
            "torch": model,
            "ctranslate2 float32": CTranslate2Model(model, loaded.tokenizers, "float32"),
            "ctranslate2 int8": CTranslate2Model(model, loaded.tokenizers, "int8"),
        }
        options = dict(prefix=loaded.prefix, max_source_tokens=loaded.max_source_tokens)
        speed: dict[tuple[str, str], list[float]] = {}
        outputs: dict[tuple[str, str], list[str]] = {}
        other_cpu = []
        for repetition in range(repetitions):
            for label, decoding in DECODINGS.items():
                for engine in ENGINES:
                    other_cpu.append(psutil.cpu_percent(interval=0.5))
                    with step(f"engines: {label} / {engine}, {repetition + 1} of {repetitions}"):
                        started = time.perf_counter()
                        hyps = translate(
                            models[engine], loaded.tokenizers, evalset.sources, decoding, **options
                        )
                        seconds = time.perf_counter() - started
                    speed.setdefault((label, engine), []).append(len(hyps) / seconds)
                    outputs[(label, engine)] = [h[0].text for h in hyps]
        rows = {}
        for (label, engine), values in speed.items():
            ours = speed[(label, "torch")]
            ratios = [v / o for v, o in zip(values, ours, strict=True)]
            texts = outputs[(label, engine)]
            same = sum(a == b for a, b in zip(texts, outputs[(label, "torch")], strict=True))
            scores, _ = score_set(texts, evalset.references)
            rows[f"{label} / {engine}"] = {
                "sentences_per_sec": statistics.median(values),
                "spread": [min(values), max(values)],
                "ratio_to_torch": statistics.median(ratios),
                "identical_to_torch": same / len(texts),
                "bleu": scores["bleu"],
            }
        return {
            "run": str(run) if os.environ.get("S2S_BENCH_RUN") else "the sample run",
            "sentences": len(evalset.sources),
            "threads": torch.get_num_threads(),
            "repetitions": repetitions,
            "rows": rows,
            "other_cpu_percent": {"median": statistics.median(other_cpu), "max": max(other_cpu)},
        }
