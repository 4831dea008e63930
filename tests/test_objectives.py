"""The pretraining objectives' transforms: exact reconstruction, realised noise rates,
and the invariants every objective keeps (property tests with hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example as with_example
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from seq2seq_bench.data.corpora import SampleCorpus
from seq2seq_bench.data.tokenizer import train_tokenizer
from seq2seq_bench.models.bert_encoder import minilm_dir
from seq2seq_bench.objectives.bart import BartDenoisingObjective, infill, permute_sentences
from seq2seq_bench.objectives.denoising import monolingual_texts, ordinary_ids
from seq2seq_bench.objectives.electra import ElectraObjective
from seq2seq_bench.objectives.mlm import MaskedLMObjective, mask_tokens
from seq2seq_bench.objectives.span_corruption import (
    SpanCorruptionObjective,
    compute_input_and_target_lengths,
    merge,
    random_spans_noise_mask,
    sentinel_ids,
)
from seq2seq_bench.types import Tokenizers

PAIRS = list(SampleCorpus().iter_pairs())[:3000]
TOK = train_tokenizer([t for pair in PAIRS[:1500] for t in pair], vocab_size=1000)
SHARED = Tokenizers(TOK, TOK)
SENTINELS = sentinel_ids(TOK)
TEXTS = [t for pair in PAIRS for t in pair]

pairs_strategy = st.lists(
    st.tuples(
        st.sampled_from(TEXTS) | st.text(min_size=1, max_size=40),
        st.sampled_from(TEXTS) | st.text(min_size=1, max_size=40),
    ),
    min_size=1,
    max_size=24,
)

OBJECTIVES = {
    "span_corruption": lambda: SpanCorruptionObjective(input_length=32),
    "span_corruption_unpacked": lambda: SpanCorruptionObjective(input_length=None),
    "bart_all_knobs": lambda: BartDenoisingObjective(
        token_masking=0.1,
        token_deletion=0.1,
        text_infilling=0.3,
        sentence_permutation=1.0,
        document_rotation=0.5,
        pack_tokens=48,
    ),
    "mlm": lambda: MaskedLMObjective(),
    "electra": lambda: ElectraObjective(),
}


def content(ids: list[int]) -> list[int]:
    """Token ids of a text without the eos our tokenizer appends."""
    assert ids[-1] == TOK.eos_token_id
    return ids[:-1]


# -- invariants of every objective --------------------------------------------------------
@pytest.mark.parametrize("name", OBJECTIVES)
@settings(max_examples=40, deadline=None)
@given(pairs=pairs_strategy, seed=st.integers(0, 2**32 - 1))
def test_no_empty_input_no_pad_label_specials_untouched(
    name: str, pairs: list[tuple[str, str]], seed: int
) -> None:
    objective = OBJECTIVES[name]()
    introduced = set(SENTINELS) | {TOK.mask_token_id}  # what an objective may insert
    framing = set(TOK.all_special_ids) - introduced - {TOK.unk_token_id}  # unk is text
    for example in objective.encode(pairs, SHARED, np.random.default_rng(seed)):
        assert len(example.input_ids) >= 2  # some text, then eos
        assert example.labels and TOK.pad_token_id not in example.labels
        assert example.input_ids[-1] == TOK.eos_token_id == example.labels[-1]
        assert not framing & set(example.input_ids[:-1])  # eos/pad/bos never moved or drawn
        assert not framing & set(example.labels[:-1])


@pytest.mark.parametrize("name", ["bart_all_knobs", "mlm", "electra"])
def test_a_tokenizer_with_a_prefix_token_keeps_its_frame(name: str) -> None:
    """MiniLM frames every text as [CLS] ... [SEP]; noise never touches either."""
    bert = AutoTokenizer.from_pretrained(minilm_dir())
    tokenizers = Tokenizers(bert, TOK)  # bert_encoder: English BERT in, our tokenizer out
    rng = np.random.default_rng(0)
    for example in OBJECTIVES[name]().encode(PAIRS[:200], tokenizers, rng):
        assert example.input_ids[0] == bert.cls_token_id
        assert example.input_ids[-1] == bert.sep_token_id
        specials = set(bert.all_special_ids) - {bert.mask_token_id, bert.unk_token_id}
        assert not specials & set(example.input_ids[1:-1])
        if name != "electra":  # the seq2seq target is the text in the target tokenizer
            assert example.labels[-1] == TOK.eos_token_id


def test_evaluation_noise_is_a_fixed_function_of_the_text() -> None:
    objective = BartDenoisingObjective()
    first = objective.encode(PAIRS[:100], SHARED)
    assert first == objective.encode(PAIRS[:100], SHARED)
    assert first != objective.encode(PAIRS[:100], SHARED, np.random.default_rng(1))


# -- span corruption ----------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(pairs=pairs_strategy, seed=st.integers(0, 2**32 - 1))
def test_span_corruption_merging_input_and_target_gives_the_text_back(
    pairs: list[tuple[str, str]], seed: int
) -> None:
    objective = SpanCorruptionObjective(input_length=None, sides="source")
    texts = [s for s, _ in pairs if s.strip()]
    # transformers < 5.6 fails on an empty batch
    originals = [content(ids) for ids in TOK(texts)["input_ids"]] if texts else []
    examples = objective.encode(pairs, SHARED, np.random.default_rng(seed))
    originals = [o for o in originals if o]  # texts that tokenize to nothing are skipped
    assert len(examples) == len(originals)
    for example, original in zip(examples, originals, strict=True):
        merged = merge(content(example.input_ids), content(example.labels), SENTINELS)
        assert merged == original


@settings(max_examples=30, deadline=None)
@given(pairs=pairs_strategy, seed=st.integers(0, 2**32 - 1), length=st.integers(8, 64))
@with_example(pairs=[("Good morning.", "<s>")], seed=0, length=8)  # text spelling a special token
def test_packed_span_corruption_has_fixed_lengths_and_loses_nothing(
    pairs: list[tuple[str, str]], seed: int, length: int
) -> None:
    objective = SpanCorruptionObjective(input_length=length)
    raw, target_length = compute_input_and_target_lengths(length, 0.15, 3.0)
    examples = objective.encode(pairs, SHARED, np.random.default_rng(seed))
    for example in examples[:-1]:  # the last piece of a chunk is the rest, shorter
        assert len(example.input_ids) == length
        assert len(example.labels) == target_length
    texts = monolingual_texts(pairs, "both")  # identical sides are read once
    stream = [
        token
        for ids in TOK(texts, truncation=True, max_length=128)["input_ids"]
        for token in content(ids)
    ]
    merged = [
        token
        for e in examples
        for token in merge(content(e.input_ids), content(e.labels), SENTINELS)
    ]
    assert merged == stream


def test_t5_lengths_match_the_published_numbers() -> None:
    """T5's C4 setting: 512-token inputs need 568 raw tokens and give 114-token targets."""
    assert compute_input_and_target_lengths(512, 0.15, 3.0) == (568, 114)


@settings(max_examples=200, deadline=None)
@given(
    length=st.integers(2, 400),
    density=st.floats(0.05, 0.9),
    mean_span=st.floats(1.0, 10.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_noise_mask_has_t5s_counts(
    length: int, density: float, mean_span: float, seed: int
) -> None:
    mask = random_spans_noise_mask(length, density, mean_span, np.random.default_rng(seed))
    noise = min(max(int(round(length * density)), 1), length - 1)
    assert mask.sum() == noise
    assert not mask[0]  # T5 starts with a kept run
    spans = int(np.sum(mask[1:] & ~mask[:-1]))
    expected = min(max(int(round(noise / mean_span)), 1), noise, length - noise)
    assert spans == expected


def test_span_corruption_realises_its_density_and_span_length() -> None:
    objective = SpanCorruptionObjective(input_length=None)
    examples = objective.encode(PAIRS, SHARED, np.random.default_rng(0))
    noise = sum(len(e.labels) - 1 for e in examples)  # targets: sentinels + noise, eos
    spans = sum(1 for e in examples for t in e.labels if t in set(SENTINELS))
    total = sum(
        len(e.input_ids) - 1 - s + len(e.labels) - 1 - s
        for e, s in ((e, sum(t in set(SENTINELS) for t in e.labels)) for e in examples)
    )
    assert abs((noise - spans) / total - 0.15) < 0.03  # rounding on short texts
    packed = SpanCorruptionObjective(input_length=128).encode(
        PAIRS, SHARED, np.random.default_rng(0)
    )
    noise = sum(len(e.labels) - 1 for e in packed)
    spans = sum(1 for e in packed for t in e.labels if t in set(SENTINELS))
    kept = sum(len(e.input_ids) - 1 for e in packed) - spans
    assert abs((noise - spans) / (noise - spans + kept) - 0.15) < 0.005
    assert abs((noise - spans) / spans - 3.0) < 0.15


def test_a_tokenizer_without_sentinels_is_refused_with_advice() -> None:
    bert = AutoTokenizer.from_pretrained(minilm_dir())
    with pytest.raises(ValueError, match="sentinel"):
        SpanCorruptionObjective().encode(PAIRS[:5], Tokenizers(bert, bert))


# -- BART ---------------------------------------------------------------------------------
def realised(objective: BartDenoisingObjective) -> tuple[float, float, float]:
    """(fraction of tokens masked, fraction removed, mask tokens per removed token)."""
    examples = objective.encode(PAIRS, SHARED, np.random.default_rng(0))
    total = masks = removed = 0
    for example in examples:
        original, noised = content(example.labels), content(example.input_ids)
        total += len(original)
        count = noised.count(TOK.mask_token_id)
        masks += count
        removed += len(original) - (len(noised) - count)
    return masks / total, removed / total, masks / max(removed, 1)


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_bart_each_knob_realises_its_rate(rate: float) -> None:
    def alone(knob: str) -> tuple[float, float, float]:
        rates = dict(text_infilling=0.0, sentence_permutation=0.0) | {knob: rate}
        return realised(BartDenoisingObjective(**rates))

    masked, removed, _ = alone("token_masking")
    assert abs(masked - rate) < 0.01 and abs(removed - rate) < 0.01
    masked, removed, _ = alone("token_deletion")
    assert masked == 0 and abs(removed - rate) < 0.01
    masked, removed, per_token = alone("text_infilling")
    assert abs(removed - rate) < 0.01
    assert 0.2 < per_token < 0.5  # one mask per Poisson(3) span: about 1/3 per token


def test_text_infilling_zero_length_spans_insert_a_mask() -> None:
    rng = np.random.default_rng(0)
    tokens = list(range(10, 60))
    inserted = 0
    for _ in range(200):
        out = infill(tokens, 0.2, 0.5, -1, rng)  # lambda 0.5: most spans are empty
        kept = [t for t in out if t != -1]
        assert kept == [t for t in tokens if t in set(kept)]  # order kept
        assert len(tokens) - len(kept) in (9, 10, 11)  # 0.2 * 50, probabilistically rounded
        inserted += out.count(-1) > len(tokens) - len(kept)
    assert inserted > 100  # more masks than removed tokens: only empty spans do that


@settings(max_examples=100, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=8),
    fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_sentence_permutation_moves_whole_sentences(
    lengths: list[int], fraction: float, seed: int
) -> None:
    sentences = [[100 * i + j for j in range(n)] for i, n in enumerate(lengths)]
    flat = [t for s in sentences for t in s]
    starts = list(np.cumsum([0, *lengths[:-1]]))
    out = permute_sentences(flat, starts, fraction, np.random.default_rng(seed))
    runs: list[list[int]] = []
    for token in out:  # cut the output where the sentence (token // 100) changes
        if not runs or runs[-1][-1] // 100 != token // 100:
            runs.append([])
        runs[-1].append(token)
    assert sorted(runs) == sentences  # every sentence once, whole and in its own order
    moved = sum(run != sentence for run, sentence in zip(runs, sentences, strict=True))
    assert moved <= int(np.ceil(len(sentences) * fraction))


def test_sentence_permutation_and_rotation_happen_at_their_rates() -> None:
    off = dict(text_infilling=0.0)
    examples = BartDenoisingObjective(**off).encode(PAIRS, SHARED, np.random.default_rng(0))
    multi = [e for e in examples if len(e.labels) > 20]
    assert sum(e.input_ids != e.labels for e in multi) > 0.8 * len(multi)
    rotation = BartDenoisingObjective(
        text_infilling=0.0, sentence_permutation=0.0, document_rotation=0.4
    )
    examples = rotation.encode(PAIRS, SHARED, np.random.default_rng(0))
    rotated = 0
    for example in examples:
        noised, original = content(example.input_ids), content(example.labels)
        assert sorted(noised) == sorted(original)
        assert any(noised == original[i:] + original[:i] for i in range(len(original)))
        rotated += noised != original
    assert abs(rotated / len(examples) - 0.4) < 0.08


def test_bart_rates_are_checked() -> None:
    with pytest.raises(ValueError, match="token_masking"):
        BartDenoisingObjective(token_masking=1.5)
    with pytest.raises(ValueError, match="sides"):
        BartDenoisingObjective(sides="french")


# -- MLM and ELECTRA masking --------------------------------------------------------------
def test_mlm_selects_15_percent_and_splits_80_10_10() -> None:
    rng = np.random.default_rng(0)
    vocabulary = ordinary_ids(TOK)
    counts = dict(total=0, picked=0, masked=0, random=0, kept=0)
    for ids in TOK(TEXTS[:4000])["input_ids"]:
        tokens = content(ids)
        out, picked = mask_tokens(tokens, 0.15, 0.8, 0.1, TOK.mask_token_id, vocabulary, rng)
        counts["total"] += len(tokens)
        for before, after, chosen in zip(tokens, out, picked.tolist(), strict=True):
            if not chosen:
                assert before == after
                continue
            counts["picked"] += 1
            key = (
                "masked" if after == TOK.mask_token_id else "kept" if after == before else "random"
            )
            counts[key] += 1
    assert abs(counts["picked"] / counts["total"] - 0.15) < 0.005
    for key, share in (("masked", 0.8), ("random", 0.1), ("kept", 0.1)):
        assert abs(counts[key] / counts["picked"] - share) < 0.02, key


def test_mlm_and_electra_targets() -> None:
    rng = np.random.default_rng(0)
    for example in MaskedLMObjective(pack_tokens=None).encode(PAIRS[:50], SHARED, rng):
        assert len(example.input_ids) == len(example.labels)
    for example in ElectraObjective(pack_tokens=None).encode(PAIRS[:50], SHARED, rng):
        assert len(example.input_ids) == len(example.labels)  # position for position
        for noised, original in zip(example.input_ids, example.labels, strict=True):
            assert noised in (original, TOK.mask_token_id)


@pytest.mark.parametrize("objective", [MaskedLMObjective(), ElectraObjective()])
def test_mlm_and_electra_objectives_realise_their_mask_rate(objective) -> None:
    examples = objective.encode(PAIRS, SHARED, np.random.default_rng(0))
    changed = total = 0
    for example in examples:
        noised, original = content(example.input_ids), content(example.labels)
        total += len(original)
        changed += sum(a != b for a, b in zip(noised, original, strict=True))
    expected = 0.15 if isinstance(objective, ElectraObjective) else 0.15 * 0.9  # 10 % kept
    assert abs(changed / total - expected) < 0.006
