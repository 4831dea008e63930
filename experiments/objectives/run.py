"""The objectives study: what does each pretraining objective buy a translation model?

    python experiments/objectives/run.py                     # the study as in REPORT.md
    python experiments/objectives/run.py --quick             # a tiny end-to-end check
    python experiments/objectives/run.py --report-only       # re-collect finished runs
    python experiments/objectives/run.py --objectives mlm bert sop --documents docs.txt

For each seed, one small Transformer (conf/experiment/objectives.yaml) is pretrained with
each objective for the same number of steps at the same token budget per batch, on the
monolingual sides of Tatoeba's train split; then every pretrained model, and one from
scratch ("none"), is fine-tuned on translation for the same number of steps and tested on
the Tatoeba test split and Multi30k test_2016_flickr. Runs go `--lanes` at a time, each
with `--threads` CPU threads, and a re-run skips finished runs (train.py's skip_finished).
The tables and figures come from `s2s-report`; REPORT.md adds the commands and a chart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from rich.console import Console  # noqa: E402

from seq2seq_bench.report import write_keeping_notes  # noqa: E402
from seq2seq_bench.report import write_report as sweep_report  # noqa: E402
from seq2seq_bench.rundir import RunDir  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NONE = "none"
DOCUMENT_OBJECTIVES = ("nsp", "sop", "bert")


@dataclass
class Job:
    name: str
    run_dir: Path
    overrides: list[str]
    after: str | None = None  # the job that must finish first
    process: subprocess.Popen | None = field(default=None, repr=False)


def pretraining_data(objective: str, args: argparse.Namespace) -> list[str]:
    """NSP, SOP and BERT's MLM+NSP read adjacent sentences of documents, which Tatoeba has
    not: they pretrain on `--documents` (one sentence per line, a blank line between two
    documents); the other objectives on Tatoeba's monolingual sides."""
    if objective not in DOCUMENT_OBJECTIVES:
        return []
    return [
        "data=text_files",
        "data.corpus.documents=true",
        f"data.corpus.paths=[{args.documents}]",
        "data.extra_test_sets=null",
    ]


def jobs(args: argparse.Namespace, out: Path) -> list[Job]:
    pretrain_dir = args.pretrain_dir
    common = [f"experiment={args.experiment}", "progress_bar=none", *args.override]
    planned: list[Job] = []
    for seed in args.seeds:
        for objective in args.objectives:
            data = pretraining_data(objective, args)
            planned.append(
                Job(
                    f"pretrain/{objective}-seed{seed}",
                    pretrain_dir / f"{objective}-seed{seed}",
                    [
                        *(o for o in common if not (data and o.startswith("data="))),
                        *data,
                        f"objective={objective}",
                        f"seed={seed}",
                        "run_test=false",
                        f"trainer.max_steps={args.pretrain_steps}",
                    ],
                )
            )
    for seed in args.seeds:
        for pretraining in [NONE, *args.objectives]:
            start = (
                []
                if pretraining == NONE
                else [
                    "model.init=pretrained",
                    # one override string for every seed, so that s2s-report groups the seeds
                    "model.pretrained=${study.pretrain_dir}/${study.pretraining}-seed${seed}",
                ]
            )
            planned.append(
                Job(
                    f"finetune/{pretraining}-seed{seed}",
                    out / "finetune" / f"{pretraining}-seed{seed}",
                    [
                        *common,
                        f"+study.pretraining={pretraining}",
                        f"seed={seed}",
                        *start,
                        f"+study.pretrain_dir={pretrain_dir}",
                        f"trainer.max_steps={args.finetune_steps}",
                    ],
                    after=None if pretraining == NONE else f"pretrain/{pretraining}-seed{seed}",
                )
            )
    return planned


def start(job: Job, threads: int) -> None:
    job.run_dir.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        *job.overrides,
        f"hydra.run.dir={job.run_dir}",
    ]
    log = open(job.run_dir.with_suffix(".log"), "w")  # noqa: SIM115 (closed with the process)
    print(f"start {job.name}", flush=True)
    job.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)


def run_all(planned: list[Job], lanes: int, threads: int) -> None:
    """Run jobs `lanes` at a time, each after the job it depends on has succeeded."""
    done: set[str] = set()
    failed: set[str] = set()
    waiting, running = list(planned), []
    started = time.time()
    while waiting or running:
        for job in [j for j in running if j.process.poll() is not None]:
            running.remove(job)
            ok = job.process.returncode == 0
            (done if ok else failed).add(job.name)
            print(
                f"{'done' if ok else 'FAILED'} {job.name} "
                f"({(time.time() - started) / 60:.1f} min in)",
                flush=True,
            )
        for job in [j for j in waiting if j.after in failed]:
            waiting.remove(job)
            failed.add(job.name)
            print(f"skipped {job.name}: {job.after} failed", flush=True)
        while len(running) < lanes:
            ready = next((j for j in waiting if j.after is None or j.after in done), None)
            if ready is None:
                break
            waiting.remove(ready)
            start(ready, threads)
            running.append(ready)
        time.sleep(2)
    if failed:
        raise SystemExit(f"failed: {sorted(failed)} (see each run's .log beside its dir)")


def s2s_report(sweep: Path, baseline: str | None = None, ignore: tuple[str, ...] = ()) -> str:
    """The sweep's s2s-report (report.md and figures in the sweep dir), as a section."""
    shown = Path(os.path.relpath(sweep))  # report.md and runs.csv name the runs as given:
    sweep = sweep if shown.parts[:1] == ("..",) else shown  # relative to here, not /home/...
    report = sweep_report(sweep, sweep, Console(quiet=True), baseline=baseline, ignore=ignore)
    return report.read_text(encoding="utf-8").split("\n", 1)[1].strip()  # without its title


def setup(out: Path, pretrain_dir: Path) -> dict[str, Any]:
    """What the finished fine-tuning runs were, read from their own config.yaml and
    metrics.json, so the report never describes a shape or budget the runs did not have."""
    finished = sorted((out / "finetune").glob("*/metrics.json"))
    if not finished:
        raise SystemExit(f"no finished fine-tuning run under {out / 'finetune'}")
    run = RunDir(finished[0].parent)
    cfg, metrics = run.load_config(), run.read_metrics() or {}
    seeds = sorted({int(f.parent.name.rsplit("-seed", 1)[1]) for f in finished})
    # read as plain text: the overrides hold interpolations (${study.pretrain_dir}) that only
    # resolve inside the run's composed config
    overrides = yaml.safe_load(run.overrides.read_text()) if run.overrides.is_file() else []
    experiment = [o.split("=", 1)[1] for o in overrides if o.startswith("experiment=")]
    pretrained = sorted(pretrain_dir.glob("*/config.yaml"))
    first_pretraining = RunDir(pretrained[0].parent).load_config() if pretrained else None
    return {
        "experiment": experiment[0] if experiment else "objectives",
        "model": cfg.model,
        "max_tokens": cfg.data.max_tokens,
        # configs before the optimizer group held the learning rate under module
        "lr": OmegaConf.select(cfg, "optimizer.lr", default=OmegaConf.select(cfg, "module.lr")),
        "params": metrics.get("params", {}).get("total"),
        "threads": metrics.get("environment", {}).get("threads"),
        "seeds": seeds,
        "finetune_steps": cfg.trainer.max_steps,
        "pretrain_steps": first_pretraining.trainer.max_steps if first_pretraining else None,
    }


def bleu_chart(out: Path, path: Path) -> list[str]:
    """Bars: test BLEU per pretraining objective (mean over seeds, seeds as dots)."""
    scores: dict[str, dict[str, list[float]]] = {}
    for metrics_file in sorted((out / "finetune").glob("*/metrics.json")):
        pretraining = metrics_file.parent.name.rsplit("-seed", 1)[0]
        for test_set, values in json.loads(metrics_file.read_text())["test"].items():
            scores.setdefault(test_set, {}).setdefault(pretraining, []).append(values["bleu"])
    if not scores:
        return []
    fig, axes = plt.subplots(1, len(scores), figsize=(5 * len(scores), 3.8), squeeze=False)
    lines = []
    for ax, (test_set, by_objective) in zip(axes[0], scores.items(), strict=True):
        names = sorted(by_objective, key=lambda n: (n != NONE, n))  # the baseline first
        means = [float(np.mean(by_objective[n])) for n in names]
        ax.bar(range(len(names)), means, color="#9ab", edgecolor="#345")
        for i, name in enumerate(names):
            ax.scatter([i] * len(by_objective[name]), by_objective[name], color="#123", zorder=3)
        labels = ["none (scratch)" if n == NONE else n for n in names]
        ax.set_xticks(range(len(names)), labels, rotation=20, ha="right")
        ax.set(title=f"{test_set}: BLEU after fine-tuning", ylabel="BLEU")
        ax.grid(axis="y", alpha=0.3)
        best = max(names, key=lambda n: np.mean(by_objective[n]))
        lines.append(
            f"- {test_set}: highest mean BLEU with pretraining `{best}` "
            f"({np.mean(by_objective[best]):.2f}; scratch "
            f"{np.mean(by_objective.get(NONE, [float('nan')])):.2f})."
        )
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return lines


def write_report(args: argparse.Namespace, command: str) -> Path:
    out, pretrain_dir, path = args.out, args.pretrain_dir, args.report
    ignore = tuple(args.ignore)
    finetune = s2s_report(out / "finetune", baseline=f"study.pretraining={NONE}", ignore=ignore)
    pretrain = s2s_report(pretrain_dir, ignore=ignore)
    found = setup(out, pretrain_dir)
    model, params = found["model"], found["params"]
    findings = bleu_chart(out, out / "bleu_by_objective.png")
    rel = {k: os.path.relpath(v, path.parent) for k, v in (("out", out), ("pre", pretrain_dir))}
    text = f"""# Objectives study: pretraining objective -> downstream translation

Setup (`conf/experiment/{found["experiment"]}.yaml` and the command below, as each run's
`config.yaml` records it): a Transformer of d_model {model.d_model},
{model.encoder_layers}+{model.get("decoder_layers")} layers, d_ff {model.d_ff}, dropout
{model.dropout} ({params:,} parameters), pretrained on both monolingual sides of Tatoeba's
train split with each objective for {found["pretrain_steps"]} steps at the same token budget
per batch ({found["max_tokens"]:,} tokens, lr {found["lr"]}), then fine-tuned on Tatoeba
translation for {found["finetune_steps"]} steps; "none" is the same fine-tuning from random
weights. Seeds {", ".join(map(str, found["seeds"]))}. Test sets: the Tatoeba test split
(multi-reference) and Multi30k test_2016_flickr, decoded greedily. CPU,
{found["threads"] or "unrecorded"} thread(s) per run.

Reproduce: `{command}`

![test BLEU by pretraining objective]({rel["out"]}/bleu_by_objective.png)

{chr(10).join(findings)}

## Fine-tuning (s2s-report of `{rel["out"]}/finetune`)

{finetune.replace("](", "](" + rel["out"] + "/finetune/")}

## Pretraining (s2s-report of `{rel["pre"]}`)

{pretrain.replace("](", "](" + rel["pre"] + "/")}
"""
    return write_keeping_notes(path, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objectives", nargs="+", default=["span_corruption", "bart", "mlm"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--experiment",
        default="objectives",
        help="the preset every run starts from: objectives (d_model 128, 2+2 layers) or "
        "objectives_base (transformer_base)",
    )
    parser.add_argument("--pretrain-steps", type=int, default=300)
    parser.add_argument("--finetune-steps", type=int, default=400)
    parser.add_argument("--lanes", type=int, default=2, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    parser.add_argument("--out", type=Path, default=HERE / "runs")
    parser.add_argument(
        "--pretrain-dir",
        type=Path,
        help="pretraining runs (default: OUT/pretrain; finished "
        "runs are reused, so a second study can fine-tune the first one's checkpoints)",
    )
    parser.add_argument(
        "--documents",
        type=Path,
        help="a document corpus (one sentence per line, blank line between documents) for "
        "the objectives that need one: nsp, sop, bert",
    )
    parser.add_argument("--report", type=Path, default=HERE / "REPORT.md")
    parser.add_argument("--quick", action="store_true", help="a few steps, into a temp dir")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--ignore",
        nargs="+",
        default=[],
        help="settings that do not make runs different configurations in the report, e.g. "
        "env.commit study.pretrain_dir for seeds run at two commits into two --out dirs "
        "(s2s-report --ignore)",
    )
    parser.add_argument("-o", "--override", action="append", default=[], help="key=value")
    args = parser.parse_args()
    needing = [o for o in args.objectives if o in DOCUMENT_OBJECTIVES]
    if needing and args.documents is None:
        parser.error(f"{', '.join(needing)} pretrain on documents: give --documents FILE")
    if args.documents is not None:
        args.documents = args.documents.resolve()
    if args.quick:
        args.pretrain_steps, args.finetune_steps, args.seeds = 3, 3, [1]
        args.out = Path(os.environ.get("TMPDIR", "/tmp")) / "objectives-quick"
        args.override += [
            "data=sample",
            "model.d_model=32",
            "model.d_ff=64",
            "data.max_eval_pairs=20",
            "data.extra_test_sets=null",
            "trainer.val_check_interval=3",
        ]
    args.out = args.out.resolve()
    args.pretrain_dir = (args.pretrain_dir or args.out / "pretrain").resolve()
    args.report = args.report.resolve()
    saved = args.out / "command.txt"
    if not args.report_only:
        args.out.mkdir(parents=True, exist_ok=True)
        saved.write_text(" ".join(["python experiments/objectives/run.py", *sys.argv[1:]]))
        run_all(jobs(args, args.out), args.lanes, args.threads)
    command = saved.read_text() if saved.is_file() else "(unknown)"
    if not args.quick:
        print(f"wrote {write_report(args, command)}")


if __name__ == "__main__":
    main()
