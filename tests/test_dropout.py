"""The cheaper CPU dropout is dropout: the rate asked for, unbiased, the mask reused by the
backward, every mask decided by torch's seed, and swapped into training runs only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from seq2seq_bench.build import build
from seq2seq_bench.dropout import RESOLUTION, FastDropout, dropout, keep_mask, use_fast_dropout

from .conftest import TINY, compose_config


@settings(max_examples=25, deadline=None)
@given(p=st.floats(0.01, 0.9), seed=st.integers(0, 2**31))
def test_the_mask_drops_at_rate_p_and_rescales_to_an_unbiased_mean(p: float, seed: int) -> None:
    torch.manual_seed(seed)
    mask = keep_mask(torch.Size((400, 500)), p, torch.float32)
    threshold = round(p * RESOLUTION)
    scale = RESOLUTION / (RESOLUTION - threshold)
    kept = mask[mask != 0]
    assert torch.allclose(kept, torch.full_like(kept, scale))
    dropped = float((mask == 0).float().mean())
    assert dropped == pytest.approx(p, abs=0.005)  # 200k draws: ~5 standard deviations
    assert float(mask.mean()) == pytest.approx(1.0, abs=0.02)


def test_the_backward_multiplies_by_the_same_mask() -> None:
    x = torch.ones(300, 200, requires_grad=True)
    y = dropout(x, 0.3)
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * mask)/dx = mask = y for x = 1
    assert 0 < float((y == 0).float().mean()) < 1


def test_torch_seed_decides_every_mask() -> None:
    x = torch.ones(1000)
    torch.manual_seed(7)
    first = dropout(x, 0.5), dropout(x, 0.5)
    torch.manual_seed(7)
    again = dropout(x, 0.5), dropout(x, 0.5)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(*first)  # each call draws a new mask


def test_the_module_is_identity_in_eval_mode_and_zero_at_p_1() -> None:
    x = torch.randn(4, 8)
    module = FastDropout(0.5).eval()
    assert torch.equal(module(x), x)
    assert torch.equal(FastDropout(1.0).train()(x), torch.zeros_like(x))
    assert torch.equal(FastDropout(0.0).train()(x), x)


def test_the_swap_keeps_modules_and_rates() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2), nn.Sequential(nn.Dropout(0.4)))
    inner = model[2][0]
    assert use_fast_dropout(model) == 2
    assert type(inner) is FastDropout and inner.p == 0.4 and model[2][0] is inner
    assert use_fast_dropout(model) == 0  # already swapped


@pytest.mark.parametrize("fast", [True, False])
def test_training_runs_get_it_unless_turned_off(tmp_path: Path, fast: bool) -> None:
    cfg = compose_config(tmp_path, [*TINY, f"fast_dropout={str(fast).lower()}"])
    run = build(cfg)
    kinds = {type(m) for m in run.module.model.modules() if isinstance(m, nn.Dropout)}
    assert kinds == ({FastDropout} if fast else {nn.Dropout})
