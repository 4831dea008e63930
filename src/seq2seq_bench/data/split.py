"""Deterministic, source-disjoint train/val/test assignment.

A pair's split depends only on a hash of its normalised source sentence, so every
translation of one source lands in the same split (Tatoeba often has several), the
assignment never changes between runs, machines, or workers, and no file-order shuffling
is needed before streaming.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from seq2seq_bench.data.normalize import split_key

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


def split_of(source: str, val_fraction: float, test_fraction: float, salt: str = "") -> Split:
    """The split a source sentence belongs to."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in "
            "[0, 1) and sum to less than 1"
        )
    digest = hashlib.blake2b((salt + split_key(source)).encode("utf-8"), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"
