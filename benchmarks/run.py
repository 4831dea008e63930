"""`make bench`: run the benchmarks and write benchmarks/results/<name>.json and .md.

Every number is a ratio against a peer measured in the same process on the same batches,
so results from different machines (or a busy one) stay comparable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import objectives
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


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = {name: measure(shape) for name, shape in SHAPES.items()}
    environment = describe_environment()
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **environment,
        "machine": environment["device_name"],
    }
    (RESULTS / "throughput.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    lines = [
        "# Training throughput: ours vs torch.nn.Transformer (same shape, same batches)",
        "",
        f"{meta['date']}, torch {meta['torch']}, {meta['threads']} threads, {meta['machine']}",
        "",
        "| model | params | ours (target tok/s) | nn.Transformer (tok/s) | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['params'] / 1e6:.1f} M | {r['ours']:.0f} | {r['peer_nn_transformer']:.0f} | {r['ratio']:.2f} |"
        )
    (RESULTS / "throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    encode = objectives.measure()
    (RESULTS / "objectives.json").write_text(
        json.dumps({"meta": meta, "results": encode}, indent=2)
    )
    lines = [
        "# Objective encoding speed: pairs/s vs translation encoding (same pairs, 1 process)",
        "",
        f"{meta['date']}, torch {meta['torch']}, {meta['machine']}; the embedded sample "
        "(6,998 pairs), 512-pair chunks as in the training stream, best of 3",
        "",
        "| objective | pairs/s | ratio to translation |",
        "| --- | ---: | ---: |",
    ]
    for name, r in encode.items():
        lines.append(f"| {name} | {r['pairs_per_sec']:,.0f} | {r['ratio']:.2f} |")
    (RESULTS / "objectives.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
