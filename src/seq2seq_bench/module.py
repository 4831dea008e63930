"""Seq2SeqModule: one LightningModule for every backbone, objective and freezing strategy.

The backbone is any Hugging Face encoder-decoder `PreTrainedModel`; the module only needs
`model(**objective.model_inputs(...)) -> logits` and `model.generate()`. What is
particular to an objective (what the model is called with, its loss, the labels it is
scored against, the metric that picks the best checkpoint) comes from the objective's hooks. Loss, token accuracy and
perplexity aggregate as exact corpus-level sums; BLEU, chrF and exact match come from
`decoding.decode_batch` and `metrics.score_set`, the decode path and score function
s2s-translate and s2s-evaluate use too.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import Timer
from torch import nn
from torchmetrics import SumMetric

from seq2seq_bench.checkpoint import CheckpointError
from seq2seq_bench.data.evalset import EvalSet
from seq2seq_bench.decoding import Decoding, decode_batch, seeded
from seq2seq_bench.encoder_cache import EncoderCache
from seq2seq_bench.environment import seconds_since_start
from seq2seq_bench.metrics import perplexity, ratio, score_set, token_counts
from seq2seq_bench.objectives.base import Objective
from seq2seq_bench.schedules import Schedule
from seq2seq_bench.types import LABEL_PAD, Tokenizers

log = logging.getLogger(__name__)
# what a checkpoint carries beyond Lightning's own state, for an exact resume
RESUME_STATE = ("s2s_rng", "s2s_pairs_trained", "s2s_train_seconds")


class NonFiniteError(RuntimeError):
    """Training produced NaN or infinity: every number after it would be meaningless, so the
    run stops at once with a non-zero exit and writes no result; checkpoints saved before
    this step are kept."""


def check_finite(what: str, value: torch.Tensor, step: int) -> None:
    if not bool(torch.isfinite(value).all()):
        raise NonFiniteError(
            f"non-finite {what} ({value.float().item():g}) at training step {step}: the run "
            "stopped and reports no result; lower optimizer.lr or raise scheduler.warmup_steps, "
            "and check the data (the last good checkpoint is kept in checkpoints/)"
        )


class Seq2SeqModule(L.LightningModule):
    """Everything it needs comes through the constructor, from `build.py`."""

    def __init__(
        self,
        model: nn.Module,
        tokenizers: Tokenizers,
        objective: Objective,
        *,
        optimizer: Callable[..., torch.optim.Optimizer],
        schedule: Schedule,
        val_decoding: Decoding,
        test_decoding: Decoding,
        eval_sets: dict[str, EvalSet],
        test_set_names: list[str],
        label_smoothing: float = 0.1,
        val_decode_limit: int | None = 500,
        encoder_cache: EncoderCache | None = None,
    ) -> None:
        super().__init__()
        self.model, self.tokenizers, self.objective = model, tokenizers, objective
        self.optimizer_factory, self.schedule = optimizer, schedule
        self.val_decoding, self.test_decoding = val_decoding, test_decoding
        self.label_smoothing, self.val_decode_limit = label_smoothing, val_decode_limit
        self.eval_sets, self.test_set_names = dict(eval_sets), list(test_set_names)
        self.encoder_cache = encoder_cache  # training batches skip the frozen encoder
        self.test_results: dict[str, dict[str, Any]] = {}
        # nan_strategy="disable": a NaN stays NaN (the default drops it, so a model that only
        # outputs NaN would report loss 0.0 and perplexity 1.0)
        sums = ("nll", "correct", "tokens")
        if objective.sentence_task is not None:  # NSP/SOP: the head's predictions too
            sums += ("sentence_correct", "sentences")
        self._sums = torch.nn.ModuleDict(
            {k: SumMetric(nan_strategy="disable", sync_on_compute=True) for k in sums}
        )
        self._decoded: list[tuple[int, str]] = []
        self.pairs_trained = 0  # training pairs this process has trained on (checkpointed)
        self.last_validated_step = -1
        # (start time, tokens) of the previous training step: train/tokens_per_sec
        self._last_step: tuple[float, int] | None = None
        # training seconds, validations excluded: the x axis of compute-matched comparisons
        self._train_seconds_before = 0.0  # from the checkpoint this fit resumed
        self._fit_started: float | None = None
        self._fit_ended: float | None = None
        self._validation_seconds = 0.0
        self._validation_started: float | None = None
        self.startup_sec: float | None = None  # command to first training step, this process

    # -- the training clock -------------------------------------------------------------
    def train_seconds(self, now: float | None = None) -> float:
        """Seconds spent training up to ``now`` (validations excluded), resumes included."""
        if self._fit_started is None:
            return self._train_seconds_before
        now = time.perf_counter() if now is None else now
        if self._fit_ended is not None:  # a validation after fit: the clock has stopped
            now = min(now, self._fit_ended)
        return self._train_seconds_before + now - self._fit_started - self._validation_seconds

    def on_train_start(self) -> None:
        self._fit_started, self._fit_ended = time.perf_counter(), None
        self._validation_seconds = 0.0

    def on_train_end(self) -> None:
        self._fit_ended = time.perf_counter()

    def on_validation_start(self) -> None:
        self._validation_started = time.perf_counter()
        self._last_step = None  # the step before a validation is not timed across it

    def on_validation_end(self) -> None:
        if self._validation_started is not None and self._fit_started is not None:
            # only the part before fit ended: the clock has stopped, and a validation after
            # it (the final or averaged weights, before testing) must not wind it back
            ended = time.perf_counter()
            if self._fit_ended is not None:
                ended = min(ended, self._fit_ended)
            self._validation_seconds += max(0.0, ended - self._validation_started)
        self._validation_started = None

    # -- training -----------------------------------------------------------------------
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.startup_sec is None:
            self.startup_sec = seconds_since_start()
            log.info("first training step %.1f s after the command started", self.startup_sec)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[Any, torch.Tensor]:
        """The model's output and the labels its logits are scored against."""
        inputs = self.objective.model_inputs(self.model, batch)
        if self.encoder_cache is not None and "pair_ids" in batch:  # a training batch
            inputs = self.encoder_cache.model_inputs(inputs, batch["pair_ids"])
        out = self.model(**inputs)
        return out, self.objective.scored_labels(out, batch)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pairs = int(batch["pairs"])  # every training batch counts its pairs (train_set.py)
        if pairs == 0:
            # this rank's empty step in an epoch's last round: a zero gradient (every
            # trainable parameter takes part, as DDP's gradient sync requires)
            return sum(p.sum() for p in self.model.parameters() if p.requires_grad) * 0.0
        self.pairs_trained += pairs
        out, labels = self(batch)
        loss, parts = self.objective.loss(out, labels, self.label_smoothing)
        for key, value in parts.items():
            self.log(f"train/{key}", value)
        tokens = int(batch["attention_mask"].sum() + (batch["labels"] != LABEL_PAD).sum())
        self.log_tokens_per_sec(tokens)
        check_finite("loss", loss.detach(), self.global_step)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/batch_tokens", float(tokens))
        return loss

    def log_tokens_per_sec(self, tokens: int) -> None:
        """The previous step's tokens over the time from its start to this one's: its forward,
        backward, optimizer step and the fetch of this batch (timing a step alone would need a
        device sync on a GPU). A validation in between ends the interval unlogged: timed as
        training, it showed as a collapse of training speed after every validation."""
        now = time.perf_counter()
        if self._last_step is not None:
            started, previous_tokens = self._last_step
            self.log("train/tokens_per_sec", previous_tokens / max(now - started, 1e-9))
        self._last_step = (now, tokens)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """A finite loss can still give infinite gradients; one step with them ruins every
        weight. fp16's loss scaler skips such steps itself, so it is left to do so."""
        if "16-mixed" == str(self.trainer.precision):
            return
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]]
        grads = [g for g in grads if g is not None]
        if grads:
            check_finite("gradient norm", torch.nn.utils.get_total_norm(grads), self.global_step)

    # -- exact resume: what a checkpoint must carry beyond Lightning's own state ----------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The RNG that dropout draws from (Lightning saves none) and the pair count."""
        checkpoint["s2s_rng"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["s2s_rng"]["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint["s2s_pairs_trained"] = self.pairs_trained
        checkpoint["s2s_train_seconds"] = self.train_seconds(self._validation_started)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A checkpoint without our state (another tool's, or an older version's) is refused: it
        would resume with the pair count and training clock at zero, so the run's epochs
        and time would be silently wrong, and with fresh dropout randomness."""
        missing = [key for key in RESUME_STATE if key not in checkpoint]
        if missing:
            raise CheckpointError(
                f"the checkpoint lacks {', '.join(missing)}: written by another tool or an "
                "older seq2seq-bench, it cannot resume a run without restarting its pair "
                "count, training clock or dropout randomness; start a new run (a run dir of "
                "ours can seed one: model.pretrained=<run dir>)"
            )
        rng = checkpoint["s2s_rng"]
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.pairs_trained = int(checkpoint["s2s_pairs_trained"])
        self._train_seconds_before = float(checkpoint["s2s_train_seconds"])

    def pairs_trained_by_all(self) -> int:
        """Training pairs trained on by every process together."""
        total = torch.tensor(float(self.pairs_trained))
        if dist.is_available() and dist.is_initialized():
            total = self.trainer.strategy.reduce(total.to(self.device), reduce_op="sum")
        return int(total.item())

    def epochs_trained(self) -> float | None:
        """Epochs of training pairs so far, every process together: metrics.json's `epochs`
        at each validation. Lightning's `epoch` column is the index of the epoch under way,
        so a validation every 200 steps read as a whole epoch, and one after a stop
        mid-epoch as the next epoch. A collective: every rank calls it."""
        pairs = self.pairs_trained_by_all()
        datamodule = self.trainer.datamodule
        per_epoch = datamodule.stats.get("train_pairs") if hasattr(datamodule, "stats") else None
        return pairs / per_epoch if per_epoch else None

    def _progress(self, step: int) -> float:
        """Fraction of the training budget used: steps or wall clock, whichever is further."""
        fractions = [0.0]
        total = self.trainer.estimated_stepping_batches
        if total not in (None, float("inf")) and total > 0:
            fractions.append(step / total)
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)
        remaining = timer.time_remaining("train") if timer is not None else None
        if remaining is not None:
            elapsed = timer.time_elapsed("train")
            fractions.append(elapsed / max(elapsed + remaining, 1e-9))
        return max(fractions)

    def configure_optimizers(self) -> dict[str, Any]:
        """The `optimizer=` config on two parameter groups (no weight decay on biases and
        norms), stepped by the `scheduler=` config's learning-rate factor."""
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
        groups = [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]
        # Lightning refuses to clip the gradients of a fused optimizer under mixed precision
        # (bf16-mixed included), so the fused kernel is used in full precision only.
        try:
            fused = "mixed" not in str(self.trainer.precision)
            optimizer = self.optimizer_factory(groups, fused=fused)
        except (RuntimeError, TypeError):  # no fused kernel for this optimizer/device/dtype
            optimizer = self.optimizer_factory(groups)
        factor = functools.partial(self.schedule.factor, progress=self._progress)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # -- evaluation ---------------------------------------------------------------------
    def _eval_step(
        self,
        batch: dict[str, torch.Tensor],
        evalset: EvalSet | None,
        limit: int | None,
        decoding: Decoding,
    ) -> None:
        if batch["input_ids"].shape[0] == 0:  # a rank's placeholder when it has no batch
            return
        out, labels = self(batch)
        nll, correct, tokens = token_counts(out.logits, labels)
        self._sums["nll"].update(nll)
        self._sums["correct"].update(correct)
        self._sums["tokens"].update(tokens)
        if self.objective.sentence_task is not None:
            correct, total = self.objective.sentence_counts(out)
            self._sums["sentence_correct"].update(correct)
            self._sums["sentences"].update(total)
        if not self.objective.is_translation or evalset is None:
            return
        rows = [
            r
            for r, i in enumerate(batch["index"].tolist())
            if evalset.pair_is_first[i] and (limit is None or evalset.pair_source[i] < limit)
        ]
        if rows:
            with seeded(decoding, self.device):
                groups = decode_batch(
                    self.model,
                    self.tokenizers,
                    batch["input_ids"][rows],
                    batch["attention_mask"][rows],
                    decoding,
                )
            for row, hypotheses in zip(rows, groups, strict=True):
                index = evalset.pair_source[int(batch["index"][row])]
                self._decoded.append((index, hypotheses[0].text))

    def _gathered_decodes(self) -> dict[int, str]:
        decoded = self._decoded
        if dist.is_available() and dist.is_initialized():
            parts: list[list[tuple[int, str]]] = [[] for _ in range(dist.get_world_size())]
            dist.all_gather_object(parts, decoded)
            decoded = [item for part in parts for item in part]
        self._decoded = []
        return dict(decoded)  # a sampler's padding repeats rows: keep one per source

    def _epoch_metrics(
        self, evalset: EvalSet | None
    ) -> tuple[dict[str, float], list[tuple[str, list[str], str]], dict[str, str]]:
        """The set's metrics, its (source, references, hypothesis) rows and the sacrebleu
        signatures of its scores."""
        sums = {k: float(metric.compute()) for k, metric in self._sums.items()}
        for metric in self._sums.values():
            metric.reset()
        nll, correct, tokens = sums["nll"], sums["correct"], sums["tokens"]
        metrics = {
            "loss": ratio(nll, tokens),
            "token_acc": 100.0 * ratio(correct, tokens),
            "ppl": perplexity(ratio(nll, tokens)),
        }
        if self.objective.sentence_task is not None:
            accuracy = 100.0 * ratio(sums["sentence_correct"], sums["sentences"])
            metrics[f"{self.objective.sentence_task}_acc"] = accuracy
        decoded = self._gathered_decodes()
        rows: list[tuple[str, list[str], str]] = []
        signatures: dict[str, str] = {}
        if decoded and evalset is not None:
            order = sorted(decoded)
            hyps = [decoded[i] for i in order]
            scores, signatures = score_set(hyps, [evalset.references[i] for i in order])
            metrics |= scores | {"decoded": float(len(hyps))}
            rows = [(evalset.sources[i], evalset.references[i], decoded[i]) for i in order]
        return metrics, rows, signatures

    def on_validation_epoch_start(self) -> None:
        self._decoded = []

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.eval_sets.get("val"), self.val_decode_limit, self.val_decoding)

    def on_validation_epoch_end(self) -> None:
        metrics, _, _ = self._epoch_metrics(self.eval_sets.get("val"))
        self.last_validated_step = self.global_step
        if self._fit_started is not None:  # not the sanity check before training
            metrics["train_time_sec"] = self.train_seconds(self._validation_started)
            if (epochs := self.epochs_trained()) is not None:
                metrics["epochs"] = epochs
        for key, value in metrics.items():
            self.log(
                f"val/{key}",
                value,
                prog_bar=key in ("loss", "bleu"),
                sync_dist=False,
                rank_zero_only=False,
            )

    def on_test_epoch_start(self) -> None:
        self._decoded, self._test_dataloader_idx = [], None

    def test_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self._test_dataloader_idx is not None and dataloader_idx != self._test_dataloader_idx:
            self._finish_test_set(self._test_dataloader_idx)
        self._test_dataloader_idx = dataloader_idx
        name = self.test_set_names[dataloader_idx]
        self._eval_step(batch, self.eval_sets.get(name), None, self.test_decoding)

    def _finish_test_set(self, dataloader_idx: int) -> None:
        name = self.test_set_names[dataloader_idx]
        metrics, rows, signatures = self._epoch_metrics(self.eval_sets.get(name))
        self.test_results[name] = {"metrics": metrics, "rows": rows, "signatures": signatures}

    def on_test_epoch_end(self) -> None:
        if self._test_dataloader_idx is not None:
            self._finish_test_set(self._test_dataloader_idx)
        for name, result in self.test_results.items():
            for key, value in result["metrics"].items():
                self.log(
                    f"test/{name}/{key}", value, add_dataloader_idx=False, rank_zero_only=False
                )
