"""Freezing strategies: which tensors of a backbone train, and which stay as they were.

A strategy is a `freeze=` choice (conf/freeze/*.yaml), applied by train.py right after the
model is built: `model, report = instantiate(cfg.freeze)(model)`. Every strategy works on
every backbone, because parts are found through the Hugging Face accessors
(`get_encoder()`, `get_decoder()`, `get_input_embeddings()`, `get_output_embeddings()`),
never through one model's parameter names.

| freeze=      | frozen                                                                 |
|--------------|------------------------------------------------------------------------|
| `none`       | nothing: full fine-tuning                                              |
| `encoder`    | the encoder; the decoder and LM head train                             |
| `decoder`    | the decoder and its LM head (`get_output_embeddings()`); the encoder trains |
| `embeddings` | token embeddings (input and output), learned position tables, BERT's embedding block |
| `all`        | everything: train.py skips fitting and tests the upstream model as it is |
| `lora`       | the whole backbone; peft's low-rank adapters (rank, targets from config) train |

Tied tensors. T5, mT5, BART and our Transformer keep ONE embedding matrix (`shared`) that
is at once the encoder's input embedding, the decoder's input embedding and the LM head.
It belongs to the encoder and to the decoder. With `tied: freeze` (the default), a frozen
part freezes every tensor it uses, shared ones included: `freeze=encoder` on T5 freezes
`shared`, so the decoder's layers train but its input embedding and LM head stay as they
were, and the encoder computes exactly the function it computed before. With `tied: train`,
a tensor that a trainable part also uses stays trainable: the decoder can adapt its
vocabulary, and the frozen encoder's input embedding changes with it. Either way the log
and `metrics.json` ("trainable") list every tied tensor and what became of it.

Frozen parts run in eval mode (no dropout noise on a part that does not learn): they are
switched to eval here and kept there by the `FrozenInEval` callback. LoRA keeps the whole
model in train mode, as its adapters sit inside every layer.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn
from transformers import PreTrainedModel

from seq2seq_bench.models.backbone import Backbone

log = logging.getLogger(__name__)

PARTS = ("encoder", "decoder", "embeddings", "all")
TIED_POLICIES = ("freeze", "train")


@dataclass
class FreezeReport:
    """What a strategy left trainable, grouped by name pattern (layer indices -> `*`)."""

    strategy: str
    trainable: dict[str, dict[str, int]]
    frozen: dict[str, dict[str, int]]
    tied: list[dict[str, Any]]
    eval_modules: list[str] = field(default_factory=list)

    @property
    def trainable_params(self) -> int:
        return sum(g["params"] for g in self.trainable.values())

    @property
    def frozen_params(self) -> int:
        return sum(g["params"] for g in self.frozen.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "trainable_params": self.trainable_params,
            "frozen_params": self.frozen_params,
            "trainable_tensors": sum(g["tensors"] for g in self.trainable.values()),
            "frozen_tensors": sum(g["tensors"] for g in self.frozen.values()),
            "trainable": self.trainable,
            "frozen": self.frozen,
            "tied": self.tied,
            "eval_modules": self.eval_modules,
        }

    def log(self) -> None:
        total = self.trainable_params + self.frozen_params
        log.info(
            "freeze=%s: %s of %s parameters trainable (%.1f%%); trainable: %s; frozen: %s",
            self.strategy,
            f"{self.trainable_params:,}",
            f"{total:,}",
            100.0 * self.trainable_params / max(total, 1),
            _by_part(self.trainable),
            _by_part(self.frozen),
        )
        for tie in self.tied:
            log.info(
                "tied tensor %s (= %s): %s",
                tie["tensor"],
                ", ".join(tie["aliases"]),
                "trainable" if tie["trainable"] else "frozen",
            )
        if self.eval_modules:
            log.info("kept in eval mode (no dropout): %s", ", ".join(self.eval_modules))


def _by_part(groups: dict[str, dict[str, int]]) -> str:
    """`{encoder.block.*.q.weight: ..., lm_head.weight: ...}` -> `encoder 1,024, lm_head 512`."""
    parts: dict[str, int] = defaultdict(int)
    for name, group in groups.items():
        name = name.removeprefix("base_model.model.").removeprefix("model.")  # peft, BART
        parts[name.split(".")[0]] += group["params"]
    return ", ".join(f"{part} {count:,}" for part, count in sorted(parts.items())) or "none"


def pattern(name: str) -> str:
    """`decoder.block.3.layer.0.SelfAttention.q.weight` -> `decoder.block.*.layer.*.SelfAttention.q.weight`."""
    return re.sub(r"(?<=\.)\d+(?=\.)", "*", name)


def report(model: nn.Module, strategy: str, eval_modules: Sequence[str] = ()) -> FreezeReport:
    groups: dict[bool, dict[str, dict[str, int]]] = {True: {}, False: {}}
    for name, param in model.named_parameters():  # a tied tensor counts once, first name
        group = groups[param.requires_grad].setdefault(pattern(name), {"tensors": 0, "params": 0})
        group["tensors"] += 1
        group["params"] += param.numel()
    aliases: dict[int, list[str]] = defaultdict(list)
    params = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        aliases[id(param)].append(name)
        params[id(param)] = param
    tied = [
        {"tensor": names[0], "aliases": names[1:], "trainable": params[key].requires_grad}
        for key, names in aliases.items()
        if len(names) > 1
    ]
    return FreezeReport(strategy, groups[True], groups[False], tied, list(eval_modules))


def _encoder(model: PreTrainedModel) -> nn.Module:
    encoder = model.get_encoder()
    if encoder is model or encoder is None:
        raise ValueError(f"{type(model).__name__} has no separate encoder to freeze")
    return encoder


def part_modules(model: PreTrainedModel, part: str) -> list[nn.Module]:
    """The modules that make up ``part`` of an encoder-decoder model."""
    if part == "all":
        return [model]
    if part == "encoder":
        return [_encoder(model)]
    if part == "decoder":
        decoder = model.get_decoder()
        if decoder is model or decoder is None:
            raise ValueError(f"{type(model).__name__} has no separate decoder to freeze")
        return [m for m in (decoder, model.get_output_embeddings()) if m is not None]
    if part == "embeddings":
        stacks = [_encoder(model), model.get_decoder()]
        found = [model.get_input_embeddings(), model.get_output_embeddings()]
        found += [s.get_input_embeddings() for s in stacks if hasattr(s, "get_input_embeddings")]
        # position tables and BERT's embedding block (word + position + type + LayerNorm)
        found += [m for n, m in model.named_modules() if "embed" in n.rsplit(".", 1)[-1]]
        return [m for m in found if isinstance(m, nn.Module)]
    raise ValueError(f"freeze part {part!r}: choose from {', '.join(PARTS)}")


def _names(model: nn.Module, modules: Sequence[nn.Module]) -> list[str]:
    """Dotted names of ``modules`` in ``model``, leaving out those inside another one."""
    wanted = {id(m) for m in modules}
    names = sorted({n for n, m in model.named_modules(remove_duplicate=False) if id(m) in wanted})
    return [n for n in names if not any(n.startswith(f"{o}.") or (o == "" and n) for o in names)]


def freeze(
    model: PreTrainedModel,
    parts: Sequence[str] = (),
    tied: str = "freeze",
    name: str = "",
    *,
    backbone: Backbone | None = None,
) -> tuple[PreTrainedModel, FreezeReport]:
    """Freeze ``parts`` (see the table above) and put them in eval mode. Every strategy is
    called as ``strategy(model, backbone=backbone)``; this one needs nothing from it.

    ``tied``: `freeze` (a frozen part freezes the tensors it shares with trainable parts)
    or `train` (those stay trainable). ``name`` is the strategy's name for the report.
    """
    if tied not in TIED_POLICIES:
        raise ValueError(f"freeze.tied={tied!r}: choose one of {', '.join(TIED_POLICIES)}")
    modules = [m for part in parts for m in part_modules(model, part)]
    prefixes = _names(model, modules)
    frozen = {id(p) for m in modules for p in m.parameters()}
    if tied == "train":
        inside = ("",) if "" in prefixes else tuple(f"{p}." for p in prefixes)
        frozen -= {
            id(p)
            for n, p in model.named_parameters(remove_duplicate=False)
            if not n.startswith(inside)
        }
    for param in model.parameters():
        param.requires_grad_(id(param) not in frozen)
    for module in modules:
        module.eval()
    result = report(model, name or "+".join(parts) or "none", [p or "<model>" for p in prefixes])
    result.log()
    return model, result


def lora(
    model: PreTrainedModel,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.05,
    target_modules: Sequence[str] | None = None,
    modules_to_save: Sequence[str] | None = None,
    *,
    backbone: Backbone | None = None,
) -> tuple[PreTrainedModel, FreezeReport]:
    """Wrap ``model`` in peft LoRA adapters; only they (and ``modules_to_save``) train.
    The adapters go on ``target_modules``, by default the backbone's `lora_targets`."""
    from peft import LoraConfig, TaskType, get_peft_model

    targets = list(target_modules or (backbone.lora_targets if backbone is not None else ()))
    if not targets:
        raise ValueError(
            f"freeze=lora: no default LoRA targets for {type(model).__name__}; "
            "set freeze.target_modules=[...] (names of its attention projections)"
        )
    config = LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM,
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets,
        modules_to_save=list(modules_to_save) if modules_to_save else None,
    )
    wrapped = get_peft_model(model, config)
    result = report(wrapped, "lora")
    result.log()
    return wrapped, result


def exportable(model: PreTrainedModel) -> PreTrainedModel:
    """A plain `PreTrainedModel` to `save_pretrained`: LoRA adapters are merged into the
    weights (in place: call this last), so every export loads without peft; a pretraining
    wrapper (ELECTRA) gives up its backbone."""
    export = getattr(model, "export", None)
    if callable(export):
        model = export()
    merge = getattr(model, "merge_and_unload", None)
    return merge() if callable(merge) else model
