"""One way to assemble a run from its config: `build(cfg) -> Run` for training, and
`build_model(cfg, tokenizers)` for everything that loads a run's weights back.

The order is fixed by what each step needs: the objective decides what the data becomes;
the backbone decides which tokenizers the data is read with (a pretrained model brings
its own, a model from scratch takes the corpus tokenizer); the model is built for those
tokenizers, the freezing strategy freezes parts of it or wraps it (LoRA), and the
objective may wrap that for pretraining (ELECTRA's generator, NSP's head); the module gets all of it through its constructor. Checkpoint
reloading rebuilds the model through `build_model`, so a checkpoint's parameter names
always match what training saved.

Settings are checked before any data is read: a bad learning rate fails in seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from seq2seq_bench.checks import ConfigError, check_settings
from seq2seq_bench.decoding import Decoding
from seq2seq_bench.dropout import use_fast_dropout
from seq2seq_bench.encoder_cache import EncoderCache
from seq2seq_bench.freezing import FreezeReport, report
from seq2seq_bench.models.backbone import Backbone
from seq2seq_bench.models.packing import use_padding_free
from seq2seq_bench.objectives.base import Objective
from seq2seq_bench.objectives.sentence_pairs import NO_DOCUMENTS
from seq2seq_bench.onednn_linear import use_onednn_linear
from seq2seq_bench.schedules import Schedule
from seq2seq_bench.types import Tokenizers

log = logging.getLogger(__name__)


@dataclass
class Model:
    """The trainable model as a run holds it, and what went into it."""

    model: nn.Module  # the backbone, maybe wrapped by the freezing strategy and the objective
    backbone: Backbone
    objective: Objective
    frozen: FreezeReport


@dataclass
class Run:
    """Everything `train.py` fits and tests, assembled."""

    cfg: DictConfig
    objective: Objective
    datamodule: Any  # TranslationDataModule (set up: eval sets read, epochs planned)
    tokenizers: Tokenizers
    model: Model
    module: Any  # Seq2SeqModule
    precision: str


def resolve_precision(requested: str) -> str:
    """`auto`: bf16-mixed on a GPU that supports it, fp32 on a CPU. Some CPUs run
    bf16-mixed faster (AVX512-BF16: the measured speed-up is in the log line below and the
    README, sample run quality the same), many run it far slower, and a default that changed the arithmetic with the
    CPU model would make one command train differently on two machines: on a CPU, bf16 is
    asked for by name. metrics.json records the precision used (`environment.precision`)."""
    if requested != "auto":
        return requested
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    if cpu_has_bf16_instructions():
        log.info(
            "training in fp32 (trainer.precision=auto on a CPU); this CPU has bf16 matmul "
            "instructions: trainer.precision=bf16-mixed trained 1.8x faster on such a "
            "host (README); `make bench ARGS=precision` measures it on this one"
        )
    return "32-true"


def cpu_has_bf16_instructions() -> bool:
    """AVX512-BF16 or AMX, by PyTorch's own (private, so looked up) CPU checks."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def decoding(settings: Any) -> Decoding:
    """A `decoding` config block, validated."""
    return Decoding.from_dict(OmegaConf.to_container(settings, resolve=True))


@dataclass(frozen=True)
class Settings:
    """What a run is trained and tested with, checked before any data is read."""

    optimizer: Callable[..., torch.optim.Optimizer]  # called with the parameter groups
    schedule: Schedule
    val_decoding: Decoding
    test_decoding: Decoding
    precision: str


def settings(cfg: DictConfig) -> Settings:
    """The checked settings of ``cfg``; a `ConfigError` or `DecodingError` names the key."""
    check_settings(OmegaConf.to_container(cfg, resolve=True))
    try:
        schedule = instantiate(cfg.scheduler)
    except InstantiationException as err:
        if isinstance(err.__cause__, ConfigError):  # its own one-line message, no wrapper
            raise err.__cause__ from None
        raise
    return Settings(
        optimizer=instantiate(cfg.optimizer),
        schedule=schedule,
        val_decoding=decoding(cfg.val_decoding),
        test_decoding=decoding(cfg.test_decoding),
        precision=resolve_precision(cfg.trainer.precision),
    )


def build_model(
    cfg: DictConfig,
    tokenizers: Tokenizers,
    backbone: Backbone | None = None,
    objective: Objective | None = None,
) -> Model:
    """backbone -> the freezing strategy -> the objective's `prepare_model`.

    The strategy freezes parts of the backbone (or wraps it in LoRA adapters); what an
    objective adds around it for pretraining (ELECTRA's generator, the NSP head) trains."""
    backbone = backbone if backbone is not None else instantiate(cfg.model)
    objective = objective if objective is not None else instantiate(cfg.objective)
    model = backbone(tokenizers=tokenizers)
    model, frozen = instantiate(cfg.freeze)(model, backbone=backbone)  # may wrap (LoRA)
    wrapped = objective.prepare_model(model, tokenizers)  # ELECTRA's generator, NSP's head
    if wrapped is not model:  # the report counts what the run trains, the wrapper included
        inside = next(name for name, module in wrapped.named_modules() if module is model)
        names = [inside if n == "<model>" else f"{inside}.{n}" for n in frozen.eval_modules]
        frozen = report(wrapped, frozen.strategy, names)
    return Model(wrapped, backbone, objective, frozen)


def encoder_cache(
    cfg: DictConfig, objective: Objective, datamodule: Any, tokenizers: Tokenizers, model: nn.Module
) -> EncoderCache | None:
    """The frozen encoder's outputs for the training pairs (`cache_encoder=true`), or None."""

    if not cfg.get("cache_encoder"):
        return None
    if not objective.fixed_inputs:
        raise ConfigError(
            f"cache_encoder=true: objective={objective.name} noises its inputs anew every "
            "epoch, so the encoder's outputs cannot be computed once (use objective=translation)"
        )
    examples = objective.encode(datamodule.train_pairs, tokenizers)
    return EncoderCache.load_or_build(
        cfg.paths.cache_dir,
        model,
        [e.input_ids for e in examples],
        tokenizers.source.pad_token_id,
    )


def build(cfg: DictConfig) -> Run:
    """The run ``cfg`` describes, with its data read (the held-out sets and the epoch plan)."""
    from seq2seq_bench.module import Seq2SeqModule  # Lightning: training only

    checked = settings(cfg)
    backbone: Backbone = instantiate(cfg.model)
    backbone.check_precision(checked.precision)

    objective: Objective = instantiate(cfg.objective)
    datamodule = instantiate(cfg.data, objective=objective, choose_tokenizers=backbone.tokenizers)
    if objective.needs_documents and not datamodule.corpus.has_documents:
        raise ConfigError(NO_DOCUMENTS.format(name=objective.name))
    tokenizers = datamodule.tokenizers
    model = build_model(cfg, tokenizers, backbone, objective)
    if cfg.get("fast_dropout", True):  # training only: evaluation has no dropout
        use_fast_dropout(model.model)
    if cfg.get("onednn_linear", False):  # training steps only (onednn_linear.py)
        use_onednn_linear(model.model)
    if cfg.get("padding_free", False):  # teacher forcing on real tokens only (packing.py)
        use_padding_free(model.model)
    datamodule.setup("fit")
    cache = encoder_cache(cfg, objective, datamodule, tokenizers, model.model)
    module = Seq2SeqModule(
        model.model,
        tokenizers,
        objective,
        optimizer=checked.optimizer,
        schedule=checked.schedule,
        val_decoding=checked.val_decoding,
        test_decoding=checked.test_decoding,
        eval_sets=datamodule.eval_sets,
        test_set_names=datamodule.test_set_names(),
        encoder_cache=cache,
        **OmegaConf.to_container(cfg.module, resolve=True),
    )
    return Run(cfg, objective, datamodule, tokenizers, model, module, checked.precision)
