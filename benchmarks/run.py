"""`make bench`: run the benchmarks and write benchmarks/results/<name>.json and .md.

    python -m benchmarks.run                  # all of them
    python -m benchmarks.run startup          # some (make bench ARGS=startup)
    python -m benchmarks.run trainers --models transformer_base   # results/trainers-<models>.*
    python -m benchmarks.run precision        # fp32 vs bf16-mixed: results/precision-<cpu|gpu>.*

Every speed is a ratio against a peer measured in the same process on the same batches,
so results from different machines (or a busy one) stay comparable; start-up is in
seconds (its targets are), with the machine load recorded beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import engines, memory, objectives, precision, startup, trainers
from benchmarks.jobs import BenchError
from benchmarks.throughput import measure
from seq2seq_bench.environment import describe_environment

RESULTS = Path(__file__).parent / "results"
SHAPES = {
    "transformer_small": dict(
        d_model=256, encoder_layers=3, decoder_layers=3, num_heads=4, d_ff=1024
    ),
    "transformer_base": dict(
        d_model=256, encoder_layers=4, decoder_layers=3, num_heads=4, d_ff=1024
    ),
}


def metadata() -> dict:
    environment = describe_environment()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **environment,
        "machine": environment["device_name"],
    }


def publish(name: str, meta: dict, result: object, lines: list[str]) -> None:
    """benchmarks/results/<name>.json (meta + raw result) and <name>.md (the table)."""
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "results": result}, indent=2))
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def other_cpu(result: dict, when: str) -> str:
    """The line that says whether this machine was idle while this was measured. A virtual
    machine on a shared host reads ~0 % here while its matmul rate is half the idle one (the
    host's other tenants share its cores), so the line says what it cannot see."""
    other = result["other_cpu_percent"]
    return (
        f"CPU busy with other processes of this machine {when}: median {other['median']:.0f} %, "
        f"max {other['max']:.0f} % (other tenants of a shared host do not show here)"
    )


def budgets_text(budgets: dict[str, dict[str, int]]) -> str:
    """'model: data.max_tokens=N, S steps after 3 of warm-up, ...' for a training bench."""
    return ", ".join(
        f"{m}: data.max_tokens={b['max_tokens']}, {b['steps']} steps after 3 of warm-up"
        for m, b in budgets.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="run the benchmarks")
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(BENCHES)} (default: all)")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=list(trainers.MODELS),
        help="trainers: only these models (written to trainers-<models>.json/.md)",
    )
    args = parser.parse_args()
    names = args.names or list(BENCHES)
    if unknown := [n for n in names if n not in BENCHES]:
        parser.error(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHES)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = metadata()
    for name in names:
        try:
            if name == "trainers" and args.models:
                bench_trainers(meta, tuple(args.models))
            else:
                BENCHES[name](meta)
        except BenchError as error:  # a child's own error, not our traceback around it
            sys.exit(f"bench {name}: {error}\nno result written for {name}")


def bench_throughput(meta: dict) -> None:
    rows = {name: measure(shape) for name, shape in SHAPES.items()}
    lines = [
        "# Training throughput: ours vs torch.nn.Transformer (same shape, same batches)",
        "",
        f"{meta['date']}, torch {meta['torch']}, {meta['threads']} threads, {meta['machine']}, "
        f"commit {str(meta['commit'])[:8]}",
        "",
        "| model | params | ours (target tok/s) | nn.Transformer (tok/s) | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['params'] / 1e6:.1f} M | {r['ours']:.0f} | {r['peer_nn_transformer']:.0f} | {r['ratio']:.2f} |"
        )
    publish("throughput", meta, rows, lines)


def bench_objectives(meta: dict) -> None:
    encode = objectives.measure()
    lines = [
        "# Objective encoding speed: pairs/s vs translation encoding (same pairs, 1 process)",
        "",
        f"{meta['date']}, torch {meta['torch']}, {meta['machine']}, commit "
        f"{str(meta['commit'])[:8]}; the embedded sample "
        "(6,998 pairs), 512-pair chunks as in the training stream, best of 3",
        "",
        "| objective | pairs/s | ratio to translation |",
        "| --- | ---: | ---: |",
    ]
    for name, r in encode.items():
        lines.append(f"| {name} | {r['pairs_per_sec']:,.0f} | {r['ratio']:.2f} |")
    publish("objectives", meta, encode, lines)


def bench_startup(meta: dict) -> None:
    result = startup.measure()
    lines = [
        "# Start-up: `python train.py data=tatoeba model=transformer_base` to the first step",
        "",
        f"{meta['date']}, {meta['threads']} threads, {meta['machine']}, commit "
        f"{str(meta['commit'])[:8]}; targets: warm <= 10 s, cold <= 20 s",
        "",
    ]
    if "skipped" in result:
        lines.append(result["skipped"])
    else:
        lines += [
            "| cache | median s | min s | max s |",
            "| --- | ---: | ---: | ---: |",
        ]
        for state in startup.STATES:
            r = result[state]
            lines.append(
                f"| {state} | {r['median_sec']:.1f} | {r['min_sec']:.1f} | {r['max_sec']:.1f} |"
            )
        lines += ["", other_cpu(result, "in the second before each run")]
    publish("startup", meta, result, lines)


def bench_engines(meta: dict) -> None:
    result = engines.measure()
    lines = [
        "# Decoding engines: CTranslate2 vs our generate() path (same model, same sentences)",
        "",
        f"{meta['date']}, {result['threads']} threads, {meta['machine']}, commit "
        f"{str(meta['commit'])[:8]}; {result['run']}, its test split ({result['sentences']} "
        f"sentences); {result['repetitions']} interleaved repetitions, median (min-max)",
        "",
        "| decoding / engine | sentences/s | ratio to torch | identical to torch | BLEU |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in result["rows"].items():
        low, high = r["spread"]
        lines.append(
            f"| {name} | {r['sentences_per_sec']:.1f} ({low:.1f}-{high:.1f}) | "
            f"{r['ratio_to_torch']:.2f} | {100 * r['identical_to_torch']:.1f} % | {r['bleu']:.2f} |"
        )
    lines += ["", other_cpu(result, "before each measurement")]
    publish("engines", meta, result, lines)


def bench_trainers(meta: dict, models: tuple[str, ...] = tuple(trainers.MODELS)) -> None:
    result = trainers.measure(models)
    peak = result["peak_gflops"]
    lines = [
        "# Training throughput: our loop vs Seq2SeqTrainer vs a plain PyTorch loop",
        "",
        f"{meta['date']}, {meta['threads']} threads, {meta['machine']}, commit "
        f"{str(meta['commit'])[:8]}; Tatoeba train split, AdamW, label smoothing 0.1; "
        + budgets_text(result["budgets"])
        + f"; {result['repetitions']} interleaved repetitions, median (min-max); fp32 matmul "
        f"peak probed at every step in each run's own process: median "
        f"{peak['median']:.0f} ({peak['min']:.0f}-{peak['max']:.0f}) GFLOP/s",
        "",
        "| model / loop | target tok/s | ours / this | padding efficiency | peak RSS | MFU |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in result["rows"].items():
        low, high = r["spread"]
        lines.append(
            f"| {name} | {r['target_tokens_per_sec']:.0f} ({low:.0f}-{high:.0f}) | "
            f"{r['ours_to_this']:.2f} | {r['padding_efficiency']:.2f} | "
            f"{r['peak_rss_mb'] / 1024:.1f} GB | {r['mfu']:.2f} |"
        )
    lines += [
        "",
        other_cpu(result, "before each run") + ". MFU: 6 FLOPs per matmul weight and real "
        "token (attention scores left out) over the peak measured around that run. "
        "Padding efficiency is the batches' (real / padded tokens); in the rows of our loop "
        "but ours_padded, our Transformer's linears see the real tokens only, topped up to a "
        "multiple of 64 rows (padding_free, models/packing.py).",
    ]
    subset = "" if set(models) == set(trainers.MODELS) else "-" + "-".join(models)
    publish(f"trainers{subset}", meta, result, lines)


def bench_memory(meta: dict) -> None:
    result = memory.measure()
    budgets = [str(b) for b in memory.BUDGETS]
    lines = [
        "# Memory: peak RSS of training per backbone and token budget; the reader as data grows",
        "",
        f"{meta['date']}, {meta['threads']} threads, {meta['machine']}, commit "
        f"{str(meta['commit'])[:8]}; our loop, {result['steps']} steps on Tatoeba after the "
        "run is built as train.py builds it",
        "",
        "| backbone | " + " | ".join(f"data.max_tokens={b}" for b in budgets) + " |",
        "| --- | " + " | ".join("---:" for _ in budgets) + " |",
    ]
    for backbone, peaks in result["training_peak_rss_mb"].items():
        cells = " | ".join(f"{peaks[b] / 1024:.2f} GB" for b in budgets)
        lines.append(f"| {backbone} | {cells} |")
    reader = result["reader"]
    if "skipped" in reader:
        lines += ["", reader["skipped"]]
    else:
        lines += [
            "",
            f"Streaming reader (TsvCorpus.iter_pairs, every pair): Tatoeba "
            f"{reader['1x']['pairs']:,} pairs, peak {reader['1x']['peak_rss_mb']:.0f} MB; "
            f"repeated 10x, {reader['10x']['pairs']:,} pairs, peak "
            f"{reader['10x']['peak_rss_mb']:.0f} MB: {reader['ratio']:.2f}x (target: within 1.20x)",
        ]
    lines += linear_memory_lines(result["linear"])
    publish("memory", meta, result, lines)


def linear_memory_lines(result: dict) -> list[str]:
    """The table of `benchmarks.linear_memory`: RSS as a run meets new batch shapes."""
    if "skipped" in result:
        return ["", f"oneDNN linear: {result['skipped']}"]
    every, low, high = result["every"], *result["rows"]
    steps = range(every, result["steps"] + 1, every)
    lines = [
        "",
        f"Training linears (512-2048-512 MLP) on a new random row count ({low}-{high}) every "
        "step, RSS after each step count; oneDNN keeps state per input shape, which the "
        "padding of rows to a multiple of 64 bounds (onednn_linear.py):",
        "",
        "| linear | " + " | ".join(f"{s:,} steps" for s in steps) + " | after malloc_trim |",
        "| --- | " + " | ".join("---:" for _ in steps) + " | ---: |",
    ]
    for variant, row in result["variants"].items():
        cells = " | ".join(f"{mb:,.0f} MB" for mb in row["rss_mb"])
        lines.append(f"| {variant} | {cells} | {row['after_trim_mb']:,.0f} MB |")
    return lines


def bench_precision(meta: dict) -> None:
    result = precision.measure()
    where = result["accelerator"]
    flags = ", ".join(result["cpu_bf16_flags"]) or "none"
    lines = [
        f"# Training in fp32 and bf16-mixed, our loop, on the {where} ({result['device']})",
        "",
        f"{meta['date']}, {meta['threads']} threads, commit {str(meta['commit'])[:8]}; "
        f"CPU bf16 instruction sets: {flags}; Tatoeba train split; "
        + budgets_text(result["budgets"])
        + f"; {result['repetitions']} interleaved repetitions, median (min-max); matmul peak "
        "probed at every step in that precision",
        "",
        "| model / precision | target tok/s | to fp32 | MFU | probed peak | padding | peak memory |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in result["rows"].items():
        low, high = r["spread"]
        lines.append(
            f"| {name} | {r['target_tokens_per_sec']:,.0f} ({low:,.0f}-{high:,.0f}) | "
            f"{r['to_fp32']:.2f} | {r['mfu']:.2f} | {r['peak_gflops']:,.0f} GFLOP/s | "
            f"{r['padding_efficiency']:.2f} | {r['peak_memory_gb']:.1f} GB |"
        )
    lines += [
        "",
        "MFU: 6 FLOPs per matmul weight and real token over the peak probed in the same "
        "precision. Peak memory: the process's RSS on a CPU, allocated GPU memory on a GPU.",
    ]
    publish(f"precision-{where}", meta, result, lines)


BENCHES = {
    "throughput": bench_throughput,
    "objectives": bench_objectives,
    "startup": bench_startup,
    "engines": bench_engines,
    "trainers": bench_trainers,
    "memory": bench_memory,
    "precision": bench_precision,
}


if __name__ == "__main__":
    main()
