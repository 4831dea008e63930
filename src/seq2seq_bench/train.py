"""`python train.py ...`: compose -> instantiate -> fit -> test -> artefacts.

Every run writes into its Hydra run dir: `config.yaml` (resolved), `checkpoints/`
(best + last), `metrics.json`, `predictions.tsv` (one per extra test set too), `model/`
(the best weights and tokenizer as a plain `save_pretrained` export) and logger files.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from seq2seq_bench.atomic import save_dir_atomically
from seq2seq_bench.checkpointing import AtomicCheckpointIO, LastCheckpoint, TrainingInterrupted
from seq2seq_bench.checks import check_module_settings, check_precision
from seq2seq_bench.cli import user_errors
from seq2seq_bench.environment import describe_environment
from seq2seq_bench.freezing import FrozenInEval, exportable
from seq2seq_bench.models.backbone import backbone_tokenizers
from seq2seq_bench.module import NonFiniteError, Seq2SeqModule
from seq2seq_bench.rundir import claim
from seq2seq_bench.runs import time_per_epoch
from seq2seq_bench.sweeps import finished_run, select_metric
from seq2seq_bench.tracking import closes_wandb_run, keep_history_until, log_config

log = logging.getLogger(__name__)

CONF_DIR = os.environ.get("S2S_CONF_DIR", str(Path(__file__).resolve().parents[2] / "conf"))


def resolve_precision(requested: str) -> str:
    """`auto`: bf16-mixed on a GPU that supports it, fp32 on CPU (no fast bf16 there)."""
    if requested != "auto":
        return requested
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    unique = {id(p): p for p in model.parameters()}.values()  # tied tensors count once
    return {
        "total": sum(p.numel() for p in unique),
        "trainable": sum(p.numel() for p in unique if p.requires_grad),
    }


def save_tokenizers(tokenizers: Any, out_dir: Path) -> None:
    """Keep the run's tokenizer(s) beside its checkpoints, so that a checkpoint of an
    interrupted run can still be loaded, translated with and evaluated."""
    tokenizers.target.save_pretrained(out_dir / "tokenizer")
    if tokenizers.source is not tokenizers.target:
        tokenizers.source.save_pretrained(out_dir / "source_tokenizer")


def save_export(model: torch.nn.Module, tokenizers: Any, export: Path) -> None:
    exportable(model).save_pretrained(export)  # LoRA: merged into the weights
    tokenizers.target.save_pretrained(export)
    if tokenizers.source is not tokenizers.target:
        tokenizers.source.save_pretrained(export / "source_tokenizer")


def write_predictions(path: Path, rows: list[tuple[str, list[str], str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("source\treference\thypothesis\tother_references\n")
        for source, refs, hyp in rows:
            f.write(f"{source}\t{refs[0]}\t{hyp}\t{' ||| '.join(refs[1:])}\n")


def print_summary(metrics: dict[str, Any]) -> None:
    table = Table(title=f"final metrics  ({metrics['output_dir']})")
    columns = [
        "loss",
        "ppl",
        "token_acc",
        "exact_match",
        "bleu",
        "chrf",
        "bleu_first_ref",
        "chrf_first_ref",
    ]
    table.add_column("test set")
    for column in columns:
        table.add_column(column, justify="right")
    for name, values in metrics["test"].items():
        table.add_row(name, *(f"{values[c]:.2f}" if c in values else "-" for c in columns))
    Console().print(table)
    params = metrics["params"]
    Console().print(
        f"params {params['trainable']:,} trainable / {params['total']:,} total; "
        f"fit {metrics['fit_time_sec']:.0f}s over {metrics['epochs']} epochs ({metrics['steps']} steps)"
    )


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
        return None
    final = results[0].get(checkpoint.monitor) if results else None
    best_score = checkpoint.best_model_score
    if final is None or best_score is None:
        return best
    better = final >= best_score if checkpoint.mode == "max" else final <= best_score
    log.info(
        "final weights %s=%.3f vs best.ckpt %.3f", checkpoint.monitor, final, float(best_score)
    )
    return None if better else best


@closes_wandb_run  # one W&B run per call, closed even when training fails
def train(cfg: DictConfig) -> dict[str, Any]:
    if (finished := finished_run(cfg)) is not None:  # a re-run sweep skips finished jobs
        return finished
    check_module_settings(OmegaConf.to_container(cfg.module, resolve=True))
    out_dir = Path(cfg.paths.output_dir)
    resume_from = claim(out_dir, cfg.get("ckpt_path"), first_process=rank_zero_only.rank == 0)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    L.seed_everything(cfg.seed, workers=True)

    objective = instantiate(cfg.objective)
    datamodule = instantiate(cfg.data, objective=objective)
    backbone = instantiate(cfg.model)
    tokenizers = backbone_tokenizers(backbone, datamodule.build_tokenizers)
    datamodule.tokenizers = tokenizers  # the data is tokenized with what the backbone reads
    model = backbone(tokenizers=tokenizers)
    precision = resolve_precision(cfg.trainer.precision)
    check_precision(model, precision)
    model = objective.prepare_model(model, tokenizers)  # ELECTRA adds its generator
    model, frozen = instantiate(cfg.freeze)(model)  # freezing strategy; may wrap (LoRA)
    datamodule.setup("fit")
    module = Seq2SeqModule(
        model,
        tokenizers,
        eval_sets=datamodule.eval_sets,
        decode=objective.is_translation,
        **OmegaConf.to_container(cfg.module, resolve=True),
    )
    module.test_set_names = datamodule.test_set_names()
    params = count_parameters(model)
    log.info("parameters: %s", params)

    monitor = "val/bleu" if objective.is_translation else "val/loss"
    checkpoint = ModelCheckpoint(
        dirpath=out_dir / "checkpoints",
        filename="best",
        monitor=monitor,
        mode="max" if monitor.endswith("bleu") else "min",
        save_last=False,  # LastCheckpoint owns last.ckpt
        save_top_k=1,
    )
    last = LastCheckpoint(out_dir / "checkpoints", **cfg.checkpoint)
    callbacks: list[L.Callback] = [checkpoint, last]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    if loggers:  # Lightning refuses a learning-rate monitor without a logger (logger=none)
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    if cfg.get("progress_bar", "rich") == "rich":
        callbacks.append(RichProgressBar())
    if frozen.eval_modules:
        callbacks.append(FrozenInEval(model, frozen.eval_modules))
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        precision=precision,
        default_root_dir=str(out_dir),
        plugins=AtomicCheckpointIO(),  # one plugin, not a list: Hydra would make it a ListConfig
    )
    if trainer.is_global_zero:
        OmegaConf.save(cfg, out_dir / "config.yaml", resolve=True)
        save_tokenizers(tokenizers, out_dir)
        log_config(loggers, cfg)

    if resume_from is not None and trainer.is_global_zero:
        step = torch.load(resume_from, map_location="cpu", weights_only=False)["global_step"]
        keep_history_until(out_dir / "csv" / "metrics.csv", step)
    fit_started = time.time()
    if frozen.trainable_params:
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
        except SIGTERMException:  # a SystemExit with status 0: a stopped run would look done
            raise TrainingInterrupted(
                f"SIGTERM at step {trainer.global_step}: saved {last.path}; resume with "
                f"hydra.run.dir={out_dir} ckpt_path=last"
            ) from None
    else:
        log.info("nothing to train (freeze=%s): testing the model as it is", frozen.strategy)
    fit_time = time.time() - fit_started

    trained = frozen.trainable_params > 0
    pairs_trained = module.pairs_trained_by_all()  # a collective: every rank calls it
    tested = choose_test_weights(trainer, module, datamodule, checkpoint) if trained else None
    # the last validation, the one choose_test_weights may add included (a budget stop)
    val_metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    if cfg.get("run_test", True):
        trainer.test(module, datamodule=datamodule, ckpt_path=tested, verbose=False)
    if not trainer.is_global_zero:
        return {}

    for name, result in module.test_results.items():
        suffix = "" if name == "test" else f"_{name}"
        if result["rows"]:
            write_predictions(out_dir / f"predictions{suffix}.tsv", result["rows"])
    save_dir_atomically(out_dir / "model", lambda export: save_export(model, tokenizers, export))
    metrics = {
        "output_dir": str(out_dir),
        "test": {name: r["metrics"] for name, r in module.test_results.items()},
        "val": val_metrics,
        # per test set and score: all references (nrefs:var) and the first one (nrefs:1)
        "signatures": {name: r["signatures"] for name, r in module.test_results.items()},
        "test_generation": module.test_generation,
        "params": params,
        "trainable": frozen.as_dict(),
        "data": datamodule.stats,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "batches": trainer.global_step * trainer.accumulate_grad_batches,
        "pairs_trained": pairs_trained,  # all processes; one epoch = data.train_pairs
        "fit_time_sec": fit_time,
        "wall_time_sec": time.time() - started,
        "tested_weights": tested or "final",
        "environment": describe_environment(module.device),
    }
    metrics["time_per_epoch_sec"] = time_per_epoch(metrics)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
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
