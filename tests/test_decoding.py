"""Decoding settings and batched translation: validation, every strategy, beam 1 == greedy,
seeded sampling, n-best scores, order restored after length sorting, empty lines."""

from __future__ import annotations

import random

import pytest
import torch

from seq2seq_bench.checkpoint import LoadedModel, load
from seq2seq_bench.decoding import (
    GENERATE_BATCH_SIZE,
    Decoding,
    DecodingError,
    ExternalEngine,
    Hypothesis,
    batch_size_for,
    batches,
    sequence_scores,
    translate,
)
from seq2seq_bench.types import Tokenizers

from .backbone_helpers import BACKBONES
from .conftest import EN_FR
from .tiny_run import PREFIX, backbone_run, shared_run

SOURCES = [s for s, _ in EN_FR] + ["The cat is small and the dog is black."]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    torch.set_num_threads(1)  # tiny models: one thread is fastest and shares the CPU
    return load(shared_run(tmp_path_factory))


def run(loaded: LoadedModel, sentences: list[str], decoding: Decoding, **kw) -> list[str]:
    results = translate(
        loaded.model, loaded.tokenizers, sentences, decoding, prefix=loaded.prefix, **kw
    )
    return [hyps[0].text for hyps in results]


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"num_beams": 0}, "num_beams"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size"),
        ({"num_beams": 2, "nbest": 3}, "nbest=3 > num_beams=2"),
        ({"do_sample": True, "temperature": 0.0}, "temperature"),
        ({"do_sample": True, "top_p": 0.0}, "top_p"),
        ({"do_sample": True, "top_p": 1.5}, "top_p"),
        ({"do_sample": True, "top_k": -1}, "top_k"),
        ({"do_sample": True, "min_p": 1.0}, "min_p"),
        ({"top_p": 0.9}, "set do_sample=true"),
        ({"temperature": 0.7, "num_beams": 4}, "set do_sample=true"),
    ],
)
def test_bad_settings_name_the_fix(settings: dict, named: str) -> None:
    with pytest.raises(DecodingError, match=named.replace("+", r"\+")):
        Decoding(**settings)


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(DecodingError, match="num_beam"):
        Decoding.from_dict({"num_beam": 4})


def test_generate_kwargs_pass_only_the_knobs_of_the_strategy() -> None:
    greedy = Decoding(max_new_tokens=7).generate_kwargs()
    assert greedy == {
        "num_beams": 1,
        "do_sample": False,
        "max_new_tokens": 7,
        "no_repeat_ngram_size": 0,
        "num_return_sequences": 1,
    }
    beam = Decoding(num_beams=4, length_penalty=0.6, early_stopping=True).generate_kwargs()
    assert beam["length_penalty"] == 0.6 and beam["early_stopping"] is True
    assert "temperature" not in beam
    sample = Decoding(do_sample=True, top_p=0.9, min_p=0.05, nbest=3).generate_kwargs()
    assert sample["top_k"] == 0  # explicit: transformers' default top_k=50 must not sneak in
    assert (sample["top_p"], sample["min_p"], sample["num_return_sequences"]) == (0.9, 0.05, 3)
    assert Decoding(num_beams=8).label == "beam8"
    assert Decoding(do_sample=True, temperature=0.7, top_p=0.9).label == "sample(t=0.7,p=0.9)"


def test_batches_are_length_sorted_within_budget_and_cover_every_index() -> None:
    lengths = [random.Random(0).randint(1, 40) for _ in range(200)]
    cut = list(batches(lengths, batch_size=16, max_tokens=300, width=2))
    assert sorted(i for b in cut for i in b) == list(range(200))
    for batch in cut:
        assert len(batch) <= 16
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) * 2 <= 300
    flat = [lengths[i] for b in cut for i in b]
    assert flat == sorted(flat, reverse=True)
    assert list(batches([500, 3], batch_size=8, max_tokens=100, width=1)) == [[0], [1]]


def test_without_batch_size_only_max_tokens_bounds_a_batch() -> None:
    lengths = [10] * 100
    assert [len(b) for b in batches(lengths, None, max_tokens=400, width=4)] == [10] * 10
    assert [len(b) for b in batches(lengths, None, max_tokens=10_000, width=1)] == [100]


class Engine(ExternalEngine):
    """An engine that records the batch sizes it is given and echoes nothing."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def decode(self, input_ids, attention_mask, decoding, scores=False) -> list[list[Hypothesis]]:
        self.sizes.append(len(input_ids))
        return [[Hypothesis("x")] for _ in input_ids]


def test_the_batch_size_is_the_users_else_the_engines_own(loaded: LoadedModel) -> None:
    assert batch_size_for(loaded.model, None) == GENERATE_BATCH_SIZE
    assert batch_size_for(loaded.model, 5) == 5
    engine = Engine()
    assert batch_size_for(engine, None) is None and batch_size_for(engine, 7) == 7
    sentences = ["a b c"] * 200
    translate(engine, loaded.tokenizers, sentences, Decoding(), max_tokens=10**6)
    assert engine.sizes == [200]  # an engine without a batch size: max_tokens alone
    engine.sizes.clear()
    translate(engine, loaded.tokenizers, sentences, Decoding(), batch_size=64)
    assert engine.sizes == [64, 64, 64, 8]


@pytest.mark.parametrize(("option", "value"), [("batch_size", 0), ("max_tokens", 0)])
def test_batch_limits_below_one_are_refused(loaded: LoadedModel, option: str, value: int) -> None:
    with pytest.raises(DecodingError, match=f"{option}={value}"):
        run(loaded, SOURCES, Decoding(), **{option: value})


def reference_greedy(loaded: LoadedModel, source: str, max_new_tokens: int) -> str:
    """Plain argmax decoding, one sentence at a time, no cache: nothing shared with generate()."""
    model, tokenizer = loaded.model, loaded.tokenizers.target
    ids = tokenizer(PREFIX + source, return_tensors="pt").input_ids
    decoded = [model.config.decoder_start_token_id]
    for _ in range(max_new_tokens):
        logits = model(input_ids=ids, decoder_input_ids=torch.tensor([decoded]), use_cache=False)
        decoded.append(int(logits.logits[0, -1].argmax()))
        if decoded[-1] == tokenizer.eos_token_id:
            break
    return tokenizer.decode(decoded, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def test_beam_1_is_greedy(loaded: LoadedModel) -> None:
    beam1 = Decoding(num_beams=1, length_penalty=0.6, early_stopping=True, max_new_tokens=20)
    expected = [reference_greedy(loaded, s, 20) for s in SOURCES]
    assert run(loaded, SOURCES, beam1, batch_size=3) == expected
    assert expected[: len(EN_FR)] == [t for _, t in EN_FR]  # the tiny model learnt its pairs


def test_order_is_restored_after_length_sorting(loaded: LoadedModel) -> None:
    known = [s for s, _ in EN_FR]
    alone = {s: run(loaded, [s], Decoding(num_beams=3))[0] for s in known}
    assert len(set(alone.values())) == len(known)  # distinct, so a mix-up would show
    shuffled = random.Random(1).sample(known * 3, len(known) * 3)
    got = run(loaded, shuffled, Decoding(num_beams=3), batch_size=4, max_tokens=200)
    assert got == [alone[s] for s in shuffled]


def test_empty_lines_come_back_empty_without_a_model_call(
    loaded: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    generate = loaded.model.generate
    monkeypatch.setattr(
        loaded.model, "generate", lambda **kw: calls.append(len(kw["input_ids"])) or generate(**kw)
    )
    got = run(loaded, ["", SOURCES[0], "   ", "\t", SOURCES[1]], Decoding())
    assert got[0] == got[2] == got[3] == "" and got[1] and got[4]
    assert calls == [2]
    assert run(loaded, ["", " "], Decoding()) == ["", ""] and calls == [2]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"num_beams": 4, "early_stopping": True},
        {"num_beams": 3, "length_penalty": 0.6, "no_repeat_ngram_size": 2},
        {"do_sample": True},
        {"do_sample": True, "temperature": 0.7, "top_k": 5},
        {"do_sample": True, "top_p": 0.8},
        {"do_sample": True, "min_p": 0.1},
        {"num_beams": 4, "nbest": 4},
        {"do_sample": True, "nbest": 3},
    ],
)
def test_every_strategy_translates_every_sentence(loaded: LoadedModel, settings: dict) -> None:
    decoding = Decoding(max_new_tokens=12, **settings)
    results = translate(loaded.model, loaded.tokenizers, ["", *SOURCES], decoding, prefix=PREFIX)
    assert len(results) == len(SOURCES) + 1
    assert all(len(hyps) == decoding.nbest and all(h.text for h in hyps) for hyps in results[1:])
    if decoding.nbest > 1:
        for hyps in results[1:]:
            values = [h.score for h in hyps]
            assert values == sorted(values, reverse=True) and all(v <= 0 for v in values)


def test_generation_limits_hold(loaded: LoadedModel) -> None:
    tokenizer = loaded.tokenizers.source
    inputs = tokenizer([PREFIX + s for s in SOURCES], return_tensors="pt", padding=True)
    for settings in ({"no_repeat_ngram_size": 1}, {"num_beams": 3, "no_repeat_ngram_size": 1}):
        kwargs = Decoding(max_new_tokens=15, **settings).generate_kwargs()
        out = loaded.model.generate(**inputs, **kwargs)
        for row in out.tolist():
            end = row.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in row else len(row)
            tokens = row[1:end]
            assert len(tokens) == len(set(tokens)), row  # no token (1-gram) repeats
    out = loaded.model.generate(**inputs, **Decoding(max_new_tokens=3).generate_kwargs())
    assert out.shape[1] <= 1 + 3


def test_sampling_is_reproducible_under_a_seed(loaded: LoadedModel) -> None:
    hot = {"do_sample": True, "temperature": 3.0}
    before = torch.random.get_rng_state()
    first = run(loaded, SOURCES, Decoding(seed=7, **hot))
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG is untouched
    assert run(loaded, SOURCES, Decoding(seed=7, **hot)) == first
    assert run(loaded, SOURCES, Decoding(seed=8, **hot)) != first


def test_scores_are_what_beam_search_ranks_by(loaded: LoadedModel) -> None:
    tokenizer = loaded.tokenizers.source
    inputs = tokenizer([PREFIX + s for s in SOURCES], return_tensors="pt", padding=True)
    decoding = Decoding(num_beams=4, nbest=2, length_penalty=0.7, max_new_tokens=15)
    out = loaded.model.generate(
        **inputs, **decoding.generate_kwargs(), output_scores=True, return_dict_in_generate=True
    )
    ours = sequence_scores(
        loaded.model,
        inputs["input_ids"].repeat_interleave(2, 0),
        inputs["attention_mask"].repeat_interleave(2, 0),
        out.sequences,
        0.7,
    )
    assert torch.allclose(torch.tensor(ours), out.sequences_scores, atol=1e-4)


class Recorder:
    """A tokenizer that remembers the texts it was asked to encode."""

    def __init__(self, tokenizer: object) -> None:
        self.tokenizer, self.seen = tokenizer, []

    def __call__(self, texts: list[str], **kwargs: object) -> object:
        self.seen += texts
        return self.tokenizer(texts, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self.tokenizer, name)


def test_the_model_reads_what_it_read_in_training(loaded: LoadedModel) -> None:
    """Normalised text (as the corpus readers normalise it) behind the run's task prefix."""
    recorder = Recorder(loaded.tokenizers.source)
    tokenizers = Tokenizers(recorder, loaded.tokenizers.target)
    sentences = ["  The  cat\u202fis black. ", "", "Thank you."]
    translate(loaded.model, tokenizers, sentences, Decoding(max_new_tokens=4), prefix=PREFIX)
    assert recorder.seen == [PREFIX + "The cat is black.", PREFIX + "Thank you."]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_backbone_decodes_with_every_strategy(backbone: str) -> None:
    loaded = load(backbone_run(backbone))
    assert loaded.prefix == ("translate English to French: " if "t5" in backbone else "")
    sources = ["", *SOURCES[:3]]
    for settings in ({}, {"num_beams": 3, "nbest": 2}, {"do_sample": True, "top_k": 20}):
        decoding = Decoding(max_new_tokens=6, **settings)
        results = translate(
            loaded.model, loaded.tokenizers, sources, decoding, prefix=loaded.prefix, scores=True
        )
        assert [len(r) for r in results] == [1] + [decoding.nbest] * 3
        assert all(isinstance(h.text, str) and h.score <= 0 for r in results for h in r)
        again = translate(loaded.model, loaded.tokenizers, sources, decoding, prefix=loaded.prefix)
        assert [r[0].text for r in again] == [r[0].text for r in results]
