"""Hydra multiruns for real: a 2x2 sweep through `python train.py -m`, its W&B runs, its
re-run after a crash, its report, and the submitit launcher; plus the helpers they use."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra_plugins.hydra_optuna_sweeper._impl import create_optuna_distribution_from_override
from omegaconf import DictConfig, OmegaConf, open_dict

from seq2seq_bench.sweeps import MAX_DIRNAME, finished_run, job_dirname, run_group, select_metric
from seq2seq_bench.train import CONF_DIR

from .conftest import TINY, compose_config, train_command, train_env
from .wandb_offline import read_offline_run

FAST = [o for o in TINY if not o.startswith("optimizer.lr=")] + [
    "trainer.max_steps=12",
    "data.max_eval_pairs=100",
]
SWEEP = [*FAST, "seed=1,2", "optimizer.lr=1e-3,3e-3", "logger=[csv,wandb]"]


def hydra_train(args: list[str], cwd: Path) -> str:
    """`python train.py ARGS` in a fresh process, as a user runs it; returns its output."""
    done = subprocess.run(
        train_command(*args),
        cwd=cwd,
        env=train_env(cwd),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("multirun")
    hydra_train(["-m", *SWEEP, f"hydra.sweep.dir={tmp / 'sweep'}"], tmp)
    return tmp / "sweep"


def test_a_2x2_multirun_writes_one_job_dir_per_combination(sweep: Path) -> None:
    jobs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert len(jobs) == 4
    combos = set()
    for job in jobs:
        overrides = OmegaConf.load(job / ".hydra" / "overrides.yaml")
        assert job.name == job_dirname(list(overrides), str(sweep))  # stable: no job number
        assert job.name.startswith("optimizer.lr=") and ",seed=" in job.name  # what varies
        combos.add(tuple(o for o in overrides if o.startswith(("seed=", "optimizer.lr="))))
        metrics = json.loads((job / "metrics.json").read_text())
        assert metrics["steps"] == 12 and metrics["params"]["trainable"] > 0
    assert len(combos) == 4


def test_each_job_is_one_wandb_run_grouped_by_its_sweep(sweep: Path) -> None:
    runs = sorted(sweep.glob("*/wandb/offline-run-*"))
    assert len({run.parent.parent for run in runs}) == len(runs) == 4  # one per job, none merged
    recorded = [read_offline_run(run) for run in runs]
    assert {r.group for r in recorded} == {"/".join(sweep.parts[-3:])}
    assert all(r.exit_code == 0 and r.logged("val/loss") for r in recorded)
    assert {r.name for r in recorded} == {run.parent.parent.name for run in runs}


def test_s2s_report_tables_and_plots_the_sweep(sweep: Path) -> None:
    script = Path(sys.executable).with_name("s2s-report")
    done = subprocess.run([script, str(sweep)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = (sweep / "report.md").read_text()
    main, differences = text.split("## Differences from `optimizer.lr=0.001`")
    lines = [line for line in main.splitlines() if line[:1] == "|"]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:3] == ["optimizer.lr", "runs", "test BLEU"]
    assert len(lines) == 2 + 2  # header, rule, one row per learning rate (2 seeds each)
    assert all(" ± " in line for line in lines[2:])
    # the other learning rate against the first, both seeds paired, on the test set
    rows = [line for line in differences.splitlines() if line.startswith("| optimizer.lr=")]
    assert len(rows) == 1 and "| test | 2 |" in rows[0]
    for figure in ("curves.png", "curves_by_time.png", "time_per_epoch.png"):
        assert (sweep / figure).stat().st_size > 1000, figure
    assert not (sweep / "bleu_vs_params.png").exists()  # one parameter count: nothing to plot


def test_a_rerun_skips_finished_jobs_and_resumes_the_interrupted_one(sweep: Path) -> None:
    crashed = sweep.parent / "crashed"  # a copy: the other tests keep the sweep as it was
    shutil.copytree(sweep, crashed)
    jobs = sorted(crashed.glob("*/metrics.json"))
    interrupted, finished = jobs[0], jobs[1:]
    interrupted.unlink()  # as if killed after its last checkpoint, before writing metrics
    before = {path: path.stat().st_mtime_ns for path in finished}
    args = ["-m", *SWEEP, f"hydra.sweep.dir={crashed}", "ckpt_path=last"]
    output = hydra_train(args, sweep.parent)
    assert output.count("already finished, skipping") == 3
    assert {path: path.stat().st_mtime_ns for path in finished} == before
    assert json.loads(interrupted.read_text())["steps"] == 12  # resumed, not started over


def test_the_submitit_local_launcher_runs_a_job(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=submitit_local", *FAST, "trainer.max_steps=4", "run_test=false"]
    hydra_train([*args, f"hydra.sweep.dir={sweep}"], tmp_path)
    [metrics] = sweep.glob("*/metrics.json")
    assert json.loads(metrics.read_text())["steps"] == 4
    assert list((sweep / ".submitit").glob("*/*_log.out"))  # it ran as a submitit job


def compose_with_hydra(overrides: list[str]) -> DictConfig:
    """The composed config with its `hydra` node kept (compose_config drops it)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


def test_the_slurm_launcher_config_extends_the_plugin_one() -> None:
    cfg = compose_with_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.gpus_per_node == 1
    assert launcher.max_num_timeout == 3  # a preempted or timed-out job is requeued


def test_job_dirname_is_safe_stable_and_names_what_the_sweep_varies(tmp_path: Path) -> None:
    assert job_dirname(["seed=1", "optimizer.lr=1e-3"]) == "optimizer.lr=1e-3,seed=1"
    assert job_dirname([]) == "defaults"
    assert job_dirname(["seed=1", "progress_bar=none", "checkpoint.every_n_minutes=5"]) == "seed=1"
    assert "/" not in job_dirname(["data.path=/data/wmt", "seed=1"])
    # a sweep's record names the keys it varies: the rest leave the name, a hash keeps it unique
    fixed = ["data.corpus.path=/very/long/path/" + "a" * 150, "model=t5_small"]
    record = {"hydra": {"overrides": {"task": [*fixed, "seed=1,2", "optimizer.lr=1e-3,3e-3"]}}}
    OmegaConf.save(record, tmp_path / "multirun.yaml")
    job = [*fixed, "seed=2", "optimizer.lr=0.003"]
    name = job_dirname(job, str(tmp_path))
    assert name.startswith("optimizer.lr=0.003,seed=2-") and len(name) <= MAX_DIRNAME
    assert name == job_dirname(job, str(tmp_path)) != job_dirname(job[:1] + job[2:], str(tmp_path))
    assert job_dirname(["seed=3", "model=t5"], None, {"seed": "range(1,4)"}).startswith("seed=3-")
    long_job = ["x=" + "a" * 300, "seed=1"]
    assert len(job_dirname(long_job)) <= MAX_DIRNAME


def test_run_group_is_the_sweep_in_a_multirun_and_the_run_otherwise() -> None:
    assert run_group("RunMode.MULTIRUN", "multirun/2026-01-01/10-00-00", "x/y") == (
        "multirun/2026-01-01/10-00-00"
    )
    assert run_group("RunMode.RUN", "multirun/a/b", "/tmp/outputs/d/t") == "outputs/d/t"


def test_select_metric_reads_nested_and_slashed_keys() -> None:
    metrics = {"test": {"test": {"bleu": 12.5}}, "val": {"val/bleu": 9.0}, "epochs": 3}
    assert select_metric(metrics, "test/test/bleu") == 12.5
    assert select_metric(metrics, "val/val/bleu") == 9.0
    assert select_metric(metrics, "epochs") == 3.0
    with pytest.raises(KeyError, match="val/val/chrf"):
        select_metric(metrics, "val/val/chrf")


def test_finished_run_means_same_config_with_metrics(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, FAST)
    out = Path(cfg.paths.output_dir)
    out.mkdir()
    OmegaConf.save(cfg, out / "config.yaml", resolve=True)
    assert finished_run(cfg) is None  # no metrics.json: interrupted
    (out / "metrics.json").write_text('{"steps": 12}')
    assert finished_run(cfg) == {"steps": 12}
    with open_dict(cfg):
        cfg.ckpt_path = "last"  # how the run is resumed does not matter
        cfg.progress_bar = "rich"
    assert finished_run(cfg) == {"steps": 12}
    cfg.trainer.max_epochs = 5  # more training asked for: not finished
    assert finished_run(cfg) is None
    cfg.trainer.max_epochs = 1
    cfg.skip_finished = False
    assert finished_run(cfg) is None


def test_optuna_search_space_is_valid_for_the_installed_optuna() -> None:
    cfg = compose_with_hydra(["hparams_search=optuna"])
    assert cfg.optimized_metric == "val/val/bleu"
    parser = OverridesParser.create()
    for key, value in cfg.hydra.sweeper.params.items():
        assert OmegaConf.select(cfg, key) is not None, f"{key} is not a config key"
        [override] = parser.parse_overrides([f"{key}={value}"])
        create_optuna_distribution_from_override(override)


def test_an_optuna_search_stored_in_sqlite_resumes(tmp_path: Path) -> None:
    """A search in a database continues where it stopped: its trials add up."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    search = [
        *FAST,
        "hparams_search=optuna",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=resumable",
        "hydra.sweeper.sampler.n_startup_trials=1",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "logger=none",
        "run_test=false",
    ]
    hydra_train([*search, "hydra.sweeper.n_trials=2"], tmp_path)
    hydra_train([*search, "hydra.sweeper.n_trials=1"], tmp_path)
    study = optuna.load_study(study_name="resumable", storage=storage)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 3 and all(t.value is not None for t in finished)
    assert (tmp_path / "sweep" / "optimization_results.yaml").is_file()
