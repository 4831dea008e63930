"""Padding-free training: the position-wise work of a padded batch done on its real tokens only.

A token-budget batch of Tatoeba is 0.86-0.91 real tokens (sorted by the longer side, the
other side keeps a ragged length: `data/plan.py`), and every linear, norm and dropout of a
padded (B, T, d) layout spends the rest on padding. Only attention needs the (B, T) layout,
to see which token is whose. So between attentions the hidden states travel packed, as
(N, d) rows of the real tokens; each attention unpacks its projected queries, keys and values
(zeros at padding, which its mask or causality never lets a real token read) and packs its
output back. The same sums as the padded layout on the same rows, so results equal it up to
float rounding (`tests/test_transformer_model.py` pins logits and gradients).

The rows are picked with `index_select` / `index_copy`, whose backwards are the other one:
two memory-bound copies per attention against GEMMs that shrink by the padding fraction.
Paired step times on Tatoeba batches (source side 0.85-0.86 real, target 0.97): 1.05-1.10x
for transformer_base, 1.06-1.07x for transformer_big (`make bench ARGS=trainers`, the
`ours_padded` row). The cost is memory: the packed row count changes from batch to batch,
and the oneDNN linear keeps state per row count (bounded: multiples of 64), so a
transformer_base epoch at 4,096 tokens peaked at 3.08 GB against 2.15 GB padded.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

# The row counts fp32 CPU training products run at: the oneDNN linear pads its input's rows
# to a multiple of it (onednn_linear.py: its per-shape memory stays bounded), and packed
# batches are topped up to one, so that the linear has nothing to pad. Kept here because
# this module imports nothing of ours: an export carries it beside transformer.py.
ROW_MULTIPLE = 64


class Packing:
    """Where the real tokens of a padded (B, T) batch are, and the moves between the padded
    (B, T, ...) layout and the packed (N, ...) rows of its real tokens."""

    def __init__(self, index: Tensor, shape: torch.Size) -> None:
        """``index``: the flat positions in a (B, T) ``shape`` that the packed rows hold."""
        self.shape, self.index = shape, index
        self.columns = index % shape[1]  # each row's position in its sequence

    @classmethod
    def of(cls, mask: Tensor) -> Packing | None:
        """The rows of ``mask``'s real tokens (nonzero), topped up with its first padding
        positions to a multiple of `ROW_MULTIPLE`, which the oneDNN linear would otherwise
        pad to with a copy of every input; the extra rows are padding the padded
        layout computed anyway. None where that leaves nothing out."""
        flat = mask.reshape(-1).bool()
        real = int(flat.sum())
        rows = -(-real // ROW_MULTIPLE) * ROW_MULTIPLE
        if rows >= flat.numel():
            return None
        extra = (~flat).nonzero().squeeze(1)[: rows - real]
        flat = flat.index_fill(0, extra, True)
        return cls(flat.nonzero().squeeze(1), mask.shape)

    def pack(self, x: Tensor) -> Tensor:
        """(B, T, ...) -> (N, ...)."""
        return x.flatten(0, 1).index_select(0, self.index)

    def unpack(self, x: Tensor) -> Tensor:
        """(N, ...) -> (B, T, ...), zeros where the batch is padding."""
        padded = x.new_zeros(self.shape.numel(), *x.shape[1:])
        return padded.index_copy(0, self.index, x).view(*self.shape, *x.shape[1:])

    def pack_heads(self, x: Tensor) -> Tensor:
        """Attention output (B, H, T, Dh) -> (N, H * Dh). The padded layout's transpose and
        reshape, then `pack`: 1.6x faster forward and backward than one advanced-index gather
        (whose backward is an accumulating index_put)."""
        b, _, t, _ = x.shape
        return self.pack(x.transpose(1, 2).reshape(b, t, -1))


def is_right_padded(mask: Tensor) -> bool:
    """Whether every row of a (B, T) mask is its real tokens first, then padding only: what
    a causal decoder needs to drop its padding (no real token comes after a padded one)."""
    return bool((mask[:, 1:].int() <= mask[:, :-1].int()).all())


def use_padding_free(model: nn.Module) -> int:
    """Switch padding-free training on in every part of ``model`` that has it (our
    Transformer, also under a LoRA wrapper); how many, 0 (said in the log) where none does,
    and the model trains on the padded layout."""
    count = 0
    for module in model.modules():
        if hasattr(type(module), "trains_padding_free"):
            module.trains_padding_free = True
            count += 1
    if not count:
        log.info("padding_free=true: %s has no padding-free path; it trains padded", type(model))
    return count
