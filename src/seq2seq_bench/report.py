"""`s2s-report <sweep dir>`: one table and a few figures that compare the runs of a sweep.

Rows are configurations: runs that differ only in `seed` make one row, each cell the mean
± sample std over those seeds. Columns are the overrides that vary across the sweep and the
environment facts that differ between finished runs (library versions, commit, device,
threads), then final scores, time and trainable parameters. The sweep may still be running:
a row counts its finished runs only, or, while none has finished, what the CSV logs hold so
far; its `runs` cell says how many are done. Writes report.md, runs.csv (one row per run, raw
numbers) and PNG figures into the sweep dir (or --out).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from seq2seq_bench.epochs import epochs_trained, time_per_epoch
from seq2seq_bench.figures import (
    plot_curves,
    plot_curves_by_time,
    plot_score_vs_params,
    plot_time_per_epoch,
)
from seq2seq_bench.rundir import RunDir
from seq2seq_bench.runs import ENV, Run, find_runs
from seq2seq_bench.significance import Predictions, compare

SEED = "seed"
DEFAULT = "(default)"  # the value of an override a run did not set
UNKNOWN = "-"  # an environment fact of a run that has not finished
TAIL = [
    "val BLEU",
    "val loss",
    "epochs",
    "steps",
    "time/epoch (s)",
    "wall time (s)",
    "matmul GFLOP/s",  # the machine's speed, recorded by runs trained against the clock
    "trainable params",
]
SCORE = "test BLEU"  # the score of the score-vs-parameters figure


def run_values(run: Run) -> dict[str, float]:
    """One run's numbers by column: final ones from metrics.json, else the CSV so far."""
    values: dict[str, float | None] = {}
    if run.metrics is None:
        # epochs: pairs trained at the last validation (module.epochs_trained); Lightning's
        # epoch index, which older runs have only, is whole while a run is mid-epoch
        labels = (("val/bleu", "val BLEU"), ("val/loss", "val loss"), ("val/epochs", "epochs"))
        for column, label in labels:
            if column in run.curves and run.curves[column].notna().any():
                values[label] = run.curves[column].dropna().iloc[-1]
        return {k: float(v) for k, v in values.items() if v is not None}
    metrics = run.metrics
    for name, scores in metrics.get("test", {}).items():
        for key, label in (("bleu", "BLEU"), ("chrf", "chrF"), ("loss", "loss")):
            values[f"{name} {label}"] = scores.get(key)
    values["val BLEU"] = metrics.get("val", {}).get("val/bleu")
    values["val loss"] = metrics.get("val", {}).get("val/loss")
    # recomputed: older metrics.json held Lightning's epoch counter, whole and rounded up
    values["epochs"] = epochs_trained(metrics) or metrics.get("epochs")
    values["steps"] = metrics.get("steps")
    # recomputed: older metrics.json divided by whole epochs only
    values["time/epoch (s)"] = time_per_epoch(metrics) or metrics.get("time_per_epoch_sec")
    values["wall time (s)"] = metrics.get("wall_time_sec", metrics.get("fit_time_sec"))
    values["matmul GFLOP/s"] = metrics.get("environment", {}).get("matmul_gflops")
    values["trainable params"] = metrics.get("params", {}).get("trainable")
    return {k: float(v) for k, v in values.items() if v is not None}


def varying_keys(runs: list[Run]) -> list[str]:
    """Every setting whose value is not the same in every run: overrides in command-line
    order, then environment facts (versions, commit, threads)."""
    keys = list(dict.fromkeys(k for run in runs for k in run.settings))
    return [k for k in keys if len(distinct_values(runs, k)) > 1]


def setting(run: Run, key: str) -> str:
    """A run's value of an override or environment fact; '-' where the environment is not
    known yet (the run is still going)."""
    return run.settings.get(key, UNKNOWN if key.startswith(ENV) else DEFAULT)


def distinct_values(runs: list[Run], key: str) -> set[str]:
    """An unset override has its default; a run still going has no environment yet, which
    is no difference."""
    values = {setting(run, key) for run in runs}
    return values - {UNKNOWN} if key.startswith(ENV) else values


def runs_frame(runs: list[Run], keys: list[str]) -> pd.DataFrame:
    """One row per run: its directory, varying overrides, whether it finished, its numbers."""
    rows = [
        {
            "run": run.dir.name,
            "dir": str(run.dir),
            **{k: setting(run, k) for k in keys},
            "finished": run.finished,
            **run_values(run),
        }
        for run in runs
    ]
    frame = pd.DataFrame(rows)
    numbers = [c for c in frame.columns if c not in ("run", "dir", "finished", *keys)]
    tests = [c for c in numbers if c not in TAIL]
    tests.sort(key=lambda c: not c.startswith("test "))  # the main test set first, stably
    return frame[["run", "dir", *keys, "finished", *tests, *[c for c in TAIL if c in numbers]]]


@dataclass
class Group:
    """Runs of one configuration: the same overrides apart from the seed."""

    overrides: dict[str, str]
    runs: pd.DataFrame

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.overrides.items()) or "all runs"

    @property
    def done(self) -> int:
        return int(self.runs["finished"].sum())

    @property
    def scored(self) -> pd.DataFrame:
        """The runs a cell is over: the finished ones, or all while none finished."""
        return self.runs[self.runs["finished"]] if self.done else self.runs

    def stat(self, column: str) -> tuple[float, float, int] | None:
        """(mean, sample std, n) over the scored runs that have a value in ``column``."""
        scored = self.scored
        if column not in scored:
            return None
        values = scored[column].dropna()
        if values.empty:
            return None
        return float(values.mean()), float(values.std()) if len(values) > 1 else 0.0, len(values)


def group_runs(frame: pd.DataFrame, keys: list[str]) -> list[Group]:
    by = [k for k in keys if k != SEED]
    if not by:
        return [Group({}, frame)]
    return [
        Group(dict(zip(by, label, strict=True)), runs)
        for label, runs in frame.groupby(by, sort=False, dropna=False)
    ]


def format_value(column: str, value: float) -> str:
    if column == "trainable params":
        return f"{value:,.0f}"
    if column == "steps":
        return f"{value:g}"
    if column == "epochs":
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if column == "matmul GFLOP/s":
        return f"{value:.0f}"
    return f"{value:.1f}" if column.endswith("(s)") else f"{value:.2f}"


def format_cell(group: Group, column: str) -> str:
    stat = group.stat(column)
    if stat is None:
        return "-"
    mean, std, n = stat
    # a mean over fewer runs than the row counts says so (runs without the value: older
    # versions' metrics, or a run without that test set)
    fewer = f" (n={n})" if n < len(group.scored) else ""
    if n == 1 or std == 0:
        return format_value(column, mean) + fewer
    # a spread keeps its decimals: epochs' "0.38 ± 0" would read as no spread at all
    spread = f"{std:.2f}" if column == "epochs" else format_value(column, std)
    return f"{format_value(column, mean)} ± {spread}{fewer}"


def short(value: str) -> str:
    """An override value for reading: sampled floats (Optuna) to 4 significant digits."""
    try:
        return f"{float(value):.4g}"
    except ValueError:
        return value


def summary_table(groups: list[Group], keys: list[str], columns: list[str]) -> list[list[str]]:
    """Header row, then one row of strings per configuration."""
    by = [k for k in keys if k != SEED]
    rows = [[*by, "runs", *columns]]
    for group in groups:
        total = len(group.runs)
        runs = str(total) if group.done == total else f"{group.done} of {total} done"
        values = [short(v) for v in group.overrides.values()]
        rows.append([*values, runs, *(format_cell(group, c) for c in columns)])
    return rows


def to_markdown(rows: list[list[str]], numeric_from: int) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rule = ["---" if i < numeric_from else "---:" for i in range(len(rows[0]))]
    return "\n".join([line(rows[0]), line(rule), *(line(r) for r in rows[1:])])


def run_label(run: Run, keys: list[str]) -> str:
    return ",".join(f"{k}={setting(run, k)}" for k in keys) or "all runs"


def natural(value: str) -> tuple[int, float, str]:
    """Sort key: numbers by value (1e-3 before 1e-2), then words alphabetically."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def draw_figures(runs: list[Run], groups: list[Group], keys: list[str], out: Path) -> list[str]:
    """Draw the PNGs that have data; return their markdown image lines."""
    drawn = []
    by = [k for k in keys if k != SEED]
    curves = {run_label(r, keys): r.curves for r in runs}
    in_group = {run_label(r, keys): run_label(r, by) for r in runs}
    if plot_curves(curves, in_group, out / "curves.png"):
        drawn.append("![train/val loss and val BLEU by training step, per run](curves.png)")
    if plot_curves_by_time(curves, in_group, out / "curves_by_time.png"):
        drawn.append("![val loss and val BLEU by training minutes, per run](curves_by_time.png)")
    bars, points = [], []
    for group in groups:
        if time := group.stat("time/epoch (s)"):
            bars.append((group.label, time[0], time[1]))
        score, params = group.stat(SCORE), group.stat("trainable params")
        if score and params:
            points.append((group.label, params[0], score[0], score[1]))
    # a figure only where its quantity varies: one bar, or one parameter count, says nothing
    if len(bars) > 1 and plot_time_per_epoch(bars, out / "time_per_epoch.png"):
        drawn.append("![time per epoch, per configuration](time_per_epoch.png)")
    varied = len({round(p[1]) for p in points}) > 1
    if varied and plot_score_vs_params(points, SCORE, out / "bleu_vs_params.png"):
        drawn.append(f"![{SCORE} vs trainable parameters](bleu_vs_params.png)")
    return drawn


def choose_baseline(groups: list[Group], wanted: str | None) -> Group:
    """The group named ``wanted`` (its label, or a part of it that names one group), else
    the first row."""
    if wanted is None:
        return groups[0]
    exact = [g for g in groups if g.label == wanted]
    found = exact or [g for g in groups if wanted in g.label]
    if len(found) != 1:
        labels = "; ".join(g.label for g in groups)
        how = "matches several rows" if found else "matches no row"
        raise ValueError(f"--baseline {wanted!r} {how}: choose one of: {labels}")
    return found[0]


def seed_order(seed: str) -> tuple[int, str]:
    return (int(seed) if seed.isdigit() else -1, seed)


def paired_predictions(
    base: Group, other: Group, test_set: str
) -> tuple[Predictions, Predictions, int, str | None] | None:
    """Both groups' predictions of ``test_set``, seed k paired with seed k and all seeds
    concatenated, and how they were paired. Groups with no seed in common (a tuned recipe
    run with seed 1 against a baseline run with seed 0) are paired in seed order instead,
    and the pairing says so: the test pairs sentences, and which replica of one system
    meets which of the other is arbitrary. None when one has no finished predictions."""

    def by_seed(group: Group) -> dict[str, Path]:
        done = group.runs[group.runs["finished"]]
        seeds = done[SEED] if SEED in done else ["-"] * len(done)
        files = {
            str(k): RunDir(Path(d)).predictions(test_set)
            for k, d in zip(seeds, done["dir"], strict=True)
        }
        return {k: f for k, f in files.items() if f.is_file()}

    ours, theirs = by_seed(base), by_seed(other)
    pairs = [(k, k) for k in ours if k in theirs]
    pairing = None
    if not pairs:
        pairs = list(
            zip(sorted(ours, key=seed_order), sorted(theirs, key=seed_order), strict=False)
        )
        pairing = "no shared seed: " + ", ".join(f"{b} vs {a}" for a, b in pairs)
    if not pairs:
        return None
    read = Predictions.read
    return (
        Predictions.concatenate([read(ours[k]) for k, _ in pairs]),
        Predictions.concatenate([read(theirs[k]) for _, k in pairs]),
        len(pairs),
        pairing,
    )


def significance(groups: list[Group], baseline: Group, test_sets: list[str]) -> list[dict]:
    """Every other configuration against the baseline on each test set: sacrebleu's paired
    bootstrap for BLEU and chrF (see significance.py)."""
    found = []
    for group in groups:
        if group is baseline:
            continue
        for test_set in test_sets:
            pair = paired_predictions(baseline, group, test_set)
            if pair is None:
                continue
            try:
                differences = compare(pair[0], pair[1])
            except ValueError as err:  # other test sets: nothing to pair
                found.append({"configuration": group.label, "test set": test_set, "note": str(err)})
                continue
            row = {"configuration": group.label, "test set": test_set, "seeds": pair[2]}
            if pair[3]:
                row["pairing"] = pair[3]
            for d in differences:
                row[d.metric] = d.as_dict()
            found.append(row)
    return found


def significance_table(found: list[dict]) -> list[list[str]]:
    header = ["configuration", "test set", "seeds"]
    header += ["Δ BLEU", "95% CI", "p", "Δ chrF", "95% CI", "p"]
    rows = [header]
    for row in found:
        seeds = str(row.get("seeds", "-"))
        cells = [row["configuration"], row["test set"]]
        cells.append(f"{seeds} ({row['pairing']})" if "pairing" in row else seeds)
        for metric in ("bleu", "chrf"):
            d = row.get(metric)
            if d is None:
                cells += ["-", row.get("note", "-"), "-"]
                continue
            cells += [
                f"{d['delta']:+.2f}",
                f"[{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]",
                f"{d['p_value']:.3f}",
            ]
        rows.append(cells)
    return rows


NOTES = "<!-- notes: hand-written below this line, kept when the report is rewritten -->"


def write_keeping_notes(path: Path, generated: str) -> Path:
    """Write a study's REPORT.md: the generated part, then whatever the file already held
    below the NOTES marker, so that regenerating a report never erases its analysis."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    notes = old[old.index(NOTES) :] if NOTES in old else NOTES + "\n"
    path.write_text(generated.rstrip("\n") + "\n\n" + notes, encoding="utf-8")
    return path


def write_report(
    sweep_dir: Path,
    out: Path,
    console: Console | None = None,
    baseline: str | None = None,
    ignore: tuple[str, ...] = (),
) -> Path:
    runs = find_runs(sweep_dir)
    if not runs:
        raise FileNotFoundError(f"no runs under {sweep_dir} (no */.hydra/overrides.yaml)")
    name = str(sweep_dir) if sweep_dir.name else str(sweep_dir.resolve())  # not just "."
    out.mkdir(parents=True, exist_ok=True)
    keys = [k for k in varying_keys(runs) if k not in ignore]
    runs.sort(key=lambda run: [natural(setting(run, k)) for k in keys])
    frame = runs_frame(runs, keys)
    frame.to_csv(out / "runs.csv", index=False)
    groups = group_runs(frame, keys)
    columns = list(frame.columns[frame.columns.get_loc("finished") + 1 :])
    rows = summary_table(groups, keys, columns)
    numeric_from = len(keys) - (SEED in keys)
    done = int(frame["finished"].sum())
    text = [
        f"# Sweep report: `{name}`",
        "",
        f"{done} of {len(runs)} runs finished. One row per configuration: a cell is the mean"
        " ± sample std over its finished runs, which differ only in seed (`runs`: how many;"
        " while none has finished, the validation so far; `(n=k)`: only k of them have that"
        " value). Raw numbers per run: `runs.csv`.",
        "",
        to_markdown(rows, numeric_from),
        "",
    ]
    if ignore:
        text += [
            f"Runs that differ only in {', '.join(f'`{k}`' for k in ignore)} are grouped"
            " together (`--ignore`); `runs.csv` keeps every run apart.",
            "",
        ]
    base = choose_baseline(groups, baseline)
    test_sets = [
        c.removesuffix(" BLEU") for c in columns if c.endswith(" BLEU") and c != "val BLEU"
    ]
    found = significance(groups, base, test_sets) if len(groups) > 1 else []
    if found:
        text += [
            f"## Differences from `{base.label}`",
            "",
            "Each configuration against this baseline on the same test sentences: the"
            " difference in BLEU and chrF (all references), its 95 % confidence interval and"
            " p-value from sacrebleu's paired bootstrap resampling (1,000 resamples), with the"
            " translations of seed k paired with seed k and all shared seeds concatenated"
            " (`seeds`; configurations with no seed in common are paired in seed order, and"
            " `seeds` says which met which). p < 0.05: the difference is larger than the test set's noise.",
            "",
            to_markdown(significance_table(found), 3),
            "",
        ]
        (out / "significance.json").write_text(json.dumps(found, indent=2), encoding="utf-8")
    text += draw_figures(runs, groups, keys, out)
    path = out / "report.md"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")

    table = Table(title=f"{name}: {done} of {len(runs)} runs finished")
    for i, header in enumerate(rows[0]):
        table.add_column(header, justify="right" if i >= numeric_from else "left")
    for row in rows[1:]:
        table.add_row(*row)
    console = console or Console()
    if not console.is_terminal:  # piped or logged: no terminal width to wrap the table to
        console = Console(width=max(console.width, 200))
    console.print(table)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="s2s-report", description="Compare the runs of a Hydra sweep: a table and figures."
    )
    parser.add_argument("sweep_dir", type=Path, help="a Hydra sweep dir (or a single run dir)")
    parser.add_argument(
        "--out", type=Path, help="where report.md and figures go (default: sweep_dir)"
    )
    parser.add_argument(
        "--baseline",
        help="the row every other configuration is compared with (its label, or a part of it "
        "that names one row, e.g. setting=scratch_full); default: the first row",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="KEY",
        help="group runs that differ in KEY (an override or env.* fact) as one configuration, "
        "e.g. --ignore env.commit when only documentation changed between runs; repeatable",
    )
    args = parser.parse_args(argv)
    try:
        path = write_report(
            args.sweep_dir,
            args.out or args.sweep_dir,
            baseline=args.baseline,
            ignore=tuple(args.ignore),
        )
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    Console().print(f"wrote {path}")


if __name__ == "__main__":
    main()
