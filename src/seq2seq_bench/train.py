"""`python train.py ...`: compose -> build (build.py) -> fit -> test -> artefacts.

Every run writes into its Hydra run dir through `RunDir` (rundir.py lists the layout):
`config.yaml`, `checkpoints/` (best + last), `metrics.json`, `predictions*.tsv`, the
`model/` export (export.py) and the loggers' files.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from seq2seq_bench.allocator import keep_freed_memory
from seq2seq_bench.averaging import WeightSnapshots, load_average, put_weights, trainable_weights
from seq2seq_bench.build import build
from seq2seq_bench.checkpointing import AtomicCheckpointIO, LastCheckpoint, TrainingInterrupted
from seq2seq_bench.checks import ConfigError
from seq2seq_bench.cli import CONF_DIR, quiet_transformers, user_errors
from seq2seq_bench.environment import describe_environment, git_state, matmul_peak_gflops
from seq2seq_bench.epochs import epochs_trained, time_per_epoch
from seq2seq_bench.export import save_export
from seq2seq_bench.frozen_in_eval import FrozenInEval
from seq2seq_bench.model_summary import ParameterSummary
from seq2seq_bench.module import NonFiniteError, Seq2SeqModule
from seq2seq_bench.progress import ProgressBar
from seq2seq_bench.rundir import RunDir, write_predictions
from seq2seq_bench.sweeps import finished_run, select_metric
from seq2seq_bench.tables import print_scores
from seq2seq_bench.tracking import closes_wandb_run, keep_history_until, log_config

log = logging.getLogger(__name__)


class NoTips(logging.Filter):
    """Drops Lightning's "💡 Tip: ... try installing litlogger" line: an advert for a cloud
    service at every run start, among the lines a user reads for the run's own state."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("💡 Tip:")


NO_TIPS = NoTips()


def quiet_lightning(monitor: str) -> None:
    """Lightning's lines at every run that say nothing true about the run: the litlogger
    advert; the warning, when training stops before its first validation, that ``monitor``
    is never logged (choose_test_weights logs what that means); and a deprecation inside
    Lightning's own code (`isinstance(treespec, LeafSpec)`) that no user can act on."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(NO_TIPS)
    found = re.escape(f"`ModelCheckpoint(monitor={monitor!r})` could not find the monitored")
    warnings.filterwarnings("ignore", message=found)
    warnings.filterwarnings("ignore", message=re.escape("`isinstance(treespec, LeafSpec)`"))


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    unique = {id(p): p for p in model.parameters()}.values()  # tied tensors count once
    return {
        "total": sum(p.numel() for p in unique),
        "trainable": sum(p.numel() for p in unique if p.requires_grad),
    }


def print_summary(metrics: dict[str, Any]) -> None:
    params, epochs = metrics["params"], metrics["epochs"]
    epochs_text = "?" if epochs is None else f"{epochs:g}"  # None: no training data counted
    print_scores(
        f"final metrics  ({metrics['output_dir']})",
        metrics["test"],
        [
            f"params {params['trainable']:,} trainable / {params['total']:,} total; "
            f"fit {metrics['fit_time_sec']:.0f}s over {epochs_text} epochs "
            f"({metrics['steps']} steps)"
        ],
    )


def at_least_as_good(score: float, other: float, mode: str) -> bool:
    """Whether ``score`` validates at least as well as ``other`` (mode: max or min)."""
    return score >= other if mode == "max" else score <= other


def choose_test_weights(
    trainer: L.Trainer, module: Seq2SeqModule, datamodule: Any, checkpoint: ModelCheckpoint
) -> str | None:
    """The checkpoint to test: `best.ckpt`, unless the final weights validate at least as well.

    A wall-clock budget stops training mid-epoch, after the last validation; with a
    schedule that decays to the end, those last unvalidated steps are often the best.
    Returns None for "the final weights in memory".
    """
    best = checkpoint.best_model_path or None
    if module.last_validated_step == trainer.global_step:
        return best
    results = trainer.validate(module, datamodule=datamodule, verbose=False)
    if best is None:  # stopped before the first validation
        log.info("training stopped before its first validation: testing the final weights")
        return None
    final = results[0].get(checkpoint.monitor) if results else None
    best_score = checkpoint.best_model_score
    if final is None or best_score is None:
        return best
    better = at_least_as_good(float(final), float(best_score), checkpoint.mode)
    log.info(
        "final weights %s=%.3f vs best.ckpt %.3f", checkpoint.monitor, final, float(best_score)
    )
    return None if better else best


def test_average(
    trainer: L.Trainer,
    module: Seq2SeqModule,
    datamodule: Any,
    run_dir: RunDir,
    last: int,
    checkpoint: ModelCheckpoint,
) -> dict[str, Any]:
    """The mean of the last snapshots (checkpoint_average.last) if it validates at least as
    well as the final weights, else the final weights: averaging a window in which the model
    still improved fast can cost more than it smooths. Both validations are recorded, so each
    run shows what averaging bought it; the last one logged is of the weights tested."""
    final = trainer.validate(module, datamodule=datamodule, verbose=False)
    record: dict[str, Any] = {"val_final": final[0] if final else {}, "used": False}
    trainer.strategy.barrier()  # the first rank wrote the final snapshot
    final_weights = trainable_weights(module.model)
    record["steps"] = load_average(module.model, run_dir.snapshots, last)
    if len(record["steps"]) < 2:
        return record
    averaged = trainer.validate(module, datamodule=datamodule, verbose=False)
    record["val_average"] = averaged[0] if averaged else {}
    ours, theirs = (
        record["val_average"].get(checkpoint.monitor),
        record["val_final"].get(checkpoint.monitor),
    )
    if ours is not None and theirs is not None:
        record["used"] = at_least_as_good(ours, theirs, checkpoint.mode)
    log.info(
        "checkpoint average of steps %s: %s=%s against the final weights' %s: testing the %s",
        record["steps"],
        checkpoint.monitor,
        ours,
        theirs,
        "average" if record["used"] else "final weights",
    )
    if not record["used"]:
        put_weights(module.model, final_weights)
        trainer.validate(module, datamodule=datamodule, verbose=False)
    return record


def check_validation_interval(trainer: L.Trainer, batches: int) -> None:
    """A step interval longer than an epoch never validates within one; Lightning says so
    from deep inside `fit`, after the model, data and loggers are set up."""
    interval = trainer.val_check_interval
    if isinstance(interval, int) and trainer.check_val_every_n_epoch and interval > batches:
        raise ConfigError(
            f"trainer.val_check_interval={interval} is more than the {batches} training "
            "batches of an epoch here: add trainer.check_val_every_n_epoch=null to validate "
            f"every {interval} steps across epochs, or give a fraction of an epoch (0.5)"
        )


def machine_speed(cfg: DictConfig, trainer: L.Trainer) -> float | None:
    """A run against the clock (trainer.max_time) is only as good as the machine is fast:
    its fp32 matmul GFLOP/s, measured before training, or None for a run of steps/epochs."""
    if not cfg.trainer.get("max_time"):
        return None
    speed = matmul_peak_gflops(trainer.strategy.root_device)
    log.info("time budget %s: fp32 matmul at %.0f GFLOP/s here", cfg.trainer.max_time, speed)
    return speed


@closes_wandb_run  # one W&B run per call, closed even when training fails
def train(cfg: DictConfig) -> dict[str, Any]:
    if (finished := finished_run(cfg)) is not None:  # a re-run sweep skips finished jobs
        return finished
    run_dir = RunDir(Path(cfg.paths.output_dir))
    resume_from = run_dir.claim(cfg.get("ckpt_path"), first_process=rank_zero_only.rank == 0)
    run_dir.root.mkdir(parents=True, exist_ok=True)
    started = time.time()
    code = git_state()  # the code this process runs, whatever the checkout holds at the end
    if cfg.get("keep_freed_memory", True):
        keep_freed_memory()
    L.seed_everything(cfg.seed, workers=True)

    run = build(cfg)
    module, datamodule, frozen = run.module, run.datamodule, run.model.frozen
    params = count_parameters(run.model.model)
    log.info("parameters: %s", params)

    monitor, mode = run.objective.monitor()
    checkpoint = ModelCheckpoint(
        dirpath=run_dir.checkpoints,
        filename=run_dir.best.stem,
        monitor=monitor,
        mode=mode,
        save_last=False,  # LastCheckpoint owns last.ckpt
        save_top_k=1,
    )
    quiet_lightning(monitor)
    last = LastCheckpoint(run_dir.last, **cfg.checkpoint)
    callbacks: list[L.Callback] = [checkpoint, last]
    average = cfg.get("checkpoint_average") or {}
    if average.get("last"):
        callbacks.append(WeightSnapshots(run_dir.snapshots, **average))
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    if loggers:  # Lightning refuses a learning-rate monitor without a logger (logger=none)
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    show_progress = cfg.get("progress_bar", "rich") == "rich"
    if show_progress:
        callbacks.append(ProgressBar())
    else:
        quiet_transformers()  # its export's "Writing model shards" bar too
    if frozen.eval_modules:
        callbacks.append(FrozenInEval(run.model.model, frozen.eval_modules))
    if cfg.trainer.get("enable_model_summary", True):
        callbacks.append(ParameterSummary())  # Lightning's own prints "Total FLOPs: 0"
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        precision=run.precision,
        default_root_dir=str(run_dir.root),
        plugins=AtomicCheckpointIO(),  # one plugin, not a list: Hydra would make it a ListConfig
        # progress_bar=none: no bar at all (Lightning would otherwise add its default one)
        enable_progress_bar=show_progress,
        enable_model_summary=False,  # ours is in the callbacks, when the config asks for one
    )
    check_validation_interval(
        trainer, datamodule.batches_per_epoch(trainer.world_size, trainer.accumulate_grad_batches)
    )
    speed = machine_speed(cfg, trainer)
    if trainer.is_global_zero:
        run_dir.save_config(cfg)
        run_dir.save_tokenizers(run.tokenizers)
        log_config(loggers, cfg)

    if resume_from is not None and trainer.is_global_zero:
        step = torch.load(resume_from, map_location="cpu", weights_only=False)["global_step"]
        keep_history_until(run_dir.curves, step)
    fit_started = time.time()
    if frozen.trainable_params:
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
        except SIGTERMException:  # a SystemExit with status 0: a stopped run would look done
            raise TrainingInterrupted(
                f"SIGTERM at step {trainer.global_step}: saved {last.path}; resume with "
                f"hydra.run.dir={run_dir.root} ckpt_path=last"
            ) from None
    else:
        log.info("nothing to train (freeze=%s): testing the model as it is", frozen.strategy)
    fit_time = time.time() - fit_started

    trained = frozen.trainable_params > 0
    pairs_trained = module.pairs_trained_by_all()  # a collective: every rank calls it
    averaged: dict[str, Any] | None = None
    tested: str | None = None  # None: the weights in memory
    if trained and average.get("last"):
        averaged = test_average(trainer, module, datamodule, run_dir, average["last"], checkpoint)
    elif trained:
        tested = choose_test_weights(trainer, module, datamodule, checkpoint)
    # the last validation, the one choose_test_weights may add included (a budget stop)
    val_metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    test_started = time.time()
    if cfg.get("run_test", True):
        trainer.test(module, datamodule=datamodule, ckpt_path=tested, verbose=False)
    test_time = time.time() - test_started  # decoding every test set: outside a time budget
    if not trainer.is_global_zero:
        return {}

    for name, result in module.test_results.items():
        if result["rows"]:
            write_predictions(run_dir.predictions(name), result["rows"])
    prefix = run.objective.prefix
    save_export(run.model.model, run.tokenizers, run_dir.export, module.test_decoding, prefix)
    metrics = {
        "output_dir": str(run_dir.root),
        "test": {name: r["metrics"] for name, r in module.test_results.items()},
        "val": val_metrics,
        # per test set and score: all references (nrefs:var) and the first one (nrefs:1)
        "signatures": {name: r["signatures"] for name, r in module.test_results.items()},
        "test_decoding": module.test_decoding.as_dict(),
        "val_decoding": module.val_decoding.as_dict(),
        "params": params,
        "trainable": frozen.as_dict(),
        "data": datamodule.stats,
        "steps": trainer.global_step,
        "batches": trainer.global_step * trainer.accumulate_grad_batches,
        "pairs_trained": pairs_trained,  # all processes; one epoch = data.train_pairs
        "startup_sec": module.startup_sec,  # command to first training step (None: no step)
        "fit_time_sec": fit_time,
        "test_time_sec": test_time,
        "wall_time_sec": time.time() - started,
        "tested_weights": tested or ("average" if averaged and averaged["used"] else "final"),
        "checkpoint_average": averaged,
        # with the precision Lightning trained in: `auto` resolves by machine (bf16 on a
        # GPU, fp32 on a CPU), so the same command can mean two precisions
        "environment": describe_environment(module.device, code, speed)
        | {"precision": run.precision},
    }
    metrics["epochs"] = epochs_trained(metrics)  # a fraction when a budget stopped it
    metrics["time_per_epoch_sec"] = time_per_epoch(metrics)
    run_dir.write_metrics(metrics)
    print_summary(metrics)
    return metrics


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    with user_errors("train.py", also=(NonFiniteError, TrainingInterrupted)):
        metrics = train(cfg)
    target = cfg.get("optimized_metric")
    if target and metrics:
        return select_metric(metrics, target)
    return None
