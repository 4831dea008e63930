"""The fused label-smoothed cross-entropy gives PyTorch's value and gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seq2seq_bench.objectives.smoothed_loss import _SmoothedCrossEntropy, smoothed_cross_entropy


def reference(logits: torch.Tensor, labels: torch.Tensor, smoothing: float) -> torch.Tensor:
    flat = logits.float().reshape(-1, logits.size(-1))
    return F.cross_entropy(flat, labels.reshape(-1), ignore_index=-100, label_smoothing=smoothing)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_value_and_gradient_match_pytorch(smoothing: float, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    logits = (torch.randn(3, 7, 50) * 4).to(dtype)
    labels = torch.randint(0, 50, (3, 7))
    labels[0, 4:] = -100  # padding
    labels[2, 6] = -100
    ours_in = logits.clone().requires_grad_()
    ref_in = logits.clone().requires_grad_()
    (ours, nll), ref = (
        smoothed_cross_entropy(ours_in, labels, smoothing),
        reference(ref_in, labels, smoothing),
    )
    (ours * 1.7).backward()
    (ref * 1.7).backward()
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(nll, reference(logits, labels, 0.0), atol=1e-5, rtol=1e-5)
    assert not nll.requires_grad
    assert ours_in.grad.dtype == dtype
    tolerance = 1e-6 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(ours_in.grad, ref_in.grad, atol=tolerance, rtol=tolerance)
    assert ours_in.grad[0, 4:].abs().max() == 0  # ignored positions get no gradient


def test_no_counted_token_is_nan_as_in_pytorch() -> None:
    """A mean over nothing is not a number; check_finite turns it into a loud error."""
    labels = torch.full((2, 3), -100)
    loss, nll = smoothed_cross_entropy(torch.randn(2, 3, 5), labels, 0.1)
    assert loss.isnan() and nll.isnan()
    assert reference(torch.randn(2, 3, 5), labels, 0.1).isnan()


def test_smoothing_outside_its_range_is_refused() -> None:
    with pytest.raises(ValueError, match="label smoothing"):
        smoothed_cross_entropy(torch.randn(2, 5), torch.tensor([1, 2]), 1.0)


def test_gradcheck_in_double() -> None:
    torch.manual_seed(1)
    logits = torch.randn(6, 9, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([1, 2, -100, 8, 0, 3])
    assert torch.autograd.gradcheck(
        lambda z: _SmoothedCrossEntropy.apply(z, labels, 0.1, -100)[0], (logits,)
    )
