"""The freeze_comparison table, in markdown, from a finished sweep dir.

    python experiments/freeze_comparison/table.py multirun/<date>/<time>

One row per setting, from each job's `metrics.json` and `.hydra/overrides.yaml`. `s2s-report`
gives the generic sweep table and figures; this adds what the study asks for: token
accuracy, exact match and perplexity, and time per epoch also for runs that a wall-clock
budget stopped within their first epoch (estimated as seconds per step x steps per epoch).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from seq2seq_bench.runs import Run, find_runs, time_per_epoch

SETTINGS = {
    "upstream": "upstream model only",
    "scratch_full": "scratch + full training",
    "pretrained_decoder": "pretrained + decoder fine-tuning",
    "pretrained_full": "pretrained + full fine-tuning",
}
HEADER = [
    "setting",
    "test loss",
    "ppl",
    "token acc %",
    "exact match %",
    "BLEU",
    "chrF",
    "trainable params",
    "steps",
    "fit time (s)",
    "time/epoch (s)",
]


def row(run: Run) -> tuple[int, list[str]]:
    metrics: dict[str, Any] = run.metrics or {}
    test = metrics["test"]["test"]
    steps, fit = metrics["steps"], metrics["fit_time_sec"]
    per_epoch = time_per_epoch(metrics)
    setting = run.overrides.get("setting", "?")
    cells = [
        SETTINGS.get(setting, setting),
        f"{test['loss']:.3f}",
        f"{test['ppl']:.1f}",
        f"{test['token_acc']:.1f}",
        f"{test['exact_match']:.1f}",
        f"{test['bleu']:.2f}",
        f"{test['chrf']:.2f}",
        f"{metrics['params']['trainable']:,} / {metrics['params']['total']:,}",
        str(steps),
        f"{fit:.0f}",
        f"{per_epoch:.0f}" if per_epoch else "-",
    ]
    order = list(SETTINGS).index(setting) if setting in SETTINGS else len(SETTINGS)
    return order, cells


def table(sweep: Path) -> str:
    rows = sorted(row(run) for run in find_runs(sweep) if run.finished)
    lines = [HEADER, ["---"] * len(HEADER), *(cells for _, cells in rows)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1])))
