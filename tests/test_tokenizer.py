from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from seq2seq_bench.data.corpora import SampleCorpus
from seq2seq_bench.data.tokenizer import (
    NUM_SENTINELS,
    cache_key,
    load_or_train,
    sentinel,
    train_tokenizer,
)
from seq2seq_bench.models.bert_encoder import minilm_dir
from seq2seq_bench.objectives.base import token_ids
from seq2seq_bench.objectives.translation import TranslationObjective
from seq2seq_bench.types import Tokenizers

from .conftest import EN_FR

TEXTS = [t for pair in EN_FR for t in pair] * 20


def test_special_tokens_have_fixed_ids_and_eos_is_appended() -> None:
    tok = train_tokenizer(TEXTS, vocab_size=300)
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    assert tok.convert_tokens_to_ids(sentinel(0)) == 5
    assert tok.convert_tokens_to_ids(sentinel(NUM_SENTINELS - 1)) == 5 + NUM_SENTINELS - 1
    ids = tok("Où est la gare ?")["input_ids"]
    assert ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "Où est la gare ?"


def test_sentinels_are_single_tokens() -> None:
    tok = train_tokenizer(TEXTS, vocab_size=300)
    ids = tok(f"Le chat {sentinel(3)} noir.")["input_ids"]
    assert tok.convert_tokens_to_ids(sentinel(3)) in ids


def test_tokenizer_is_cached_by_key(tmp_path: Path) -> None:
    calls = []

    def texts():
        calls.append(1)
        return iter(TEXTS)

    key = cache_key("corpus-a", {"vocab_size": 300})
    first, path, trained = load_or_train(tmp_path, key, texts, 300)
    second, path2, trained2 = load_or_train(tmp_path, key, texts, 300)
    assert trained and not trained2 and path == path2 and len(calls) == 1
    assert first("Le chat.")["input_ids"] == second("Le chat.")["input_ids"]
    assert cache_key("corpus-b", {"vocab_size": 300}) != key
    assert cache_key("corpus-a", {"vocab_size": 301}) != key


def test_too_small_vocab_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        train_tokenizer(TEXTS, vocab_size=100)


@pytest.mark.parametrize("which", ["ours", "minilm"])
@pytest.mark.parametrize("max_length", [4, 128])
def test_token_ids_are_the_tokenizers_own_truncated_ids(which: str, max_length: int) -> None:
    """The fast path of every objective's tokenization gives exactly what calling the
    tokenizer gives, and leaves the tokenizer's truncation and padding as they were."""
    pairs = list(SampleCorpus().iter_pairs())[:500]
    texts = [t for pair in pairs for t in pair]
    texts += ["", " ", "a " * 400, "<mask> </s> <pad> [CLS]", "Ça coûte 5 € — déjà ?", "\u202f!"]
    if which == "ours":
        tokenizer = train_tokenizer(texts[:600], vocab_size=400)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    backend = tokenizer.backend_tokenizer
    settings = (backend.truncation, backend.padding)  # as loaded: MiniLM's json pads
    fast = token_ids(tokenizer, texts, max_length)  # first, before a call resets the backend
    assert (backend.truncation, backend.padding) == settings
    expected = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    assert fast == [list(x) for x in expected]


SPELLED = "Type </s> or <mask> or <extra_id_0> or [SEP] or <pad> to stop."


@pytest.mark.parametrize("which", ["ours", "minilm"])
def test_text_that_spells_a_special_token_is_encoded_as_text(which: str) -> None:
    """Through `Tokenizers` (every path of ours: the training data's fast tokenization, the
    objectives, translation's source encoding), a sentence that spells a control token
    keeps its words and gets no control id but the template's own."""
    if which == "ours":
        tokenizer = train_tokenizer(TEXTS + [SPELLED], vocab_size=400)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    tokenizers = Tokenizers(tokenizer, tokenizer)
    frame = tokenizer("a")["input_ids"]
    frame_ids = [i for i in frame if i in tokenizer.all_special_ids]
    control = set(tokenizer.all_special_ids)
    for ids in (
        token_ids(tokenizer, [SPELLED], 128)[0],
        tokenizers.source([SPELLED])["input_ids"][0],  # what translate() calls
        TranslationObjective().encode([(SPELLED, SPELLED)], tokenizers)[0].input_ids,
    ):
        assert [i for i in ids if i in control] == frame_ids, tokenizer.convert_ids_to_tokens(ids)
    if which == "ours":  # (MiniLM lowercases and spaces punctuation)
        ids = tokenizers.source(SPELLED)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == SPELLED
