"""Text normalisation applied to every sentence before it is split, tokenised or scored.

Tatoeba's French uses narrow no-break spaces (U+202F) before ``! ? : ;`` and some corpora
use U+00A0; tokenizers and BLEU would treat those as different characters from a plain
space, so one canonical form is used everywhere. Every other whitespace character goes the
same way: a tab would split a predictions TSV row, and a line or paragraph separator
(U+2028, U+0085, form feed, ...) would split a line of it for any reader that honours them
(Python's `str.splitlines` does).
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE_RUN = re.compile(r"\s+")  # str patterns: all of Unicode's whitespace
_WHITESPACE_BUT_SPACE = re.compile(r"[^\S ]")


def normalize_text(text: str) -> str:
    """NFC, every run of whitespace -> one plain space, stripped."""
    return _WHITESPACE_RUN.sub(" ", unicodedata.normalize("NFC", text)).strip()


def one_line(text: str) -> str:
    """``text`` with every whitespace character but the space made a space: a model's
    output as one line of a text file or one field of a TSV row, the rest of it as the
    model wrote it (BLEU and chrF split on whitespace, so their scores do not move)."""
    return _WHITESPACE_BUT_SPACE.sub(" ", text)


def split_key(source: str) -> str:
    """The form of a source sentence that decides its split: normalised and case-folded,
    so that "Tom is here." and "tom is here." can never land in different splits."""
    return normalize_text(source).casefold()
