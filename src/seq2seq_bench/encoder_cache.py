"""A frozen encoder is paid for once: its outputs for every training pair, cached on disk.

With `freeze=encoder` the encoder's weights never change and it runs in eval mode (no
dropout), so its output for a training source is the same at every epoch. Training with
`cache_encoder=true` encodes the training sources once, before the first step, and each
later step runs only the decoder on the stored states (`encoder_outputs=`, which every
Hugging Face encoder-decoder and our Transformer accept).

Memory stays bounded: the states are stored as float16 in one file on disk, read through a
memory map (the OS pages in what a batch needs and can drop it again), with an offsets
table of one int64 per pair. Tatoeba's 165k training sources with MiniLM (384 wide) take
~1.3 GB of disk. The file's name is a hash of the encoder's weights, its class and every
input id, so another model, tokenizer, corpus, split or prefix never reads it, and a second
run of the same setting (another seed, a sweep) skips the encoding. Each process encodes
what is not cached yet and publishes it with a rename, so readers never see half a cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from seq2seq_bench.checks import ConfigError

log = logging.getLogger(__name__)

STATES, OFFSETS = "states.npy", "offsets.npy"


def frozen_encoder(model: nn.Module) -> nn.Module:
    """The model's encoder, if caching its outputs gives the same training: every weight it
    uses frozen and the module in eval mode. Otherwise a ConfigError saying why."""
    get_encoder = getattr(model, "get_encoder", None)
    if get_encoder is None:
        raise ConfigError(
            f"cache_encoder=true: {type(model).__name__} has no separate encoder to cache "
            "(objectives that wrap the model, such as electra or nsp, cannot cache one)"
        )
    encoder = get_encoder()
    trainable = [name for name, p in encoder.named_parameters() if p.requires_grad]
    if trainable:
        raise ConfigError(
            f"cache_encoder=true needs every encoder weight frozen, but {len(trainable)} "
            f"train (e.g. {trainable[0]}; a T5 or BART encoder shares its embeddings with the "
            "decoder): use freeze=encoder on a backbone whose encoder owns its weights"
        )
    if encoder.training:
        raise ConfigError("cache_encoder=true needs the encoder in eval mode (freeze=encoder)")
    return encoder


def cache_key(encoder: nn.Module, input_ids: list[list[int]]) -> str:
    digest = hashlib.sha256(type(encoder).__qualname__.encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    lengths = np.fromiter((len(ids) for ids in input_ids), dtype=np.int64, count=len(input_ids))
    digest.update(lengths.tobytes())
    digest.update(np.fromiter((t for ids in input_ids for t in ids), dtype=np.int64).tobytes())
    return digest.hexdigest()[:24]


def encode_all(
    encoder: nn.Module, input_ids: list[list[int]], pad: int, path: Path, batch_tokens: int
) -> np.ndarray:
    """Write the encoder's states for every input into ``path`` (float16, one row per
    token, inputs back to back); returns the offsets (input i is rows offsets[i]:offsets[i+1])."""
    lengths = np.array([len(ids) for ids in input_ids], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    device = next(encoder.parameters()).device
    order = np.argsort(-lengths, kind="stable")  # long first: the largest batch fails first
    states = None
    started, done, reported = time.perf_counter(), 0, 0.0
    with torch.inference_mode():
        start = 0
        while start < len(order):
            rows = max(1, batch_tokens // int(lengths[order[start]]))
            batch = order[start : start + rows]
            width = int(lengths[batch].max())
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = torch.tensor(input_ids[i])
                mask[row, : lengths[i]] = 1
            out = encoder(input_ids=ids.to(device), attention_mask=mask.to(device))
            hidden = out[0].float().cpu().numpy().astype(np.float16)
            if states is None:
                shape = (int(offsets[-1]), hidden.shape[-1])
                states = np.lib.format.open_memmap(path, "w+", np.float16, shape)
            for row, i in enumerate(batch):
                states[offsets[i] : offsets[i + 1]] = hidden[row, : lengths[i]]
            start += len(batch)
            done += len(batch)
            elapsed = time.perf_counter() - started
            if elapsed - reported >= 30 or start >= len(order):
                log.info("encoder cache: %d / %d sources (%.0f s)", done, len(order), elapsed)
                reported = elapsed
    if states is not None:
        states.flush()
    return offsets


class EncoderCache:
    """The stored encoder states of the training pairs, by pair index."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.offsets = np.load(directory / OFFSETS)
        self.states = np.load(directory / STATES, mmap_mode="r")

    @classmethod
    def load_or_build(
        cls,
        cache_dir: str | Path,
        model: nn.Module,
        input_ids: list[list[int]],
        pad: int,
        batch_tokens: int = 8192,
    ) -> EncoderCache:
        encoder = frozen_encoder(model)
        directory = Path(cache_dir) / "encoder_states" / cache_key(encoder, input_ids)
        if (directory / OFFSETS).is_file():
            log.info("encoder cache %s: %d training sources", directory, len(input_ids))
            return cls(directory)
        started = time.perf_counter()
        tmp = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            offsets = encode_all(encoder, input_ids, pad, tmp / STATES, batch_tokens)
            np.save(tmp / OFFSETS, offsets)
            try:
                os.rename(tmp, directory)
            except OSError:  # another process published the same cache first
                if not (directory / OFFSETS).is_file():
                    raise
        finally:
            if tmp.exists():
                for file in tmp.iterdir():
                    file.unlink()
                tmp.rmdir()
        log.info(
            "encoded %d training sources in %.0f s: %s",
            len(input_ids),
            time.perf_counter() - started,
            directory,
        )
        return cls(directory)

    def model_inputs(self, inputs: dict[str, Any], pair_ids: torch.Tensor) -> dict[str, Any]:
        """``inputs`` with the stored encoder states in the place of the source ids."""
        mask = inputs["attention_mask"]
        lengths = mask.sum(dim=1).tolist()
        hidden = torch.zeros((*mask.shape, self.states.shape[1]), dtype=torch.float32)
        for row, (pair, length) in enumerate(zip(pair_ids.tolist(), lengths, strict=True)):
            start, end = int(self.offsets[pair]), int(self.offsets[pair + 1])
            if end - start != length or not bool(mask[row, :length].all()):
                raise RuntimeError(
                    f"encoder cache {self.directory}: training pair {pair} has {length} source "
                    f"tokens but {end - start} cached states; the cache does not match the data"
                )
            hidden[row, :length] = torch.from_numpy(np.asarray(self.states[start:end]))
        rest = {k: v for k, v in inputs.items() if k != "input_ids"}
        states = hidden.to(device=mask.device)
        return rest | {"encoder_outputs": BaseModelOutput(last_hidden_state=states)}
