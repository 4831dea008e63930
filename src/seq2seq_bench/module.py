"""Seq2SeqModule: one LightningModule for every backbone, objective and freezing strategy.

The backbone is any Hugging Face encoder-decoder `PreTrainedModel`; the module only
needs `model(input_ids, attention_mask, labels) -> logits` and `model.generate()`.
Loss, token accuracy and perplexity aggregate as exact corpus-level sums; BLEU, chrF and
exact match come from decoding and `metrics.score_texts`, the same function every other
tool uses.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import Timer
from torchmetrics import SumMetric
from transformers import PreTrainedModel

from seq2seq_bench.data.batching import LABEL_PAD
from seq2seq_bench.data.evalset import EvalSet
from seq2seq_bench.metrics import perplexity, score_set, token_counts
from seq2seq_bench.objectives.base import Tokenizers
from seq2seq_bench.schedules import make_lambda


class NonFiniteError(RuntimeError):
    """Training produced NaN or infinity: every number after it would be meaningless, so the
    run stops at once with a non-zero exit and writes no result; checkpoints saved before
    this step are kept."""


def check_finite(what: str, value: torch.Tensor, step: int) -> None:
    if not bool(torch.isfinite(value).all()):
        raise NonFiniteError(
            f"non-finite {what} ({value.float().item():g}) at training step {step}: the run "
            "stopped and reports no result; lower module.lr or raise module.warmup_steps, "
            "and check the data (the last good checkpoint is kept in checkpoints/)"
        )


class Seq2SeqModule(L.LightningModule):
    def __init__(
        self,
        model: PreTrainedModel,
        tokenizers: Tokenizers,
        *,
        lr: float = 5e-4,
        betas: tuple[float, float] = (0.9, 0.98),
        weight_decay: float = 0.01,
        eps: float = 1e-8,
        scheduler: str = "cosine",
        warmup_steps: int = 1000,
        min_lr_ratio: float = 0.01,
        label_smoothing: float = 0.1,
        val_generation: dict[str, Any] | None = None,
        test_generation: dict[str, Any] | None = None,
        val_decode_limit: int | None = 500,
        eval_sets: dict[str, EvalSet] | None = None,
        decode: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model", "tokenizers", "eval_sets"])
        self.model, self.tokenizers = model, tokenizers
        self.val_generation = dict(val_generation or {"num_beams": 1, "max_new_tokens": 64})
        self.test_generation = dict(test_generation or self.val_generation)
        self.eval_sets = dict(eval_sets or {})
        self.test_set_names: list[str] = ["test"]
        self.test_results: dict[str, dict[str, Any]] = {}
        # nan_strategy="disable": a NaN stays NaN (the default drops it, so a model that only
        # outputs NaN would report loss 0.0 and perplexity 1.0)
        self._sums = torch.nn.ModuleDict(
            {
                k: SumMetric(nan_strategy="disable", sync_on_compute=True)
                for k in ("nll", "correct", "tokens")
            }
        )
        self._decoded: list[tuple[int, str]] = []
        self.pairs_trained = 0  # training pairs this process has trained on (checkpointed)
        self.last_validated_step = -1
        self._last_step_time: float | None = None

    # -- training -----------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[Any, torch.Tensor]:
        """The model's output and the labels its logits are scored against: the batch's,
        unless the model makes its own (ELECTRA's replaced/original labels)."""
        out = self.model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
        )
        labels = getattr(out, "token_labels", None)
        return out, batch["labels"] if labels is None else labels

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if "pairs" in batch and int(batch["pairs"]) == 0:
            # this rank's empty step in an epoch's last round: a zero gradient (every
            # trainable parameter takes part, as DDP's gradient sync requires)
            return sum(p.sum() for p in self.model.parameters() if p.requires_grad) * 0.0
        self.pairs_trained += int(batch["pairs"]) if "pairs" in batch else 0
        out, labels = self(batch)
        if getattr(self.model, "owns_loss", False):  # a pretraining wrapper (ELECTRA)
            loss = out.loss
            for key in ("generator_loss", "discriminator_loss"):
                if getattr(out, key, None) is not None:
                    self.log(f"train/{key}", getattr(out, key))
        else:
            loss = torch.nn.functional.cross_entropy(
                out.logits.float().reshape(-1, out.logits.size(-1)),
                labels.reshape(-1),
                ignore_index=LABEL_PAD,
                label_smoothing=self.hparams.label_smoothing,
            )
        tokens = int(batch["attention_mask"].sum() + (batch["labels"] != LABEL_PAD).sum())
        now = time.perf_counter()
        if self._last_step_time is not None:
            self.log("train/tokens_per_sec", tokens / max(now - self._last_step_time, 1e-9))
        self._last_step_time = now
        check_finite("loss", loss.detach(), self.global_step)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/batch_tokens", float(tokens))
        return loss

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

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = checkpoint.get("s2s_rng")
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
        self.pairs_trained = int(checkpoint.get("s2s_pairs_trained", 0))

    def pairs_trained_by_all(self) -> int:
        """Training pairs trained on by every process together."""
        total = torch.tensor(float(self.pairs_trained))
        if dist.is_available() and dist.is_initialized():
            total = self.trainer.strategy.reduce(total.to(self.device), reduce_op="sum")
        return int(total.item())

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
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
        groups = [
            {"params": decay, "weight_decay": self.hparams.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        kwargs = dict(lr=self.hparams.lr, betas=tuple(self.hparams.betas), eps=self.hparams.eps)
        # Lightning refuses to clip the gradients of a fused optimizer under mixed precision
        # (bf16-mixed included), so the fused kernel is used in full precision only.
        fused = "mixed" not in str(self.trainer.precision)
        try:
            optimizer = torch.optim.AdamW(groups, fused=fused, **kwargs)
        except (RuntimeError, TypeError):  # no fused kernel for this device/dtype
            optimizer = torch.optim.AdamW(groups, **kwargs)
        schedule = make_lambda(
            self.hparams.scheduler,
            self.hparams.warmup_steps,
            self.hparams.min_lr_ratio,
            self._progress,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
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
        generation: dict,
    ) -> None:
        if batch["input_ids"].shape[0] == 0:  # a rank's placeholder when it has no batch
            return
        out, labels = self(batch)
        nll, correct, tokens = token_counts(out.logits, labels)
        self._sums["nll"].update(nll)
        self._sums["correct"].update(correct)
        self._sums["tokens"].update(tokens)
        if not self.hparams.decode or evalset is None:
            return
        rows = [
            r
            for r, i in enumerate(batch["index"].tolist())
            if evalset.pair_is_first[i] and (limit is None or evalset.pair_source[i] < limit)
        ]
        if rows:
            hypotheses = self.translate(
                batch["input_ids"][rows], batch["attention_mask"][rows], generation
            )
            for row, hypothesis in zip(rows, hypotheses, strict=True):
                self._decoded.append((evalset.pair_source[int(batch["index"][row])], hypothesis))

    @torch.no_grad()
    def translate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, generation: dict
    ) -> list[str]:
        width = int(attention_mask.sum(1).max())
        out = self.model.generate(
            input_ids=input_ids[:, :width], attention_mask=attention_mask[:, :width], **generation
        )
        tokenizer = self.tokenizers.target
        out = out.masked_fill((out < 0) | (out >= len(tokenizer)), tokenizer.pad_token_id)
        return tokenizer.batch_decode(
            out, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )

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
        nll, correct, tokens = (
            float(self._sums[k].compute()) for k in ("nll", "correct", "tokens")
        )
        for metric in self._sums.values():
            metric.reset()
        metrics = {
            "loss": nll / max(tokens, 1),
            "token_acc": 100.0 * correct / max(tokens, 1),
            "ppl": perplexity(nll / max(tokens, 1)),
        }
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
        self._eval_step(
            batch, self.eval_sets.get("val"), self.hparams.val_decode_limit, self.val_generation
        )

    def on_validation_epoch_end(self) -> None:
        metrics, _, _ = self._epoch_metrics(self.eval_sets.get("val"))
        self.last_validated_step = self.global_step
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
        self._eval_step(batch, self.eval_sets.get(name), None, self.test_generation)

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
