"""Padding-free training (models/packing.py): the Transformer's linears see the real tokens
only, and its logits and gradients equal the padded layout's to float rounding; where the
target padding is not at the end, or the switch is off, it runs padded as before."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from seq2seq_bench.build import build
from seq2seq_bench.models.packing import ROW_MULTIPLE, Packing, is_right_padded, use_padding_free
from seq2seq_bench.models.transformer import TransformerForSeq2Seq
from seq2seq_bench.objectives.base import decoder_padding_mask
from seq2seq_bench.types import LABEL_PAD

from .conftest import TINY, compose_config
from .test_transformer_model import VOCAB, tiny_config

SOURCE_LENGTHS = [10, 3, 5, 1, 7, 2, 8, 4] * 3  # 24 sources of width 10: 120 of 240 real
TARGET_LENGTHS = [7, 6, 6, 4, 5, 5, 3, 9] * 3  # 24 targets of width 9: 135 of 216 real
SOURCE_ROWS, TARGET_ROWS = 24 * 10, 24 * 9  # what every linear sees in the padded layout
PACKED_SOURCE_ROWS, PACKED_TARGET_ROWS = 128, 192  # real tokens, to a multiple of 64


def padded(lengths: list[int], width: int, pad: int, seed: int) -> torch.Tensor:
    ids = torch.randint(
        2, VOCAB, (len(lengths), width), generator=torch.Generator().manual_seed(seed)
    )
    for row, length in enumerate(lengths):
        ids[row, length:] = pad
    return ids


def batch() -> dict[str, torch.Tensor]:
    input_ids = padded(SOURCE_LENGTHS, 10, 0, seed=1)
    return {
        "input_ids": input_ids,
        "attention_mask": (input_ids != 0).long(),
        "labels": padded(TARGET_LENGTHS, 9, LABEL_PAD, seed=2),
    }


def model(norm_first: bool = True) -> TransformerForSeq2Seq:
    torch.manual_seed(0)
    config = tiny_config(norm_first=norm_first, tie_word_embeddings=False)
    return TransformerForSeq2Seq(config).train()


@contextlib.contextmanager
def linear_rows(net: torch.nn.Module) -> Iterator[list[int]]:
    """The rows every linear of ``net`` is given, in call order."""
    rows: list[int] = []

    def record(_: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        rows.append(args[0].reshape(-1, args[0].shape[-1]).shape[0])

    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    hooks = [m.register_forward_pre_hook(record) for m in linears]
    try:
        yield rows
    finally:
        for hook in hooks:
            hook.remove()


def forward(
    net: TransformerForSeq2Seq, data: dict[str, torch.Tensor], decoder_mask: torch.Tensor | None
) -> torch.Tensor:
    extra = {} if decoder_mask is None else {"decoder_attention_mask": decoder_mask}
    return net(
        input_ids=data["input_ids"],
        attention_mask=data["attention_mask"],
        decoder_input_ids=net.prepare_decoder_input_ids_from_labels(data["labels"]),
        **extra,
    ).logits


def step(
    net: TransformerForSeq2Seq, data: dict[str, torch.Tensor], decoder_mask: torch.Tensor | None
) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[int]]:
    """Logits, parameter gradients of the token cross-entropy, and the rows every linear saw."""
    net.zero_grad()
    with linear_rows(net) as rows:
        logits = forward(net, data, decoder_mask)
    loss = F.cross_entropy(logits.flatten(0, 1), data["labels"].flatten(), ignore_index=LABEL_PAD)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    return logits.detach(), grads, rows


def test_packing_keeps_real_tokens_topped_up_to_the_row_multiple() -> None:
    mask = batch()["attention_mask"]
    packing = Packing.of(mask)
    assert packing is not None
    assert packing.index.numel() == -(-int(mask.sum()) // ROW_MULTIPLE) * ROW_MULTIPLE
    assert bool(mask.flatten()[packing.index].sum() == mask.sum())  # every real token is in
    x = torch.randn(*mask.shape, 5)
    packed = packing.pack(x)
    assert torch.equal(packed, x.flatten(0, 1)[packing.index])
    back = packing.unpack(packed).flatten(0, 1)
    kept = torch.zeros(mask.numel(), dtype=torch.bool).index_fill(0, packing.index, True)
    assert torch.equal(back[kept], x.flatten(0, 1)[kept]) and not back[~kept].any()
    assert torch.equal(packing.columns, packing.index % mask.shape[1])


def test_nothing_to_leave_out_means_no_packing() -> None:
    assert Packing.of(torch.ones(20, 9)) is None
    # 60 real tokens of 64: topped up to 64 rows, every position: nothing saved
    assert (
        Packing.of(torch.arange(8)[None, :].expand(8, 8) < torch.tensor([8] * 7 + [4])[:, None])
        is None
    )


def test_decoder_padding_mask_is_the_tail_after_the_last_scored_label() -> None:
    labels = torch.tensor([[5, 6, 7, -100], [5, -100, 7, -100], [-100, -100, -100, -100]])
    expected = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(decoder_padding_mask(labels), expected)
    assert is_right_padded(expected)
    assert not is_right_padded(torch.tensor([[0, 1, 1]]))


@pytest.mark.parametrize("norm_first", [True, False])
def test_padding_free_logits_and_gradients_equal_the_padded_layout(norm_first: bool) -> None:
    data = batch()
    decoder_mask = decoder_padding_mask(data["labels"])
    padded_logits, padded_grads, padded_rows = step(model(norm_first), data, None)
    net = model(norm_first)
    assert use_padding_free(net) == 1
    logits, grads, rows = step(net, data, decoder_mask)
    real = data["labels"] != LABEL_PAD
    torch.testing.assert_close(logits[real], padded_logits[real], rtol=1e-5, atol=1e-5)
    assert grads.keys() == padded_grads.keys() and len(grads) > 60
    for name, grad in grads.items():
        torch.testing.assert_close(grad, padded_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    assert set(padded_rows) == {SOURCE_ROWS, TARGET_ROWS}
    assert set(rows) == {PACKED_SOURCE_ROWS, PACKED_TARGET_ROWS}


def test_targets_padded_other_than_at_the_end_run_the_padded_decoder() -> None:
    data = batch()
    decoder_mask = decoder_padding_mask(data["labels"]).clone()
    decoder_mask[0, 0] = False  # a hole: causality alone no longer hides the padding
    reference, _, _ = step(model(), data, decoder_mask)  # explicit masks, padded everywhere
    net = model()
    use_padding_free(net)
    logits, _, rows = step(net, data, decoder_mask)
    assert set(rows) == {PACKED_SOURCE_ROWS, TARGET_ROWS}  # the decoder's: every target row
    torch.testing.assert_close(logits, reference, rtol=1e-5, atol=1e-5)


def test_switched_off_or_with_a_cache_the_model_runs_padded() -> None:
    data = batch()
    decoder_mask = decoder_padding_mask(data["labels"])
    _, _, rows = step(model(), data, decoder_mask)  # the switch is off by default
    assert set(rows) == {SOURCE_ROWS, TARGET_ROWS}
    net = model().eval()  # evaluation makes a decoder cache: the incremental-decoding path
    use_padding_free(net)
    with torch.no_grad(), linear_rows(net) as rows:
        forward(net, data, decoder_mask)
    assert set(rows) == {SOURCE_ROWS, TARGET_ROWS}


@pytest.mark.parametrize(("on", "freeze"), [(True, "none"), (False, "none"), (True, "lora")])
def test_training_runs_pass_the_target_padding_only_when_padding_free(
    tmp_path: Path, on: bool, freeze: str
) -> None:
    overrides = [*TINY, f"padding_free={str(on).lower()}", f"freeze={freeze}"]
    run = build(compose_config(tmp_path, overrides))
    net = run.module.model
    inner = [m for m in net.modules() if isinstance(m, TransformerForSeq2Seq)]
    assert len(inner) == 1 and inner[0].trains_padding_free is on
    inputs = run.module.objective.model_inputs(net, batch())
    assert ("decoder_attention_mask" in inputs) is on
