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
import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

MAX_DIRNAME = 120  # far below the usual 255-byte limit on one path component

# Top-level config keys that change how a run is watched, not what it computes: a run that
# finished with other values for these is still the same run.
NOT_RESULT_KEYS = (
    "ckpt_path",
    "checkpoint",
    "skip_finished",
    "progress_bar",
    "logger",
    "paths",
)


def job_dirname(override_dirname: str) -> str:
    """A job's directory name in its sweep: its overrides, made filesystem-safe and short.

    `model=t5_small,seed=1` stays as it is; a `/` in a value becomes `_`; a name too
    long for a path component keeps a readable prefix and ends in a hash of the whole.
    """
    name = override_dirname.replace("/", "_") or "defaults"
    if len(name) > MAX_DIRNAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
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
    return {k: v for k, v in resolved.items() if k not in NOT_RESULT_KEYS}


def finished_run(cfg: DictConfig) -> dict[str, Any] | None:
    """The metrics of this very run if it already finished in its output dir, else None.

    "This very run" means the `config.yaml` saved beside `metrics.json` equals the current
    config, apart from `NOT_RESULT_KEYS`. So a sweep re-run with `ckpt_path=last` skips
    its finished jobs and resumes the interrupted ones, while continuing a finished run
    with more epochs (`hydra.run.dir=<it> ckpt_path=last trainer.max_epochs=20`) trains.
    """
    out = Path(cfg.paths.output_dir)
    if not cfg.get("skip_finished", False):
        return None
    if not (out / "metrics.json").is_file() or not (out / "config.yaml").is_file():
        return None
    if _result_config(OmegaConf.load(out / "config.yaml")) != _result_config(cfg):
        log.info("%s holds a finished run of another config: training again", out)
        return None
    log.info("already finished, skipping: %s (skip_finished=false trains again)", out)
    return json.loads((out / "metrics.json").read_text())


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
