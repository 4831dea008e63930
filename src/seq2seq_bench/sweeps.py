"""Sweeps that can be re-run: stable job directories, finished-run detection, W&B groups.

A crashed or interrupted sweep is re-run with the same command plus
`hydra.sweep.dir=<its dir>`. Every job lands in the directory it had before, because the
directory is named after the job's overrides (`job_dirname`), not its position in the
sweep; and a job whose directory already holds the `metrics.json` of the same config
returns those metrics without training (`finished_run`). The resolvers are registered on
import, and `seq2seq_bench.train` imports this module, so the Hydra config can use them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from seq2seq_bench.rundir import RunDir

log = logging.getLogger(__name__)

MAX_DIRNAME = 200  # below the usual 255-byte limit on one path component

# Config keys that change how a run is watched, not what it computes (a dotted key covers
# what is below it). The one list: a finished run with other values for these is still the
# same run (`finished_run`), and sweep job names leave them out (`job_dirname`).
NOT_RESULT_KEYS = (
    "ckpt_path",
    "checkpoint",
    "skip_finished",
    "progress_bar",
    "logger",
    "paths",
    "hparams_search",
    "hydra",
    "trainer.enable_model_summary",
)


def is_result_key(key: str) -> bool:
    key = key.lstrip("+~")
    return not any(key == k or key.startswith(f"{k}.") for k in NOT_RESULT_KEYS)


def swept_keys(sweep_dir: str | None, search_space: Any) -> set[str]:
    """The keys a sweep varies: those given with sweep syntax (`seed=1,2`, `range(...)`) on
    its command line (Hydra's basic sweeper records it in `multirun.yaml` before the first
    job starts) and those of a search space (`hydra.sweeper.params`, Optuna)."""
    keys = {str(k) for k in (search_space or {})}
    record = Path(sweep_dir) / "multirun.yaml" if sweep_dir else None
    if record is not None and record.is_file():
        task = OmegaConf.load(record).hydra.overrides.task
        parsed = OverridesParser.create().parse_overrides(overrides=list(task))
        keys |= {o.key_or_group for o in parsed if o.is_sweep_override()}
    return keys


def job_dirname(
    overrides: Sequence[str], sweep_dir: str | None = None, search_space: Any = None
) -> str:
    """A job's directory name in its sweep: the overrides the sweep varies, sorted, then a
    hash of all the job's result-changing overrides when some were left out (so that two
    sweeps with other fixed settings never share a directory). The same overrides always
    give the same name, so a re-run sweep finds its jobs' directories.

    `python train.py -m model=t5_tiny optimizer.lr=1e-3,3e-3 seed=1,2` names a job
    `optimizer.lr=0.001,seed=1-<hash>`; without a sweep record every override is named. A
    name still too long for a path component is cut and ends in the hash."""
    items = sorted(o for o in overrides if is_result_key(o.partition("=")[0]))
    swept = swept_keys(sweep_dir, search_space)
    named = [o for o in items if o.partition("=")[0].lstrip("+~") in swept] if swept else items
    name = ",".join(named).replace("/", "_") or "defaults"
    digest = hashlib.sha1(",".join(items).encode()).hexdigest()[:8]
    if len(named) < len(items) or len(name) > MAX_DIRNAME:
        name = f"{name[: MAX_DIRNAME - len(digest) - 1]}-{digest}"
    return name


def run_group(mode: Any, sweep_dir: str, output_dir: str) -> str:
    """The W&B group of a run: its sweep for every job of a multirun (a re-run of the sweep
    joins the same group), and the run's own directory for a single run."""
    directory = sweep_dir if str(mode).endswith("MULTIRUN") else output_dir
    return "/".join(Path(directory).parts[-3:])


OmegaConf.register_new_resolver("s2s.job_dirname", job_dirname, replace=True)
OmegaConf.register_new_resolver("s2s.run_group", run_group, replace=True)


def _result_config(cfg: DictConfig) -> dict[str, Any]:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    for key in NOT_RESULT_KEYS:
        *parents, last = key.split(".")
        node: Any = resolved
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return resolved


def finished_run(cfg: DictConfig) -> dict[str, Any] | None:
    """The metrics of this very run if it already finished in its output dir, else None.

    "This very run" means the `config.yaml` saved beside `metrics.json` equals the current
    config, apart from `NOT_RESULT_KEYS`. So a sweep re-run with `ckpt_path=last` skips
    its finished jobs and resumes the interrupted ones, while continuing a finished run
    with more epochs (`hydra.run.dir=<it> ckpt_path=last trainer.max_epochs=20`) trains.
    """
    run = RunDir(Path(cfg.paths.output_dir))
    if not cfg.get("skip_finished", False):
        return None
    if not run.is_finished() or not run.is_run():
        return None
    if _result_config(run.load_config()) != _result_config(cfg):
        log.info("%s holds a finished run of another config: training again", run.root)
        return None
    log.info("already finished, skipping: %s (skip_finished=false trains again)", run.root)
    return run.read_metrics()


def select_metric(metrics: dict[str, Any], path: str) -> float:
    """The number at `optimized_metric` in metrics.json, for hparam searches.

    `test/test/bleu` -> metrics["test"]["test"]["bleu"]; keys that hold a slash themselves
    are found too: `val/val/bleu` -> metrics["val"]["val/bleu"].
    """
    node: Any = metrics
    rest = path
    while rest not in node:
        head, _, rest = rest.partition("/")
        if head not in node or not isinstance(node[head], dict) or not rest:
            raise KeyError(f"optimized_metric={path!r} is not in metrics.json (at {head!r})")
        node = node[head]
    return float(node[rest])
