"""Text normalisation applied to every sentence before it is split, tokenised or scored.

Tatoeba's French uses narrow no-break spaces (U+202F) before ``! ? : ;`` and some corpora
use U+00A0; tokenizers and BLEU would treat those as different characters from a plain
space, so one canonical form is used everywhere.
"""

from __future__ import annotations

import re
import unicodedata

_SPACE_LIKE = re.compile(r"[\u00a0\u202f\u2007\u2009\t\r\n]+")
_MULTI_SPACE = re.compile(r" {2,}")


def normalize_text(text: str) -> str:
    """NFC, no-break and odd spaces -> one plain space, stripped."""
    text = unicodedata.normalize("NFC", text)
    text = _SPACE_LIKE.sub(" ", text)
    return _MULTI_SPACE.sub(" ", text).strip()


def split_key(source: str) -> str:
    """The form of a source sentence that decides its split: normalised and case-folded,
    so that "Tom is here." and "tom is here." can never land in different splits."""
    return normalize_text(source).casefold()
