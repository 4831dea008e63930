"""Training throughput: our loop against Hugging Face's Seq2SeqTrainer and a plain PyTorch loop.

Same model (built by `build.build_model` from the same config), same Tatoeba training
split and tokenizer, same token budget per step (`MODELS`), same optimizer (AdamW, lr 5e-4, weight decay 0.01), label smoothing
0.1 and the same mean number of pairs per step:

- ours: `build(cfg)` (DataModule with its token-budget plan, Seq2SeqModule) under a
  Lightning Trainer, as `train.py` runs it (validation and checkpoints left out), glibc's
  malloc tuned as train.py tunes it (allocator.py: no mmap, 1 GiB trim threshold), its
  dropout masks drawn as train.py draws them (dropout.py), its linears on oneDNN
  (onednn_linear.py), and our Transformer's linears on the real tokens of a batch only
  (models/packing.py);
- ours_pytorch_dropout: the same with PyTorch's dropout (`fast_dropout=false`), what
  dropout.py buys;
- ours_untuned_allocator: ours with glibc's defaults, what the allocator setting buys;
- ours_mkl_linear: ours with nn.Linear's training products on MKL (`onednn_linear=false`)
  instead of oneDNN, what onednn_linear.py buys;
- ours_padded: ours on the padded layout (`padding_free=false`), what packing.py buys (for
  our Transformer; Hugging Face's T5 has no padding-free path and trains padded in every row);
- plain: a bare `for batch in batches: loss.backward(); step()` loop over the very batches
  our plan makes (our batching without our loop);
- seq2seq_trainer: `Seq2SeqTrainer` grouping by length (`train_sampling_strategy=
  "group_by_length"`, transformers 5's `group_by_length=True`) with `DataCollatorForSeq2Seq`,
  its batch size our mean pairs per step.

Each runs in its own process (peak RSS is the process's), the three interleaved per
repetition. Throughput counts target tokens (labels that are not padding) per second of
training steps after warm-up; padding efficiency is real tokens / padded tokens, source
and target together, over the measured steps.

    python -m benchmarks.trainers <ours|plain|seq2seq_trainer> <model> <steps> [max_tokens]
"""

from __future__ import annotations

import functools
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import torch

from benchmarks.jobs import json_job
from seq2seq_bench.environment import matmul_peak_gflops

WARMUP = 3
# model -> (data.max_tokens, measured steps). Two models of T5-small's shape (512 wide, 6+6
# layers, 8 heads, 2,048 feed-forward): Hugging Face's T5 (t5_small), and our Transformer
# at that shape (transformer_big), which tells how much of a gap is the model code and how
# much the loop. Their budget is halved so that Seq2SeqTrainer's peak memory (24 GB for
# T5 at 4,096 tokens) stays inside a 24 GB machine.
MODELS = {"transformer_base": (4096, 20), "t5_small": (2048, 10), "transformer_big": (2048, 10)}
LR, WEIGHT_DECAY, SMOOTHING = 5e-4, 0.01, 0.1
VARIANTS = (
    "ours",
    "ours_pytorch_dropout",
    "ours_untuned_allocator",
    "ours_mkl_linear",
    "ours_padded",
    "plain",
    "seq2seq_trainer",
)


class Meter:
    """Per-batch token counts in the order the batches are trained, and the clock of the
    steps after warm-up (started and stopped by each loop's own step hooks: a loader that
    fetches a batch ahead, as Lightning's and accelerate's do, does not move it), and a
    matmul-peak probe per batch for the MFU (`probe`), its time off the clock.

    The probe runs at every step, in the run's own process, and MFU is over the median
    probe: on a shared host the rate moves by a factor of 1.5 within seconds, so a peak
    taken once per repetition made MFU noise (0.59 and 0.77 for the same loop). On a GPU
    (`benchmarks/precision.py`) it is taken in the training precision."""

    def __init__(
        self, steps: int, model: torch.nn.Module, probe: Callable[[], float] | None = None
    ) -> None:
        self.steps, self.batches = steps, []
        self.started = self.stopped = 0.0
        self.flop_weights = flop_weights(model)
        # the matmul rate now, in GFLOP/s: the best of 2 products of 2048^3
        self.probe = probe or functools.partial(matmul_peak_gflops, "cpu", 2048, 2)
        self.peaks: list[float] = []
        self.probing = 0.0  # seconds of peak probes inside the clocked steps, not training

    def record(self, batch: dict[str, torch.Tensor]) -> None:
        labels, mask = batch["labels"], batch["attention_mask"]
        target = int((labels != -100).sum())
        self.batches.append((target, int(mask.sum()) + target, mask.numel() + labels.numel()))
        began = time.perf_counter()
        self.peaks.append(self.probe())
        if self.started and not self.stopped:
            self.probing += time.perf_counter() - began

    def start(self) -> None:
        self.started = time.perf_counter()

    def stop(self) -> None:
        self.stopped = time.perf_counter()

    def result(self) -> dict[str, float]:
        measured = self.batches[WARMUP : WARMUP + self.steps]
        if len(measured) < self.steps or not self.stopped:
            raise RuntimeError(f"measured {len(measured)} of {self.steps} steps")
        target, real, padded = (sum(column) for column in zip(*measured, strict=True))
        seconds = self.stopped - self.started - self.probing
        encoder, decoder = self.flop_weights
        flops = 6 * (encoder * (real - target) + decoder * target)
        peak = statistics.median(self.peaks)
        return {
            "target_tokens_per_sec": target / seconds,
            "model_gflops_per_sec": flops / seconds / 1e9,
            "peak_gflops": peak,
            "mfu": flops / seconds / 1e9 / peak,
            "padding_efficiency": real / padded,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "measured_steps": len(measured),
        }


def flop_weights(model: torch.nn.Module) -> tuple[int, int]:
    """Weights each source token and each target token passes through: the encoder's, and
    the decoder's plus the output projection (token embeddings are lookups, not matmuls).
    Training costs about 6 FLOPs per weight and token (forward 2, backward 4); attention
    scores are left out (sentences here are short), so the MFU below is a slight underestimate."""
    model = getattr(model, "seq2seq", model)

    def matmul_weights(module: torch.nn.Module) -> int:
        embeddings = {id(m.weight) for m in module.modules() if isinstance(m, torch.nn.Embedding)}
        return sum(
            p.numel() for p in module.parameters() if p.ndim == 2 and id(p) not in embeddings
        )

    head = model.get_output_embeddings().weight.numel()
    return matmul_weights(model.get_encoder()), matmul_weights(model.get_decoder()) + head


def config(model: str, work: Path, max_tokens: int | None = None, accelerator: str = "cpu") -> Any:
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from seq2seq_bench.cli import CONF_DIR

    overrides = [
        f"model={model}",
        "data=tatoeba",
        f"data.max_tokens={max_tokens or MODELS.get(model, (4096, 0))[0]}",
        f"optimizer.lr={LR}",
        f"optimizer.weight_decay={WEIGHT_DECAY}",
        f"module.label_smoothing={SMOOTHING}",
        "scheduler=constant",
        f"trainer.accelerator={accelerator}",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(work / "run")
        del cfg.hydra
    return cfg


def run_ours(
    cfg: Any,
    steps: int,
    tuned_allocator: bool = True,
    fast_dropout: bool = True,
    onednn_linear: bool = True,
    padding_free: bool = True,
    probe: Callable[[], float] | None = None,
) -> dict[str, float]:
    import lightning as L
    from omegaconf import open_dict

    from seq2seq_bench.allocator import keep_freed_memory
    from seq2seq_bench.build import build

    if tuned_allocator:
        keep_freed_memory()
    with open_dict(cfg):
        cfg.fast_dropout = fast_dropout
        cfg.onednn_linear = onednn_linear
        cfg.padding_free = padding_free
    run = build(cfg)
    meter = Meter(steps, run.model.model, probe)

    class Count(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            meter.record(batch)
            if batch_idx == WARMUP:
                meter.start()

        def on_train_end(self, trainer, module) -> None:
            meter.stop()

    trainer = L.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=1,
        precision=run.precision,
        max_steps=steps + WARMUP,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=cfg.trainer.get("gradient_clip_val"),
        callbacks=[Count()],
    )
    trainer.fit(run.module, datamodule=run.datamodule)
    return meter.result()


def run_plain(cfg: Any, steps: int) -> dict[str, float]:
    from hydra.utils import instantiate

    from seq2seq_bench.build import build_model

    data = instantiate(cfg.data, objective=instantiate(cfg.objective))
    model = build_model(cfg, data.tokenizers).model.train()
    data.setup()
    plan = data._plan(world=1, accumulate=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    meter = Meter(steps, model)
    for number, batch in enumerate(plan):
        if number >= steps + WARMUP:
            break
        meter.record(batch)
        if number == WARMUP:
            meter.start()
        decoder_inputs = model.prepare_decoder_input_ids_from_labels(batch["labels"])
        logits = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            decoder_input_ids=decoder_inputs,
        ).logits
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            batch["labels"].reshape(-1),
            ignore_index=-100,
            label_smoothing=SMOOTHING,
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    meter.stop()
    return meter.result()


def run_seq2seq_trainer(cfg: Any, steps: int, work: Path) -> dict[str, float]:
    from hydra.utils import instantiate
    from transformers import (
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
        TrainerCallback,
    )

    from seq2seq_bench.build import build_model

    data = instantiate(cfg.data, objective=instantiate(cfg.objective))
    tokenizers = data.tokenizers
    model = build_model(cfg, tokenizers).model
    data.setup()
    pairs = data._train_pairs
    batch_size = round(len(pairs) / data.stats["batches_per_epoch"])
    examples = data.objective.encode(pairs, tokenizers)
    dataset = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
    collate = DataCollatorForSeq2Seq(tokenizers.source, model=model, label_pad_token_id=-100)
    meter = Meter(steps, model)

    def counted(features: list[dict]) -> dict[str, torch.Tensor]:
        batch = collate(features)
        meter.record(batch)  # in training order; the loader fetches one batch ahead
        return batch

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs) -> None:
            if state.global_step == WARMUP:
                meter.start()

        def on_train_end(self, args, state, control, **kwargs) -> None:
            meter.stop()

    arguments = Seq2SeqTrainingArguments(
        output_dir=str(work / "hf"),
        per_device_train_batch_size=batch_size,
        train_sampling_strategy="group_by_length",
        learning_rate=LR,
        weight_decay=WEIGHT_DECAY,
        label_smoothing_factor=SMOOTHING,
        lr_scheduler_type="constant",
        max_steps=steps + WARMUP,
        max_grad_norm=1.0,
        save_strategy="no",
        report_to=[],
        logging_strategy="no",
        dataloader_num_workers=0,
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Seq2SeqTrainer(
        model=model,
        args=arguments,
        train_dataset=dataset,
        data_collator=counted,
        callbacks=[Clock()],
    )
    trainer.train()
    return meter.result() | {"batch_size": batch_size}


def one(variant: str, model: str, steps: int, max_tokens: int | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="s2s-trainers-") as folder:
        work = Path(folder)
        cfg = config(model, work, max_tokens)
        if variant.startswith("ours"):
            return run_ours(
                cfg,
                steps,
                tuned_allocator=variant != "ours_untuned_allocator",
                fast_dropout=variant != "ours_pytorch_dropout",
                onednn_linear=variant != "ours_mkl_linear",
                padding_free=variant != "ours_padded",
            )
        if variant == "plain":
            return run_plain(cfg, steps)
        return run_seq2seq_trainer(cfg, steps, work)


def measure(models: tuple[str, ...] = tuple(MODELS), repetitions: int = 2) -> dict[str, Any]:
    results: dict[str, dict[str, list[dict[str, float]]]] = {m: {} for m in models}
    other_cpu = []
    for repetition in range(repetitions):
        for model in models:
            for variant in VARIANTS:
                other_cpu.append(psutil.cpu_percent(interval=0.5))
                label = f"trainers: {model} / {variant}, {repetition + 1} of {repetitions}"
                command = [sys.executable, "-m", "benchmarks.trainers", variant, model]
                row = json_job(label, [*command, str(MODELS[model][1])])
                results[model].setdefault(variant, []).append(row)
    peaks = [r["peak_gflops"] for v in results.values() for rows in v.values() for r in rows]
    table: dict[str, Any] = {}
    for model, variants in results.items():
        ours = [r["target_tokens_per_sec"] for r in variants["ours"]]
        for variant, rows in variants.items():
            speeds = [r["target_tokens_per_sec"] for r in rows]
            ratios = [o / s for o, s in zip(ours, speeds, strict=True)]
            table[f"{model} / {variant}"] = {
                "target_tokens_per_sec": statistics.median(speeds),
                "spread": [min(speeds), max(speeds)],
                "ours_to_this": statistics.median(ratios),
                "padding_efficiency": statistics.median(r["padding_efficiency"] for r in rows),
                "mfu": statistics.median(r["mfu"] for r in rows),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
            }
    return {
        "budgets": {m: {"max_tokens": MODELS[m][0], "steps": MODELS[m][1]} for m in models},
        "repetitions": repetitions,
        "peak_gflops": {
            "median": statistics.median(peaks),
            "min": min(peaks),
            "max": max(peaks),
        },
        "rows": table,
        "other_cpu_percent": {"median": statistics.median(other_cpu), "max": max(other_cpu)},
    }


if __name__ == "__main__":
    variant, model, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    budget = int(sys.argv[4]) if len(sys.argv) > 4 else None
    print(json.dumps(one(variant, model, steps, budget)))
