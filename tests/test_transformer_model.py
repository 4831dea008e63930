"""Tests for the vanilla Transformer backbone: shapes, loss, masking, caching, generation,
save/load with tied weights, and that a tiny model actually learns."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForSeq2SeqLM

from seq2seq_bench.models.transformer import (
    CACHE_FIELD,
    TransformerConfig,
    TransformerForSeq2Seq,
)

PAD, EOS, VOCAB = 0, 1, 50


def tiny_config(**overrides: object) -> TransformerConfig:
    kwargs = dict(
        vocab_size=VOCAB,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        num_heads=4,
        d_ff=64,
        dropout=0.0,
        max_position_embeddings=64,
    )
    kwargs.update(overrides)
    return TransformerConfig(**kwargs)


def tiny_model(seed: int = 0, **overrides: object) -> TransformerForSeq2Seq:
    torch.manual_seed(seed)
    return TransformerForSeq2Seq(tiny_config(**overrides)).eval()


def source_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Three sources, the second right-padded, so padding masks are exercised everywhere."""
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(2, VOCAB, (3, 7), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    input_ids[1, 4:], attention_mask[1, 4:] = PAD, 0
    return input_ids, attention_mask


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny models run fastest on one thread, and it keeps them from fighting other CPU users
    (OpenMP threads spin-wait badly on an oversubscribed machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Toy parallel corpus for the learning tests: labels are eos-terminated, padded with -100.
TOY_SOURCES = torch.tensor([[5, 6, 7, 8, EOS], [9, 10, 11, EOS, PAD]])
TOY_TARGETS = torch.tensor([[20, 21, 22, EOS, -100], [30, 31, 32, 33, EOS]])


@pytest.fixture(scope="module")
def trained() -> tuple[TransformerForSeq2Seq, list[float]]:
    """A tiny model overfitted on the toy corpus; shared by the tests that need sensible outputs."""
    model = tiny_model(seed=0)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        loss = model(
            input_ids=TOY_SOURCES, attention_mask=TOY_SOURCES.ne(PAD), labels=TOY_TARGETS
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), losses


def test_forward_shapes_and_loss_ignores_padding() -> None:
    model = tiny_model()
    input_ids, attention_mask = source_batch()
    labels = torch.randint(2, VOCAB, (3, 5))
    labels[0, 3:] = -100
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)

    assert out.logits.shape == (3, 5, VOCAB)
    assert out.encoder_last_hidden_state.shape == (3, 7, 32)
    assert out.past_key_values is None  # no cache when training on labels
    keep = labels.ne(-100)
    manual = F.cross_entropy(out.logits[keep], labels[keep])
    torch.testing.assert_close(out.loss, manual)


def test_labels_are_shifted_into_decoder_inputs() -> None:
    model = tiny_model()
    labels = torch.tensor([[5, 6, EOS, -100], [7, 8, 9, EOS]])
    expected = torch.tensor([[PAD, 5, 6, EOS], [PAD, 7, 8, 9]])
    assert torch.equal(model.prepare_decoder_input_ids_from_labels(labels), expected)

    input_ids, attention_mask = source_batch()
    input_ids, attention_mask = input_ids[:2], attention_mask[:2]
    from_labels = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    explicit = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=expected)
    torch.testing.assert_close(from_labels.logits, explicit.logits)


def test_return_dict_false_gives_tuple() -> None:
    model = tiny_model()
    input_ids, attention_mask = source_batch()
    labels = torch.randint(2, VOCAB, (3, 4))
    loss, logits, *_ = model(
        input_ids=input_ids, attention_mask=attention_mask, labels=labels, return_dict=False
    )
    assert loss.ndim == 0 and logits.shape == (3, 4, VOCAB)


def test_source_padding_does_not_change_outputs() -> None:
    model = tiny_model()
    input_ids, attention_mask = source_batch()
    decoder_input_ids = torch.tensor([[PAD, 4, 5, 6]])
    padded = model(
        input_ids=input_ids[1:2],
        attention_mask=attention_mask[1:2],
        decoder_input_ids=decoder_input_ids,
    )
    unpadded = model(input_ids=input_ids[1:2, :4], decoder_input_ids=decoder_input_ids)
    torch.testing.assert_close(padded.logits, unpadded.logits, atol=1e-5, rtol=1e-5)


def test_all_ones_decoder_attention_mask_matches_plain_causal() -> None:
    model = tiny_model()
    input_ids, attention_mask = source_batch()
    decoder_input_ids = torch.randint(2, VOCAB, (3, 5))
    plain = model(
        input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
    )
    masked = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        decoder_input_ids=decoder_input_ids,
        decoder_attention_mask=torch.ones_like(decoder_input_ids),
    )
    torch.testing.assert_close(plain.logits, masked.logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("position_embedding", ["sinusoidal", "learned"])
@pytest.mark.parametrize("chunks", [(1, 1, 1, 1, 1, 1), (3, 2, 1)])
def test_incremental_decoding_with_cache_matches_full_pass(
    position_embedding: str, chunks: tuple[int, ...]
) -> None:
    """Feeding the target in pieces through the cache (including multi-token pieces on top of a
    non-empty cache, which needs the bottom-right aligned causal mask) equals one full pass."""
    model = tiny_model(position_embedding=position_embedding, decoder_layers=3)
    input_ids, attention_mask = source_batch()
    decoder_input_ids = torch.randint(2, VOCAB, (3, sum(chunks)))
    full = model(
        input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
    )

    encoder_outputs = model.get_encoder()(input_ids, attention_mask)
    cache, pieces, start = None, [], 0
    for size in chunks:
        out = model(
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids[:, start : start + size],
            encoder_outputs=encoder_outputs,
            past_key_values=cache,
            use_cache=True,
        )
        cache, start = out.past_key_values, start + size
        pieces.append(out.logits)
        assert cache.get_seq_length() == start  # self-attention cache grows with every token
        # cross-attention keys/values were computed once and cover the whole source
        assert cache.cross_attention_cache.get_seq_length() == input_ids.shape[1]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full.logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "generate_kwargs",
    [
        {},
        {"num_beams": 4},
        {"num_beams": 3, "length_penalty": 0.6, "early_stopping": True},
        {"no_repeat_ngram_size": 2},
        {"num_beams": 3, "num_return_sequences": 2},
    ],
    ids=["greedy", "beam", "beam-lp-early", "no-repeat-ngram", "beam-n-return"],
)
def test_generation_is_identical_with_and_without_cache(generate_kwargs: dict) -> None:
    model = tiny_model(seed=3)
    input_ids, attention_mask = source_batch()
    outputs = [
        model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=10,
            use_cache=use_cache,
            **generate_kwargs,
        )
        for use_cache in (True, False)
    ]
    assert outputs[0].shape[1] > 1
    assert torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize("generate_kwargs", [{}, {"num_beams": 3}], ids=["greedy", "beam"])
def test_generate_threads_the_cache_through_every_step(generate_kwargs: dict) -> None:
    """Each decoding step must see the cache of all earlier steps. An untrained model can give
    the same tokens with and without history, so the cache lengths are checked directly."""
    model = tiny_model(seed=3)
    input_ids, attention_mask = source_batch()
    seen: list[tuple[int, int]] = []

    def record(_module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        cache = kwargs.get("cache")
        seen.append((args[0].shape[1], cache.get_seq_length() if cache is not None else -1))

    handle = model.decoder.register_forward_pre_hook(record, with_kwargs=True)
    try:
        model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=6,
            min_new_tokens=6,
            **generate_kwargs,
        )
    finally:
        handle.remove()
    assert seen == [(1, step) for step in range(6)]


@pytest.mark.parametrize("name", ["cache", "past_key_values"])
def test_forward_takes_the_cache_under_either_name(name: str) -> None:
    """transformers < 5.24 passes the decoder cache as past_key_values, later ones as cache."""
    model = tiny_model()
    input_ids, attention_mask = source_batch()
    decoder_ids = torch.tensor([[0, 5, 6]] * 3)
    full = model(input_ids, attention_mask, decoder_input_ids=decoder_ids)
    first = model(input_ids, attention_mask, decoder_input_ids=decoder_ids[:, :2], use_cache=True)
    cache = first[CACHE_FIELD]
    step = model(input_ids, attention_mask, decoder_input_ids=decoder_ids[:, 2:], **{name: cache})
    assert step[CACHE_FIELD].get_seq_length() == 3
    torch.testing.assert_close(step.logits[:, 0], full.logits[:, 2], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="not both"):
        model(input_ids, decoder_input_ids=decoder_ids, cache=cache, past_key_values=cache)


def test_cache_position_from_older_generate_is_checked_not_trusted() -> None:
    """generate() before transformers 5.24 sends cache_position; one that disagrees with the
    cache would decode at the wrong positions, so it is an error."""
    model = tiny_model()
    input_ids, attention_mask = source_batch()
    decoder_ids = torch.tensor([[0, 5]] * 3)
    first = model(input_ids, attention_mask, decoder_input_ids=decoder_ids, use_cache=True)
    step = dict(decoder_input_ids=decoder_ids[:, 1:], cache=first[CACHE_FIELD])
    model(input_ids, attention_mask, cache_position=torch.tensor([2]), **step)
    with pytest.raises(ValueError, match="cache_position starts at 5"):
        model(input_ids, attention_mask, cache_position=torch.tensor([5]), **step)


def test_generate_does_not_warn_that_the_model_expects_cache_position(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """transformers 5.24 warns (and asks for a PR on the 'hub repo') when a custom model's
    forward names cache_position; ours takes positions from the cache."""
    model = tiny_model()
    input_ids, attention_mask = source_batch()
    with caplog.at_level("WARNING"):
        model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=3)
    assert "cache_position" not in caplog.text


@pytest.mark.parametrize(
    ("call", "named", "value"),
    [
        ("generate", "num_beam", 4),  # a misspelled generation option
        ("generate", "past_key_value", None),  # a misspelled or renamed model argument
        ("forward", "cache_positon", None),
    ],
)
def test_unknown_arguments_fail_loudly(call: str, named: str, value: object) -> None:
    """An argument the model does not understand is an error, never silently swallowed."""
    model = tiny_model()
    input_ids, _ = source_batch()
    with pytest.raises((TypeError, ValueError), match=named):
        if call == "generate":
            model.generate(input_ids=input_ids, max_new_tokens=3, **{named: value})
        else:
            model(input_ids, decoder_input_ids=input_ids, **{named: value})


def test_sampling_runs_and_respects_max_new_tokens() -> None:
    model = tiny_model()
    input_ids, attention_mask = source_batch()
    torch.manual_seed(0)
    out = model.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        do_sample=True,
        temperature=0.7,
        top_k=10,
        top_p=0.9,
        max_new_tokens=6,
    )
    assert out.shape[0] == 3 and out.shape[1] <= 7
    assert (out[:, 0] == PAD).all()  # decoding starts from decoder_start_token_id (= pad)


def test_tiny_model_overfits_toy_pairs(trained: tuple[TransformerForSeq2Seq, list[float]]) -> None:
    _, losses = trained
    assert losses[-1] < 0.1 * losses[0], losses[:: len(losses) // 10]


@pytest.mark.parametrize("num_beams", [1, 4])
def test_trained_model_generates_eos_terminated_targets(
    trained: tuple[TransformerForSeq2Seq, list[float]], num_beams: int
) -> None:
    model, _ = trained
    out = model.generate(
        input_ids=TOY_SOURCES,
        attention_mask=TOY_SOURCES.ne(PAD),
        num_beams=num_beams,
        max_new_tokens=10,
    )
    for row, target in zip(out, TOY_TARGETS, strict=True):
        target = target[target.ne(-100)]
        generated = row[1 : 1 + len(target)]  # drop the decoder start token
        assert torch.equal(generated, target)
        assert generated[-1] == EOS
        # Finished rows are filled to the batch length. transformers 5.23 beam search fills with
        # `pad_token_id or eos_token_id`, i.e. with eos when pad is 0, so accept either.
        assert torch.isin(row[1 + len(target) :], torch.tensor([PAD, EOS])).all()


@pytest.mark.parametrize("tie", [True, False])
def test_save_and_load_round_trip(tmp_path, tie: bool) -> None:
    model = tiny_model(tie_word_embeddings=tie, encoder_layers=1, decoder_layers=3)
    input_ids, attention_mask = source_batch()
    decoder_input_ids = torch.randint(2, VOCAB, (3, 4))
    expected = model(
        input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
    ).logits
    model.save_pretrained(tmp_path)

    assert isinstance(AutoConfig.from_pretrained(tmp_path), TransformerConfig)
    for loader in (TransformerForSeq2Seq, AutoModelForSeq2SeqLM):
        loaded, info = loader.from_pretrained(tmp_path, output_loading_info=True)
        assert isinstance(loaded, TransformerForSeq2Seq)
        assert not info["missing_keys"] and not info["unexpected_keys"], info
        logits = loaded.eval()(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
        ).logits
        assert torch.equal(logits, expected)
        shared = loaded.shared.weight
        embeddings = (
            loaded.encoder.embed_tokens.weight,
            loaded.decoder.embed_tokens.weight,
            loaded.lm_head.weight,
        )
        for weight in embeddings:
            assert (weight.data_ptr() == shared.data_ptr()) is tie


def test_tied_embeddings_are_one_parameter_initialised_sensibly() -> None:
    model = tiny_model()
    weights = {
        id(model.shared.weight),
        id(model.encoder.embed_tokens.weight),
        id(model.decoder.embed_tokens.weight),
        id(model.lm_head.weight),
    }
    assert len(weights) == 1
    assert torch.all(model.shared.weight[PAD] == 0)
    assert model.shared.weight[2:].std().item() == pytest.approx(32**-0.5, rel=0.2)
    names = [name for name, _ in model.named_parameters()]
    assert "shared.weight" in names and "lm_head.weight" not in names


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("position_embedding", ["sinusoidal", "learned"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_variants_run_and_backpropagate(
    norm_first: bool, position_embedding: str, activation: str
) -> None:
    model = tiny_model(
        norm_first=norm_first,
        position_embedding=position_embedding,
        activation=activation,
        scale_embedding=norm_first,
        dropout=0.1,
        attention_dropout=0.1,
    ).train()
    input_ids, attention_mask = source_batch()
    labels = torch.randint(2, VOCAB, (3, 5))
    loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert model.encoder.layers[0].self_attn.qkv_proj.weight.grad is not None
    has_final_norm = isinstance(model.encoder.final_norm, torch.nn.LayerNorm)
    assert has_final_norm is norm_first  # post-norm layers already end in a LayerNorm
    out = model.eval().generate(
        input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=4
    )
    assert out.shape[0] == 3


def test_sinusoidal_positions_follow_the_paper() -> None:
    model = tiny_model()
    table = model.decoder.embed_positions(torch.arange(5))
    pos, i = 3, 4  # dimensions 2i and 2i + 1
    angle = torch.tensor(pos / 10000 ** (2 * i / 32))
    torch.testing.assert_close(table[pos, 2 * i], angle.sin())
    torch.testing.assert_close(table[pos, 2 * i + 1], angle.cos())


@pytest.mark.parametrize(
    "overrides",
    [
        {"d_model": 30, "num_heads": 4},
        {"activation": "swish"},
        {"position_embedding": "rotary"},
    ],
)
def test_invalid_config_raises(overrides: dict) -> None:
    with pytest.raises(ValueError):
        tiny_config(**overrides)


def test_hugging_face_trainer_trains_it(tmp_path) -> None:
    """Users train exports with transformers' Trainer: it inspects forward's signature (a
    forward with **kwargs is sent `num_items_in_batch`, which this model must not receive)."""
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    model = tiny_model().train()
    input_ids, attention_mask = source_batch()
    rows = [
        {"input_ids": i, "attention_mask": m, "labels": i.masked_fill(m == 0, -100)}
        for i, m in zip(input_ids, attention_mask, strict=True)
    ]
    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=3,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    result = Seq2SeqTrainer(model=model, args=args, train_dataset=rows).train()
    assert result.global_step == 2 and math.isfinite(result.training_loss)


def _backends_run(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> set[str]:
    """The SDPA kernels that one call of our `attention` ran (by their aten op names)."""
    from torch.profiler import ProfilerActivity, profile

    from seq2seq_bench.models.transformer import attention

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        attention(q, k, v, None, 0.0, False)
    names = {e.key for e in prof.key_averages()}
    return {n for n in names if "flash_attention" in n} | {n for n in names if n == "aten::bmm"}


def test_training_attention_on_short_sequences_takes_the_math_backend_and_decoding_does_not():
    """The math backend is chosen only where it was measured faster: forward + backward on a
    CPU with few keys. Decoding (no backward) and long sequences keep the fused kernel."""
    short = [torch.randn(4, 2, 12, 16, requires_grad=True) for _ in range(3)]
    long = [torch.randn(1, 2, 300, 16, requires_grad=True) for _ in range(3)]
    assert _backends_run(*short) == {"aten::bmm"}
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in _backends_run(*long)
    with torch.no_grad():
        assert "aten::_scaled_dot_product_flash_attention_for_cpu" in _backends_run(*short)


@pytest.mark.parametrize("causal", [False, True])
def test_math_backend_attention_matches_the_fused_kernel_values_and_gradients(causal: bool):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from seq2seq_bench.models.transformer import attention

    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, 9, 16, requires_grad=True) for _ in range(3))
    padding = (torch.arange(9) < 6).expand(3, 1, 1, 9)  # the last 3 keys are padding
    mask = None if causal else padding
    ours = attention(q, k, v, mask, 0.0, causal)
    grads = torch.autograd.grad(ours.square().sum(), (q, k, v))
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        fused = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    fused_grads = torch.autograd.grad(fused.square().sum(), (q, k, v))
    torch.testing.assert_close(ours, fused, rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(grads, fused_grads, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)
