"""One scan of the corpus, and its cache: the split, the held-out pairs, the training pairs
and each one's length in tokens, which every epoch is planned from.

Lengths need every training pair tokenized once: on Tatoeba that is ~6 s, paid by every run
and sweep job before its first step. The result depends only on the corpus content, the
split settings, the tokenizers and the objective's settings (and the code that reads and
measures), so it is cached under a key made of exactly those, in one pickle written
atomically; a changed corpus file, tokenizer, objective setting or reader code is a new key,
never a stale scan.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import pickle
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from seq2seq_bench.atomic import atomic_write
from seq2seq_bench.data.batching import example_cost, example_lengths
from seq2seq_bench.data.corpora import Corpus, ReadStats
from seq2seq_bench.objectives.base import Objective
from seq2seq_bench.types import Example, Tokenizers

log = logging.getLogger(__name__)

VERSION = 2  # bump when what a scan holds, or how lengths are measured, changes
CHUNK = 2048  # training pairs encoded at a time


@dataclass
class CorpusScan:
    read: ReadStats
    per_split: Counter[str]
    held_out: dict[str, list[tuple[str, str]]]  # "val", "test" -> pairs, in corpus order
    train_pairs: list[tuple[str, str]] = field(default_factory=list)
    # per training pair: its (source, target) tokens, which every epoch is planned from
    lengths: list[tuple[int, int]] = field(default_factory=list)
    truncated: int = 0  # training examples cut at the objective's length limit


def read_split(corpus: Corpus, split: Callable[[tuple[str, str]], str]) -> CorpusScan:
    """Read the corpus once: count, split, and keep the held-out and training pairs (no
    lengths yet). A cold start needs it twice, for the tokenizer's training texts and for
    the lengths measured with that tokenizer, so the data module keeps it between the two:
    reading and splitting Tatoeba is ~2 s."""
    result = CorpusScan(ReadStats(), Counter(), {"val": [], "test": []})
    for pair in corpus.iter_pairs(stats=result.read):
        name = split(pair)
        result.per_split[name] += 1
        if name == "train":
            result.train_pairs.append(pair)
        else:
            result.held_out[name].append(pair)
    return result


def scan(
    read_corpus: CorpusScan, objective: Objective, tokenizers: Tokenizers, seed: int
) -> CorpusScan:
    """``read_corpus`` with every training pair's lengths measured. An objective that packs
    several texts into one example (span corruption) is asked pair by pair; noise only
    changes lengths, so a fixed seed will do."""
    result = replace(read_corpus, lengths=[], truncated=0)
    noise = np.random.default_rng(seed)
    pairs = read_corpus.train_pairs
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start : start + CHUNK]
        examples: list[Example | None] = list(objective.encode(chunk, tokenizers, noise))
        if len(examples) != len(chunk):
            each = [objective.encode([p], tokenizers, noise) for p in chunk]
            examples = [max(e, key=example_cost) if e else None for e in each]
        for example in examples:
            result.lengths.append(example_lengths(example) if example is not None else (1, 1))
            result.truncated += example is not None and is_truncated(example, objective)
    return result


def is_truncated(example: Example, objective: Objective) -> bool:
    limits = (objective.max_source_tokens, objective.max_target_tokens)
    return any(
        limit is not None and len(ids) >= limit
        for ids, limit in zip((example.input_ids, example.labels), limits, strict=True)
    )


def tokenizer_fingerprint(tokenizers: Tokenizers) -> str:
    """The tokenizers' full definition (vocabulary, merges, normaliser, templates, and
    whether text that spells a special token is split: `Tokenizers` sets it)."""
    h = hashlib.sha256()
    sides = [tokenizers.source] + (
        [] if tokenizers.target is tokenizers.source else [tokenizers.target]
    )
    for tokenizer in sides:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        h.update(type(tokenizer).__name__.encode())
        if backend is not None:
            h.update(backend.to_str().encode())
        else:  # a slow tokenizer: its vocabulary and special tokens
            h.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode())
        h.update(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str).encode())
        h.update(repr(getattr(tokenizer, "split_special_tokens", False)).encode())
    return h.hexdigest()


def objective_fingerprint(objective: Objective) -> dict[str, Any]:
    """The objective's class and public settings (what `encode` reads)."""
    settings = {k: v for k, v in vars(objective).items() if not k.startswith("_")}
    kind = f"{type(objective).__module__}.{type(objective).__qualname__}"
    return {"class": kind, **json.loads(json.dumps(settings, sort_keys=True, default=repr))}


def code_fingerprint(objective: Objective) -> str:
    """The source of everything that decides what a scan holds: the readers, normalisation,
    split, batching cost and scan code, and the objective's classes. A code change there is
    a new key, so a cache written by another version of the code is never read back."""
    from seq2seq_bench import types
    from seq2seq_bench.data import batching, corpora, normalize, split

    modules = {batching, corpora, normalize, split, types, sys.modules[__name__]}
    modules |= {sys.modules[cls.__module__] for cls in type(objective).__mro__[:-1]}
    h = hashlib.sha256()
    for module in sorted(modules, key=lambda m: m.__name__):
        h.update(Path(inspect.getfile(module)).read_bytes())
    return h.hexdigest()


def scan_key(
    corpus: Corpus,
    split_settings: dict[str, Any],
    objective: Objective,
    tokenizers: Tokenizers,
    seed: int,
) -> str:
    blob = json.dumps(
        {
            "version": VERSION,
            "corpus": corpus.fingerprint(),
            "split": split_settings,
            "objective": objective_fingerprint(objective),
            "code": code_fingerprint(objective),
            "tokenizers": tokenizer_fingerprint(tokenizers),
            "seed": seed,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_scan(cache_dir: str | Path, key: str, compute: Callable[[], CorpusScan]) -> CorpusScan:
    """The cached scan for ``key``, computing and caching it on a miss (or an unreadable
    cache file, which is recomputed and replaced)."""
    path = Path(cache_dir) / "scans" / f"{key}.pkl"
    started = time.perf_counter()
    if path.is_file():
        try:
            with open(path, "rb") as f:
                result = pickle.load(f)
            if isinstance(result, CorpusScan):
                log.info("cached corpus scan %s (%.1f s)", path, time.perf_counter() - started)
                return result
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError) as err:
            log.warning("unreadable corpus scan cache %s (%s): scanning again", path, err)
    result = compute()
    atomic_write(path, lambda f: pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL))
    log.info("scanned the corpus in %.1f s, cached %s", time.perf_counter() - started, path)
    return result
