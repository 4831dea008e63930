"""The freeze_comparison table, in markdown, from a finished sweep dir.

    python experiments/freeze_comparison/table.py <sweep dir>

One row per setting, each cell the mean ± sample std over the setting's seeds (from each
job's `metrics.json` and `.hydra/overrides.yaml`). `s2s-report` gives the generic sweep
table, the significance tests and the figures; this adds what the study asks for: token
accuracy, exact match and perplexity beside BLEU and chrF, the updates each setting made
in its budget, and time per epoch also for runs that a wall-clock budget stopped within
their first epoch (seconds per step x steps per epoch).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from seq2seq_bench.runs import Run, find_runs, time_per_epoch

SETTINGS = {
    "upstream": "upstream model only",
    "scratch_full": "scratch + full training",
    "pretrained_decoder": "pretrained + decoder fine-tuning",
    "pretrained_full": "pretrained + full fine-tuning",
}
# header -> (value of one run, digits)
COLUMNS = {
    "test loss": (lambda m: m["test"]["test"]["loss"], 3),
    "ppl": (lambda m: m["test"]["test"]["ppl"], 1),
    "token acc %": (lambda m: m["test"]["test"]["token_acc"], 1),
    "exact match %": (lambda m: m["test"]["test"]["exact_match"], 1),
    "BLEU": (lambda m: m["test"]["test"]["bleu"], 2),
    "chrF": (lambda m: m["test"]["test"]["chrf"], 2),
    "steps": (lambda m: m["steps"], 0),
    "fit time (s)": (lambda m: m["fit_time_sec"], 0),
    "time/epoch (s)": (time_per_epoch, 0),
}


def cell(values: list[float | None], digits: int) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) == 1 or len(set(values)) == 1:
        return f"{mean:,.{digits}f}"
    return f"{mean:,.{digits}f} ± {statistics.stdev(values):,.{digits}f}"


def table(sweep: Path) -> str:
    by_setting: dict[str, list[Run]] = {}
    for run in find_runs(sweep):
        if run.finished:
            by_setting.setdefault(run.overrides.get("setting", "?"), []).append(run)
    order = sorted(by_setting, key=lambda s: list(SETTINGS).index(s) if s in SETTINGS else 99)
    header = ["setting", "seeds", *COLUMNS, "trainable params"]
    lines = [header, ["---"] * 2 + ["---:"] * (len(header) - 2)]
    for setting in order:
        metrics = [run.metrics or {} for run in by_setting[setting]]
        params = metrics[0]["params"]
        lines.append(
            [
                SETTINGS.get(setting, setting),
                str(len(metrics)),
                *(cell([get(m) for m in metrics], digits) for get, digits in COLUMNS.values()),
                f"{params['trainable']:,} / {params['total']:,}",
            ]
        )
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1])))
