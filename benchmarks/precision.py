"""Training in fp32 and in bf16-mixed, our loop, on this machine's CPU or a lent GPU.

`trainer.precision=auto` trains in fp32 on a CPU and bf16-mixed on a GPU. Some CPUs have
bf16 instructions (AVX512-BF16, AMX) and run bf16-mixed faster, many do not and run it far
slower: this measures which this machine is, and on a GPU gives T5-small's bf16 throughput
and MFU (issue 14, point 6). Each (model, precision) runs `trainers.run_ours` (build(cfg)
under a Lightning Trainer, as train.py runs it) in its own process, the precisions
interleaved over the repetitions; the matmul peak is probed at every step on the device in
that precision (bf16, or fp32 as PyTorch runs it there), so each MFU is against what the
device did in that precision at that moment.

    python -m benchmarks.run precision
    python -m benchmarks.precision <model> <precision> <steps> <max_tokens> <cpu|gpu>   # one run
"""

from __future__ import annotations

import functools
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmarks.jobs import json_job
from benchmarks.trainers import MODELS, config, run_ours
from seq2seq_bench.environment import cpu_facts, cpu_name, matmul_peak_gflops

PRECISIONS = {"32-true": torch.float32, "bf16-mixed": torch.bfloat16}
# accelerator -> model -> (data.max_tokens, steps); a GPU step on 2,048 tokens is mostly
# launch overhead, and a 2048^3 product takes microseconds there: too short to time
BUDGETS = {
    "cpu": {model: MODELS[model] for model in ("transformer_base", "t5_small")},
    "gpu": {"t5_small": (16384, 30)},
}
PROBE = {"cpu": (2048, 2), "gpu": (8192, 3)}  # matmul size, repeats


def one(model: str, precision: str, steps: int, max_tokens: int, accelerator: str) -> dict:
    from omegaconf import open_dict

    size, repeats = PROBE[accelerator]
    device = "cuda" if accelerator == "gpu" else "cpu"
    probe = functools.partial(matmul_peak_gflops, device, size, repeats, PRECISIONS[precision])
    with tempfile.TemporaryDirectory(prefix="s2s-precision-") as folder:
        cfg = config(model, Path(folder), max_tokens, accelerator=accelerator)
        with open_dict(cfg):
            cfg.trainer.precision = precision
        row = run_ours(cfg, steps, probe=probe)
    if device == "cuda":
        row["peak_gpu_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return row


def bf16_flags() -> list[str]:
    """The CPU's bf16-related instruction sets (Linux), which decide whether bf16 is fast."""
    flags = cpu_facts().get("flags", "").split()
    return sorted(f for f in flags if "bf16" in f or f.startswith("amx"))


def measure(repetitions: int = 2) -> dict[str, Any]:
    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    runs: dict[str, dict[str, list[dict]]] = {}
    for repetition in range(repetitions):
        for model, (max_tokens, steps) in BUDGETS[accelerator].items():
            for precision in PRECISIONS:
                arguments = [model, precision, str(steps), str(max_tokens), accelerator]
                label = f"precision: {model} / {precision}, {repetition + 1} of {repetitions}"
                command = [sys.executable, "-m", "benchmarks.precision", *arguments]
                row = json_job(label, command)
                runs.setdefault(model, {}).setdefault(precision, []).append(row)
    rows = {}
    for model, by_precision in runs.items():
        fp32 = [r["target_tokens_per_sec"] for r in by_precision["32-true"]]
        for precision, rs in by_precision.items():
            speeds = [r["target_tokens_per_sec"] for r in rs]
            rows[f"{model} / {precision}"] = {
                "target_tokens_per_sec": statistics.median(speeds),
                "spread": [min(speeds), max(speeds)],
                "to_fp32": statistics.median(s / f for s, f in zip(speeds, fp32, strict=True)),
                "mfu": statistics.median(r["mfu"] for r in rs),
                "peak_gflops": statistics.median(r["peak_gflops"] for r in rs),
                "padding_efficiency": statistics.median(r["padding_efficiency"] for r in rs),
                "peak_memory_gb": max(
                    r.get("peak_gpu_memory_gb", r["peak_rss_mb"] / 1024) for r in rs
                ),
            }
    return {
        "accelerator": accelerator,
        "device": torch.cuda.get_device_name(0) if accelerator == "gpu" else cpu_name(),
        "cpu_bf16_flags": bf16_flags(),
        "budgets": {
            m: {"max_tokens": b[0], "steps": b[1]} for m, b in BUDGETS[accelerator].items()
        },
        "repetitions": repetitions,
        "rows": rows,
        "runs": runs,
    }


if __name__ == "__main__":
    model, precision, steps, max_tokens, accelerator = sys.argv[1:6]
    print(json.dumps(one(model, precision, int(steps), int(max_tokens), accelerator)))
