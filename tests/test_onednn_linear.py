"""The oneDNN linear is nn.Linear: the same outputs and gradients to float rounding, the same
module and state dict, and only in fp32 CPU training; evaluation stays MKL's, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from seq2seq_bench.build import build
from seq2seq_bench.onednn_linear import OneDnnLinear, available, use_onednn_linear

from .conftest import TINY, compose_config

pytestmark = pytest.mark.skipif(not available(), reason="this torch build has no oneDNN")


def pair(bias: bool, frozen: bool = False) -> tuple[nn.Linear, nn.Linear]:
    torch.manual_seed(0)
    plain = nn.Linear(48, 80, bias=bias)
    ours = nn.Linear(48, 80, bias=bias)
    ours.load_state_dict(plain.state_dict())
    for module in (plain, ours):
        module.weight.requires_grad_(not frozen)
    assert use_onednn_linear(ours) == 1 and type(ours) is OneDnnLinear
    return plain, ours


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("frozen", [False, True])
def test_outputs_and_gradients_are_nn_linears(bias: bool, frozen: bool) -> None:
    plain, ours = pair(bias, frozen)
    # a 3-D input that is a transposed view, and an upstream gradient that is not contiguous
    x = torch.randn(7, 5, 48).transpose(0, 1).requires_grad_()
    grad = torch.randn(7, 5, 80).transpose(0, 1)
    results = []
    for module in (plain, ours):
        x.grad = None
        out = module(x)
        out.backward(grad)
        grads = [x.grad] + [p.grad for p in module.parameters() if p.requires_grad]
        results.append((out.detach(), *grads))
    for expected, got in zip(*results, strict=True):
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert ours.weight.grad is None if frozen else ours.weight.grad is not None


def test_eval_mode_and_other_dtypes_run_nn_linear_exactly() -> None:
    plain, ours = pair(bias=True)
    x = torch.randn(6, 48)
    assert torch.equal(ours.eval()(x), plain(x))
    ours.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(ours(x), plain(x))
    ours.double(), plain.double()
    assert torch.equal(ours(x.double()), plain(x.double()))


def test_the_swap_keeps_modules_weights_and_state_dict() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert use_onednn_linear(model) == 2
    assert all(isinstance(m, nn.Linear) for m in (model[0], model[2]))
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert use_onednn_linear(model) == 0  # already swapped


@pytest.mark.parametrize("on", [True, False])
def test_training_runs_swap_in_the_oneDNN_linear_only_when_asked(tmp_path: Path, on: bool) -> None:
    run = build(compose_config(tmp_path, [*TINY, f"onednn_linear={str(on).lower()}"]))
    linears = [m for m in run.model.model.modules() if isinstance(m, nn.Linear)]
    assert linears and all((type(m) is OneDnnLinear) == on for m in linears)


def test_a_torch_without_onednn_keeps_nn_linear_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import seq2seq_bench.onednn_linear as onednn

    monkeypatch.setattr(onednn, "available", lambda: False)
    model = nn.Sequential(nn.Linear(4, 8))
    assert use_onednn_linear(model) == 0 and type(model[0]) is nn.Linear
    assert "no oneDNN" in caplog.text


@pytest.mark.parametrize("rows", [1, 63, 64, 65, 200])
def test_onednn_sees_row_counts_in_multiples_of_64_only(
    onednn_rows_seen: list[int], rows: int
) -> None:
    """oneDNN keeps state per input shape; padding the rows bounds how many shapes a run
    makes (onednn_linear.py), and the padding must not reach the outputs or gradients."""
    import seq2seq_bench.onednn_linear as onednn

    seen = onednn_rows_seen
    plain, ours = pair(bias=True)
    x = torch.randn(rows, 48, requires_grad=True)
    expected, got = plain(x), ours(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    (expected_grad,) = torch.autograd.grad(expected.sum(), x)
    (grad,) = torch.autograd.grad(got.sum(), x)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-5)
    assert seen and all(count % onednn.ROW_MULTIPLE == 0 for count in seen)
    assert len(seen) == 2  # forward and input gradient
