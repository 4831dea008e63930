"""Dropout with a cheaper random mask, for training on CPU.

On CPU, PyTorch's dropout draws its mask with `bernoulli_`, which off MKL's Intel-only path
(on AMD, for one) is a serial draw of a double per element: 54 of the 70 ms that a
(4096, 2048) dropout takes forward and backward, and 7-11 % of a transformer_base step in
the profiles behind issue 14. Here each element gets 16 random bits from NumPy's SFC64
generator (4 ms for the same tensor) and is kept when they are at least
``round(p * 65536)``; kept elements are scaled by ``65536 / (65536 - threshold)``. That is
dropout with ``p`` rounded to a multiple of 1/65536 (0.1 becomes 0.1000061), unbiased like
PyTorch's. Each mask's generator is seeded from torch's RNG, so `seed` decides every mask
and a resumed run (which restores torch's RNG) draws the same ones.

`fast_dropout=false` (train.yaml) keeps PyTorch's own dropout; on other devices it is used anyway.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seq2seq_bench.module_swap import swap_modules

RESOLUTION = 1 << 16  # random bits per element: 16


def keep_mask(shape: torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
    """0 where an element is dropped, the rescaling factor where it is kept."""
    threshold = round(p * RESOLUTION)
    if threshold >= RESOLUTION:
        return torch.zeros(shape, dtype=dtype)
    count = math.prod(shape)
    seed = int(torch.randint(0, 2**63 - 1, (1,)))
    bits = np.random.SFC64(seed).random_raw((count + 3) // 4).view(np.uint16)[:count]
    scale = np.float32(RESOLUTION / (RESOLUTION - threshold))
    mask = np.multiply(bits >= threshold, scale, dtype=np.float32)
    return torch.from_numpy(mask).view(shape).to(dtype)


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training-mode dropout of a CPU tensor. Autograd keeps the mask for the backward
    (the gradient is the incoming one times the mask), as PyTorch's CPU dropout does."""
    return x * keep_mask(x.shape, p, x.dtype)


class FastDropout(nn.Dropout):
    """`nn.Dropout` with the mask above on CPU, PyTorch's own elsewhere and in eval mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu" or self.inplace:
            return F.dropout(x, self.p, self.training, self.inplace)
        return dropout(x, self.p)


def use_fast_dropout(model: nn.Module) -> int:
    """Turn every `nn.Dropout` of ``model`` into a `FastDropout` in place (same module, same
    ``p``; the models' code that calls them is untouched); returns how many. Dropout that a
    model applies through `F.dropout` (BART's, attention probabilities) stays PyTorch's."""
    return swap_modules(model, nn.Dropout, FastDropout)
