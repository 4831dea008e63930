"""A shared English+French subword tokenizer, trained on the training split only.

Trained with the `tokenizers` library (BPE or Unigram over Metaspace pieces, so decoding
restores spacing exactly), wrapped as a `PreTrainedTokenizerFast` so every backbone and
`generate()` can use it, and cached on disk under a key made of the corpus fingerprint,
the split settings and the tokenizer settings: a second run, or a second sweep job, loads
it in milliseconds instead of retraining.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import PreTrainedTokenizerFast

from seq2seq_bench.data.corpora import EmptyDataError

log = logging.getLogger(__name__)

PAD, EOS, UNK, BOS, MASK = "<pad>", "</s>", "<unk>", "<s>", "<mask>"
NUM_SENTINELS = 100


def sentinel(i: int) -> str:
    """T5-style sentinel token that marks the i-th dropped span in span corruption."""
    return f"<extra_id_{i}>"


SPECIAL_TOKENS = [PAD, EOS, UNK, BOS, MASK] + [sentinel(i) for i in range(NUM_SENTINELS)]


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 8000, algorithm: str = "bpe", min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """Train a subword tokenizer; ids 0..4 are pad, eos, unk, bos, mask, then 100 sentinels."""
    if vocab_size <= len(SPECIAL_TOKENS) + 50:
        raise ValueError(f"data.vocab_size={vocab_size} is too small; use at least 300")
    if algorithm == "bpe":
        model = models.BPE(unk_token=UNK)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=SPECIAL_TOKENS,
            show_progress=False,
        )
    elif algorithm == "unigram":
        model = models.Unigram()
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token=UNK, show_progress=False
        )
    else:
        raise ValueError(f"data.tokenizer_algorithm={algorithm!r}: choose 'bpe' or 'unigram'")
    tok = Tokenizer(model)
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    seen = 0

    def counted() -> Iterator[str]:
        nonlocal seen
        for text in texts:
            seen += 1
            yield text

    tok.train_from_iterator(counted(), trainer=trainer)
    if not seen:
        raise EmptyDataError(
            "no training text to build the tokenizer from: the corpus, or its training split, "
            "is empty (check the corpus file and data.val_fraction / data.test_fraction)"
        )
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", special_tokens=[(EOS, tok.token_to_id(EOS))]
    )
    return wrap(tok)


def wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        bos_token=BOS,
        mask_token=MASK,
        extra_special_tokens=[sentinel(i) for i in range(NUM_SENTINELS)],
        model_max_length=1024,
    )


def cache_key(corpus_fingerprint: str, settings: dict) -> str:
    blob = json.dumps({"corpus": corpus_fingerprint, **settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_or_train(
    cache_dir: str | os.PathLike[str],
    key: str,
    texts: Callable[[], Iterable[str]],
    vocab_size: int,
    algorithm: str = "bpe",
    min_frequency: int = 2,
) -> tuple[PreTrainedTokenizerFast, Path, bool]:
    """The cached tokenizer for ``key``, training (and caching) it on a miss.

    Returns (tokenizer, its directory, whether it was trained now). The directory is
    written to a temp dir and renamed, so concurrent jobs never read a half-written one.
    """
    target = Path(cache_dir) / "tokenizers" / key
    if (target / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(str(target)), target, False
    log.info("training a %s tokenizer (vocab %d) on the training split", algorithm, vocab_size)
    tokenizer = train_tokenizer(texts(), vocab_size, algorithm, min_frequency)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{key}-"))
    tokenizer.save_pretrained(str(tmp))
    try:
        os.rename(tmp, target)
    except OSError:  # another job won the race; theirs is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return PreTrainedTokenizerFast.from_pretrained(str(target)), target, True
