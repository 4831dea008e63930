"""Linear layers whose fp32 CPU training products run on oneDNN instead of MKL.

`nn.Linear` computes ``x @ W.T`` through MKL's sgemm. On this project's CPUs (AMD EPYC,
2 threads) MKL ran the shapes of a 512-wide model far below the machine's matmul rate:
(2048 x 512) @ (512 x 2048) with the weight transposed, as `F.linear` passes it, at
95-106 GFLOP/s, where oneDNN's linear (`torch.ops.mkldnn._linear_pointwise`, the kernel
PyTorch's own compiler emits for CPU linears) ran the same product at 190-200, and the
input gradient ``g @ W`` the same way; the weight gradient ``g.T @ x`` ran as fast in MKL
as in oneDNN once oneDNN's inputs had to be transposed copies, so it stays on MKL. One
whole transformer_base training step took 1.22x less time, a t5_small step 1.13x less,
paired on one shared host (`make bench ARGS=trainers`: the `ours` row against
`ours_mkl_linear`).

The sums are the same products in another order: outputs differ from MKL's by float
rounding (~3e-6 on unit-scale values). So only training steps take this path; evaluation,
decoding and the tools run `nn.Linear` as it is, and a run's test scores equal
`s2s-evaluate`'s on its checkpoint.

On by default (`onednn_linear=false` gives MKL's). oneDNN keeps memory for every input
shape it meets, and a token-budget run meets a new row count
whenever a batch's size x width is new: a 2-layer 512-2048-512 MLP trained on a random row
count (100-4,200) every step grew to 5.6 GB resident in 1,600 steps, and still growing,
against MKL's flat 0.53 GB. So the rows go in padded to a multiple of 64 (under 0.1 % more
rows on Tatoeba, whose 4,096-token batches mostly fill the budget exactly), which bounds the
shapes to max_rows / 64 per weight: the same MLP stays flat at 1.3 GB from step 400 on, and
a Tatoeba epoch of transformer_base (383 of its 385 steps), whose row counts repeat, peaked
at 2.15 GB against 2.29 on MKL (`make bench ARGS=memory` measures the MLP,
`benchmarks/linear_memory.py`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from seq2seq_bench.models.packing import ROW_MULTIPLE
from seq2seq_bench.module_swap import swap_modules

log = logging.getLogger(__name__)


def available() -> bool:
    """Whether this torch build has oneDNN and its linear op (CPU wheels do)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def onednn_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``x @ weight.T + bias`` on oneDNN; ``weight`` is (out, in) as nn.Linear holds it.

    oneDNN keeps state for every row count it sees, so the rows go in zero-padded to a
    multiple of `ROW_MULTIPLE`: a run meets at most max_rows / 64 shapes per weight, and
    memory stops growing with the number of distinct batch shapes (see the module doc)."""
    rows = x.reshape(-1, x.shape[-1])
    count = rows.shape[0]
    padded = -(-count // ROW_MULTIPLE) * ROW_MULTIPLE
    if padded != count:
        rows = F.pad(rows, (0, 0, 0, padded - count))
    out = torch.ops.mkldnn._linear_pointwise(rows, weight, bias, "none", [], "")
    return out[:count].view(*x.shape[:-1], weight.shape[0])


class _OneDnnLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return onednn_linear(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad_2d = grad.reshape(-1, grad.shape[-1]).contiguous()
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # g @ W = linear(g, W.T); the transposed weight is a small copy next to the product
            grad_x = onednn_linear(grad_2d, weight.t().contiguous()).view(x.shape)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_2d.t() @ x.reshape(-1, x.shape[-1])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_2d.sum(0)
        return grad_x, grad_weight, grad_bias


class OneDnnLinear(nn.Linear):
    """`nn.Linear` (same parameters, same state dict) whose fp32 CPU training forward and
    backward run on oneDNN; anything else (eval mode, other dtypes or devices, autocast)
    runs `F.linear` as nn.Linear does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            not self.training
            or x.device.type != "cpu"
            or x.dtype != torch.float32
            or self.weight.dtype != torch.float32
            or torch.is_autocast_enabled("cpu")
        ):
            return F.linear(x, self.weight, self.bias)
        return _OneDnnLinearFunction.apply(x, self.weight, self.bias)


def use_onednn_linear(model: nn.Module) -> int:
    """Turn every `nn.Linear` of ``model`` into a `OneDnnLinear` in place (same module and
    weights; the model code that calls them is untouched); returns how many, 0 (said in
    the log) where this torch has no oneDNN."""
    if not available():
        log.warning("onednn_linear=true: this torch build has no oneDNN; nn.Linear stays MKL's")
        return 0
    return swap_modules(model, nn.Linear, OneDnnLinear)
