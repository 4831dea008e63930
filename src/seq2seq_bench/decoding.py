"""Decoding: settings -> `generate()` arguments, and batched translation of raw sentences.

`Decoding` holds every strategy knob the `decoding:` config block offers (greedy, beam
search, n-gram blocking, sampling with temperature / top-k / top-p / min-p, n-best) and
checks them up front, so a bad combination fails with a message naming the fix instead
of deep inside `generate()` or, worse, silently doing something else.

`translate` reads what the model read in training (normalised text behind the task
prefix, truncated alike), sorts sentences by length so that batches carry little padding,
and returns results in input order. Empty lines come back empty without a model call.
Scores, when asked for, are the model's log-probability of each hypothesis divided by
its length ** length_penalty (the quantity beam search ranks by), computed by one
teacher-forced pass, so they mean the same thing for every strategy and backbone.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress
from transformers import PreTrainedModel

from seq2seq_bench.data.normalize import normalize_text, one_line
from seq2seq_bench.types import Tokenizers

log = logging.getLogger(__name__)
GENERATE_BATCH_SIZE = 64  # sentences per generate() batch unless told (batch_size_for)


class DecodingError(ValueError):
    """Decoding settings that cannot work together, with the fix in the message."""


@dataclass(frozen=True)
class Decoding:
    num_beams: int = 1
    length_penalty: float = 1.0  # beam search: score = log P / length ** length_penalty
    early_stopping: bool = False  # beam search: stop once num_beams hypotheses are done
    no_repeat_ngram_size: int = 0  # 0 = off
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1.0 = off
    min_p: float = 0.0  # 0.0 = off
    seed: int = 0  # sampling is reproducible: the same seed gives the same samples
    max_new_tokens: int = 128
    nbest: int = 1  # hypotheses returned per sentence

    def __post_init__(self) -> None:
        problems = []
        if self.num_beams < 1:
            problems.append(f"num_beams={self.num_beams}: use 1 (greedy/sampling) or more (beam)")
        if self.max_new_tokens < 1:
            problems.append(f"max_new_tokens={self.max_new_tokens}: must be at least 1")
        if self.no_repeat_ngram_size < 0:
            problems.append(
                f"no_repeat_ngram_size={self.no_repeat_ngram_size}: use 0 (off) or more"
            )
        if self.nbest < 1:
            problems.append(f"nbest={self.nbest}: must be at least 1")
        if self.nbest > self.num_beams and not self.do_sample:
            problems.append(
                f"nbest={self.nbest} > num_beams={self.num_beams}: beam search returns at most "
                "num_beams hypotheses; raise num_beams or set do_sample=true"
            )
        if self.temperature <= 0:
            problems.append(f"temperature={self.temperature}: must be > 0 (use greedy for 0)")
        if self.top_k < 0:
            problems.append(f"top_k={self.top_k}: use 0 (off) or a positive count")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p={self.top_p}: must be in (0, 1]; 1 = off")
        if not 0 <= self.min_p < 1:
            problems.append(f"min_p={self.min_p}: must be in [0, 1); 0 = off")
        sampling_knobs = {
            "temperature": self.temperature != 1.0,
            "top_k": self.top_k != 0,
            "top_p": self.top_p != 1.0,
            "min_p": self.min_p != 0.0,
        }
        unused = [name for name, set_ in sampling_knobs.items() if set_]
        if unused and not self.do_sample:
            problems.append(
                f"{', '.join(unused)}: sampling-only, set do_sample=true (or decoding=sampling)"
            )
        if problems:
            raise DecodingError("bad decoding settings: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Decoding:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise DecodingError(
                f"unknown decoding setting(s) {unknown}; known: {', '.join(sorted(known))}"
            )
        return cls(**values)

    @property
    def label(self) -> str:
        """A short name for tables and plots: greedy, beam4, sample(t=0.7,p=0.9)."""
        if self.do_sample:
            knobs = [f"t={self.temperature:g}"] if self.temperature != 1.0 else []
            knobs += [f"k={self.top_k}"] if self.top_k else []
            knobs += [f"p={self.top_p:g}"] if self.top_p != 1.0 else []
            knobs += [f"min_p={self.min_p:g}"] if self.min_p else []
            name = f"sample({','.join(knobs)})" if knobs else "sample"
        else:
            name = "greedy" if self.num_beams == 1 else f"beam{self.num_beams}"
        return name + (f"+nr{self.no_repeat_ngram_size}" if self.no_repeat_ngram_size else "")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"label": self.label}

    def generate_kwargs(self) -> dict[str, Any]:
        """Every knob explicit, so a backbone's own `generation_config` (BART ships
        num_beams=4, no_repeat_ngram_size=3) never silently changes the strategy."""
        kwargs: dict[str, Any] = {
            "num_beams": self.num_beams,
            "do_sample": self.do_sample,
            "max_new_tokens": self.max_new_tokens,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
            "num_return_sequences": self.nbest,
        }
        if self.num_beams > 1:
            kwargs |= {"length_penalty": self.length_penalty, "early_stopping": self.early_stopping}
        if self.do_sample:
            kwargs |= {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}
            kwargs |= {"min_p": self.min_p} if self.min_p else {}
        return kwargs


@dataclass(frozen=True)
class Hypothesis:
    text: str
    score: float | None = None  # log P(text | source) / length ** length_penalty


class ExternalEngine(ABC):
    """A model decoded by another engine than `generate()` (`engine=ctranslate2`): it takes
    the same padded source ids and decoding settings and gives the same hypotheses."""

    device: torch.device
    # sentences per batch when the user gives none (batch_size_for); None: max_tokens alone
    batch_size: int | None = None

    @abstractmethod
    def decode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        decoding: Decoding,
        scores: bool = False,
    ) -> list[list[Hypothesis]]: ...


def batch_size_for(model: PreTrainedModel | ExternalEngine, batch_size: int | None) -> int | None:
    """The sentences per batch a decoding uses: the user's, else the engine's own.

    `generate()` pads every sentence of a batch to the end of the longest translation, so
    64 sentences serve it best (the whole 337-sentence sample test set in one batch ran
    greedy decoding at 0.27x). CTranslate2 drops a finished sentence from its batch and ran
    faster the larger the batch: on that test set, batches that only max_tokens bounds
    against 64 sentences, 1.37x with beam 4 and 1.46x greedy in int8, 1.39x and 1.35x in
    float32, the same translations (paired, 7 repetitions, a shared host)."""
    if batch_size is not None:
        if batch_size < 1:
            raise DecodingError(f"batch_size={batch_size}: give 1 or more, or null")
        return batch_size
    return model.batch_size if isinstance(model, ExternalEngine) else GENERATE_BATCH_SIZE


def batches(
    lengths: list[int], batch_size: int | None, max_tokens: int, width: int
) -> Iterator[list[int]]:
    """Indices, longest first, cut so that sentences x longest x ``width`` (beams or
    samples per sentence) stays within ``max_tokens`` and, unless it is None, sentences
    within ``batch_size``; a longer sentence goes alone."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    most = len(lengths) if batch_size is None else batch_size
    batch: list[int] = []
    for i in order:
        longest = lengths[batch[0]] if batch else lengths[i]
        if batch and (len(batch) >= most or (len(batch) + 1) * longest * width > max_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


@torch.no_grad()
def sequence_scores(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    sequences: torch.Tensor,
    length_penalty: float,
) -> list[float]:
    """log P(hypothesis | source) / length ** length_penalty, one teacher-forced pass.

    ``sequences`` are `generate()` outputs: decoder start token first, eos last, then pad.
    """
    eos = model.generation_config.eos_token_id
    eos_ids = torch.tensor(eos if isinstance(eos, list) else [eos], device=sequences.device)
    labels = sequences[:, 1:]
    is_eos = torch.isin(labels, eos_ids).long()
    keep = (is_eos.cumsum(1) - is_eos) == 0  # up to and including the first eos
    logits = model(  # generate()'s own decoder inputs: no label shifting, no loss
        input_ids=input_ids,
        attention_mask=attention_mask,
        decoder_input_ids=sequences[:, :-1],
        use_cache=False,
    ).logits
    logp = torch.log_softmax(logits.float(), -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    total = (logp * keep).sum(1)
    length = keep.sum(1).clamp(min=1).float()
    return (total / length**length_penalty).tolist()


def pad(encoded: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids and their attention mask."""
    longest = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), longest), dtype=torch.long)
    for row, ids in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


@contextmanager
def seeded(decoding: Decoding, device: torch.device) -> Iterator[None]:
    """Sampling draws from its own seeded generator state, never from the caller's: the same
    seed gives the same samples, and decoding inside training leaves its RNG untouched."""
    if not decoding.do_sample:
        yield
        return
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(decoding.seed)
        yield


@torch.no_grad()
def decode_batch(
    model: PreTrainedModel | ExternalEngine,
    tokenizers: Tokenizers,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    decoding: Decoding,
    scores: bool = False,
) -> list[list[Hypothesis]]:
    """The hypotheses of each source row, best first: the one decode path of validation,
    test, s2s-translate and s2s-evaluate. Columns past the longest source are dropped."""
    width = max(int(attention_mask.sum(1).max()), 1)
    input_ids, attention_mask = input_ids[:, :width], attention_mask[:, :width]
    if isinstance(model, ExternalEngine):
        return model.decode(input_ids, attention_mask, decoding, scores)
    out = model.generate(
        input_ids=input_ids, attention_mask=attention_mask, **decoding.generate_kwargs()
    )
    n = decoding.nbest
    values: list[float | None] = [None] * len(out)
    if scores or n > 1:
        values = sequence_scores(
            model,
            input_ids.repeat_interleave(n, 0),
            attention_mask.repeat_interleave(n, 0),
            out,
            decoding.length_penalty,
        )
    target = tokenizers.target
    out = out.masked_fill((out < 0) | (out >= len(target)), target.pad_token_id)
    texts = target.batch_decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    texts = [one_line(t) for t in texts]
    groups = [
        [Hypothesis(t, v) for t, v in zip(texts[i : i + n], values[i : i + n], strict=True)]
        for i in range(0, len(texts), n)
    ]
    if n > 1:
        for group in groups:
            group.sort(key=lambda h: -(h.score or 0.0))
    return groups


def translate(
    model: PreTrainedModel | ExternalEngine,
    tokenizers: Tokenizers,
    sentences: list[str],
    decoding: Decoding,
    *,
    prefix: str = "",
    max_source_tokens: int | None = None,
    batch_size: int | None = None,
    max_tokens: int = 8192,
    scores: bool = False,
    progress: bool = False,
) -> list[list[Hypothesis]]:
    """Translate ``sentences``; result i holds the ``decoding.nbest`` hypotheses of sentence
    i, best first (an empty sentence: one empty hypothesis)."""
    if max_tokens < 1:
        raise DecodingError(f"max_tokens={max_tokens}: give 1 or more")
    most = batch_size_for(model, batch_size)
    texts = [normalize_text(s) for s in sentences]
    todo = [i for i, t in enumerate(texts) if t]
    empty = Hypothesis("", 0.0 if scores or decoding.nbest > 1 else None)
    results: list[list[Hypothesis]] = [[empty] for _ in sentences]
    if not todo:
        return results
    encoded = tokenizers.source(
        [prefix + texts[i] for i in todo],
        truncation=max_source_tokens is not None,
        max_length=max_source_tokens,
    )["input_ids"]
    lengths = [len(ids) for ids in encoded]
    cut = sum(n >= max_source_tokens for n in lengths) if max_source_tokens else 0
    if cut:
        log.warning(
            "%d sentence(s) reach the %d-token source limit: longer ones are cut, as in training",
            cut,
            max_source_tokens,
        )
    width = max(decoding.num_beams, decoding.nbest)
    pad_id = tokenizers.source.pad_token_id
    with (
        seeded(decoding, model.device),
        Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar,
    ):
        task = bar.add_task("translating", total=len(todo))
        for batch in batches(lengths, most, max_tokens, width):
            input_ids, attention_mask = pad([encoded[j] for j in batch], pad_id)
            groups = decode_batch(
                model,
                tokenizers,
                input_ids.to(model.device),
                attention_mask.to(model.device),
                decoding,
                scores,
            )
            for j, group in zip(batch, groups, strict=True):
                results[todo[j]] = group
            bar.advance(task, len(batch))
    return results
