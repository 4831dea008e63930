"""The decoding study: greedy vs beam 2/4/8 vs sampling on one trained model.

    python experiments/decoding/run.py <run dir> [--data tatoeba] [-o device=cuda -o ...]
    python experiments/decoding/run.py --quick     # a tiny model end to end, in minutes

Runs `s2s-evaluate` once per decoding setting (so each number is exactly what a user gets
from the tool), on the run's test split and its extra test sets (for a model trained with
data=tatoeba: the Tatoeba test split and Multi30k test_2016_flickr), then collects the
eval.json files into a table, a plot of BLEU against sentences/s, and REPORT.md.
Each `-o key=value` is passed to every s2s-evaluate call (device=, dtype=, batch_size=).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from seq2seq_bench.report import write_keeping_notes  # noqa: E402
from seq2seq_bench.rundir import predictions_name  # noqa: E402
from seq2seq_bench.significance import Predictions, compare  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# name (also a folder name and a Hydra override value: no spaces or "=") -> s2s-evaluate
# overrides. Sampling is seeded (decoding.seed), so it reproduces too.
SETTINGS: dict[str, list[str]] = {
    "greedy": ["decoding=greedy"],
    "beam2": ["decoding=beam", "decoding.num_beams=2"],
    "beam4": ["decoding=beam", "decoding.num_beams=4"],
    "beam8": ["decoding=beam", "decoding.num_beams=8"],
    "sample-top_p0.9": ["decoding=sampling"],
    "sample-T0.7": ["decoding=sampling", "decoding.top_p=1.0", "decoding.temperature=0.7"],
    "sample-min_p0.1": ["decoding=sampling", "decoding.top_p=1.0", "decoding.min_p=0.1"],
}


def evaluate(run_dir: Path, name: str, out: Path, data: str | None, extra: list[str]) -> dict:
    """One s2s-evaluate call; returns its eval.json."""
    target = out / "runs" / name
    command = [sys.executable, "-m", "seq2seq_bench.evaluate", f"ckpt={run_dir}"]
    command += [f"output_dir={target}", *SETTINGS[name], *extra]
    command += [f"data={data}"] if data else []
    print("$", " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads((target / "eval.json").read_text())


def table(reports: dict[str, dict]) -> str:
    sets = list(next(iter(reports.values()))["scores"])
    header = "| decoding | " + " | ".join(f"{s} BLEU | {s} chrF | {s} sent/s" for s in sets) + " |"
    lines = [header, "|" + "---|" * (1 + 3 * len(sets))]
    for name, report in reports.items():
        cells = []
        for s in sets:
            score, speed = report["scores"][s], report["speed"][s]["sentences_per_sec"]
            cells += [f"{score['bleu']:.2f}", f"{score['chrf']:.2f}", f"{speed:.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(reports: dict[str, dict], path: Path) -> None:
    sets = list(next(iter(reports.values()))["scores"])
    fig, axes = plt.subplots(1, len(sets), figsize=(5.5 * len(sets), 4.2), squeeze=False)
    for ax, s in zip(axes[0], sets, strict=True):
        for name, report in reports.items():
            x, y = report["speed"][s]["sentences_per_sec"], report["scores"][s]["bleu"]
            marker = "s" if name.startswith("sample") else "o"
            ax.scatter(x, y, marker=marker, s=40)
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.set(title=s, xlabel="sentences / s (log scale)", ylabel="BLEU")
        ax.grid(alpha=0.3)
    fig.suptitle("Decoding strategies: quality against speed")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def comparisons(reports: dict[str, dict]) -> list[tuple[str, str]]:
    """Every setting against greedy, and beam 8 against beam 4 (does the wider beam pay?)."""
    pairs = [("greedy", name) for name in reports if name != "greedy" and "greedy" in reports]
    return pairs + ([("beam4", "beam8")] if {"beam4", "beam8"} <= set(reports) else [])


def differences(reports: dict[str, dict], out: Path) -> str:
    """A markdown table of sacrebleu's paired bootstrap (significance.py, the test
    `s2s-evaluate compare=` and `s2s-report` use) for the pairs of `comparisons`."""
    first = next(iter(reports.values()))
    lines = [
        "| decoding | against | test set | Δ BLEU | 95% CI | p | Δ chrF | 95% CI | p |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for base, other in comparisons(reports):
        for test_set in first["scores"]:
            name = predictions_name(test_set, main=first["split"])
            read = [Predictions.read(out / "runs" / n / name) for n in (base, other)]
            cells = [other, base, test_set]
            for d in compare(*read):
                cells += [f"{d.delta:+.2f}", f"[{d.ci_low:+.2f}, {d.ci_high:+.2f}]"]
                cells.append(f"{d.p_value:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def findings(reports: dict[str, dict]) -> list[str]:
    """Facts read off the numbers, no interpretation: best BLEU and beam's price in speed."""
    notes = []
    for s in next(iter(reports.values()))["scores"]:
        best = max(reports, key=lambda n: reports[n]["scores"][s]["bleu"])
        notes.append(f"- {s}: best BLEU {reports[best]['scores'][s]['bleu']:.2f} with {best}.")
        if "greedy" in reports and "beam8" in reports:
            g, b = (reports[n]["speed"][s]["sentences_per_sec"] for n in ("greedy", "beam8"))
            notes.append(f"- {s}: beam8 runs at {b / g:.2f}x greedy's sentences/s.")
    return notes


def signature_list(report: dict) -> str:
    """One line per test set: Tatoeba's all-references scores are `nrefs:var`, Multi30k's
    `nrefs:1`; a single signature for the study would mislabel one of them. eval.json files
    written before signatures were kept per set hold one pair for the run."""
    signatures = report["signatures"]
    if "bleu" in signatures:  # the old layout: one pair, the last scored set's
        signatures = {"(every set, as recorded then)": signatures}
    return "\n".join(
        f"  - {name}: BLEU `{sig['bleu']}`, chrF `{sig['chrf']}`"
        for name, sig in signatures.items()
    )


def write_report(reports: dict[str, dict], out: Path, command: str) -> Path:
    first = next(iter(reports.values()))
    plot(reports, out / "decoding.png")
    env = first.get("environment", {})
    signature_lines = signature_list(first)
    threads = env.get("threads", first.get("threads", os.environ.get("OMP_NUM_THREADS", "all")))
    device = env.get("device", first.get("device"))
    beam = reports.get("beam4", first)["decoding"]
    path = out / "REPORT.md"
    text = f"""# Decoding study: greedy vs beam search vs sampling

- checkpoint `{first["checkpoint"]}`; data `{first["data"]}`: split `{first["split"]}`
  and its extra test sets
- device `{device}` ({threads} CPU threads), {first["dtype"]}, batch_size
  {first["batch_size"]}, max_tokens {first["max_tokens"]}, max_new_tokens
  {first["decoding"]["max_new_tokens"]}; beam search with length_penalty
  {beam["length_penalty"]} and early stopping; sampling seeded (decoding.seed)
- BLEU and chrF against all references of each test set, sacrebleu signatures:
{signature_lines}
- sentences/s end to end (tokenise, generate, detokenise), after a warm-up

Reproduce: `{command}`

{table(reports)}

![BLEU against sentences/s](decoding.png)

{chr(10).join(findings(reports))}

Is a difference larger than the test set's noise? sacrebleu's paired bootstrap resampling
(1,000 resamples; all references), the setting against the one it is compared with:

{differences(reports, out)}

Each setting's `eval.json` and predictions are under `runs/<setting>/`.
"""
    return write_keeping_notes(path, text)


def quick_run(tmp: Path) -> Path:
    """Train a tiny model on the embedded sample for a minute: a run dir to study."""
    run_dir = tmp / "run"
    overrides = [
        "model=transformer_tiny",
        "trainer.max_steps=60",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.enable_model_summary=false",
        "progress_bar=none",
        "run_test=false",
        "data.vocab_size=1000",
        f"paths.cache_dir={tmp / 'cache'}",
        f"hydra.run.dir={run_dir}",
    ]
    subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], check=True, cwd=ROOT)
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="a training run dir (or checkpoint)")
    parser.add_argument("--data", help="a data config (default: the run's own)")
    parser.add_argument("--out", type=Path, help="where REPORT.md goes (default: this folder)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny model, 40 pairs a set, short outputs"
    )
    parser.add_argument("--report-only", action="store_true", help="re-collect runs/ only")
    parser.add_argument("-o", "--override", action="append", default=[], help="key=value")
    args = parser.parse_args()
    extra: list[str] = []
    if args.quick:
        tmp = Path(tempfile.mkdtemp(prefix="decoding-quick-"))
        args.run_dir = args.run_dir or quick_run(tmp)
        args.out = args.out or tmp
        data_dir = Path(os.environ.get("S2S_DATA_DIR", "data"))
        if args.data is None and (data_dir / "fra-eng" / "fra.txt").is_file():
            args.data = "tatoeba"  # the study's real sets, cut short below
        extra += ["max_pairs=40", "device=cpu", "decoding.max_new_tokens=32"]
    extra += args.override  # last, so that they win
    if args.run_dir is None and not args.report_only:
        parser.error("give a run dir, or --quick")
    out = args.out or HERE
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "runs" / "command.txt"  # --report-only keeps the command that ran
    if args.report_only:
        done = [n for n in SETTINGS if (out / "runs" / n / "eval.json").is_file()]
        reports = {n: json.loads((out / "runs" / n / "eval.json").read_text()) for n in done}
        if not reports:
            parser.error(f"no runs/<setting>/eval.json under {out}")
    else:
        reports = {n: evaluate(args.run_dir, n, out, args.data, extra) for n in SETTINGS}
        saved.write_text(" ".join(["python experiments/decoding/run.py", *sys.argv[1:]]))
    command = saved.read_text() if saved.is_file() else "(unknown)"
    print(f"wrote {write_report(reports, out, command)}")


if __name__ == "__main__":
    main()
