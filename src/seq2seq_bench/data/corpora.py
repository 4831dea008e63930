"""Corpus readers: each turns some on-disk or hub format into a stream of normalised
(source, target) pairs, sharded by line so that DDP ranks and dataloader workers can
read disjoint parts of one file.

Bad lines are never silently lost: each is counted by reason in a ``ReadStats`` and
logged, or, with ``strict=True``, raised as a ``MalformedLineError`` naming file and line.
"""

from __future__ import annotations

import hashlib
import logging
import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from seq2seq_bench.data.normalize import normalize_text
from seq2seq_bench.types import DocumentPair

log = logging.getLogger(__name__)

Pair = tuple[str, str]


class MalformedLineError(ValueError):
    """A corpus line that cannot be read, raised only in strict mode."""


class DataPathError(FileNotFoundError):
    """A corpus file that does not exist, with a message that says how to point at one."""


@dataclass
class ReadStats:
    """How many pairs a pass kept and how many lines it skipped, by reason."""

    kept: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def merge(self, other: ReadStats) -> None:
        self.kept += other.kept
        self.skipped.update(other.skipped)

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def as_dict(self) -> dict[str, Any]:
        return {"kept": self.kept, "skipped": dict(self.skipped)}


class EmptyDataError(ValueError):
    """A corpus, or the split of it a step needs, holds no usable pair."""


def decode_line(raw: bytes, first: bool) -> str:
    """UTF-8, and a byte-order mark (which editors on Windows write) dropped from the first
    line of a file instead of being read as the first character of the first sentence."""
    return raw.decode("utf-8-sig" if first else "utf-8")


def _check_exists(path: Path, what: str) -> Path:
    if path.is_dir():
        raise DataPathError(f"{what} {path} is a directory: give the file inside it")
    if not path.is_file():
        hint = (
            "Set S2S_DATA_DIR to the folder holding the corpus (e.g. S2S_DATA_DIR=../shared/data, "
            "which must contain fra-eng/fra.txt for data=tatoeba), run `make data` to download it, "
            "or use data=sample for the embedded data set."
        )
        raise DataPathError(f"{what} not found: {path}. {hint}")
    return path


def _file_digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


class Corpus(ABC):
    """A source of (source, target) pairs; subclasses are Hydra `data.corpus` targets."""

    strict: bool = False

    @property
    def has_documents(self) -> bool:
        """Whether the pairs are adjacent sentences of documents (`DocumentPair`s), which
        next-sentence and sentence-order prediction need."""
        return False

    @abstractmethod
    def iter_pairs(
        self, shard: int = 0, num_shards: int = 1, stats: ReadStats | None = None
    ) -> Iterator[Pair]:
        """Yield normalised pairs of this shard (lines with index % num_shards == shard)."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Changes whenever the pairs this corpus yields could change (content + settings)."""

    @property
    def content_fingerprinted(self) -> bool:
        """Whether `fingerprint` covers the content itself (local files), so that what is
        computed from the corpus may be cached under it; a hub dataset's may change under
        the same name."""
        return True

    @abstractmethod
    def files(self) -> list[str]:
        """Where the pairs come from (file paths, or a dataset id), for reports."""

    def _skip(self, stats: ReadStats | None, reason: str, where: str) -> None:
        if self.strict:
            raise MalformedLineError(
                f"{where}: {reason}. Fix the line, or set data.strict=false to skip and count "
                "such lines."
            )
        if stats is not None:
            stats.skipped[reason] += 1
        log.debug("skipped %s (%s)", where, reason)

    def _keep(self, source: str, target: str, stats: ReadStats | None, where: str) -> Pair | None:
        source, target = normalize_text(source), normalize_text(target)
        if not source or not target:
            self._skip(stats, "empty side", where)
            return None
        if stats is not None:
            stats.kept += 1
        return source, target


class TsvCorpus(Corpus):
    """Tab-separated pairs, one per line (Tatoeba / manythings.org `fra.txt` format).

    Tatoeba's newer archives add a third attribution column, hence ``max_columns``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        source_column: int = 0,
        target_column: int = 1,
        max_columns: int | None = None,
        strict: bool = False,
    ) -> None:
        self.path = _check_exists(Path(path), "TSV corpus")
        self.source_column, self.target_column = source_column, target_column
        self.min_columns = max(source_column, target_column) + 1
        self.max_columns = max_columns
        self.strict = strict
        self._fingerprint: str | None = None

    def iter_pairs(
        self, shard: int = 0, num_shards: int = 1, stats: ReadStats | None = None
    ) -> Iterator[Pair]:
        with open(self.path, "rb") as f:
            for index, raw in enumerate(f):
                if index % num_shards != shard:
                    continue
                where = f"{self.path}:{index + 1}"
                try:
                    line = decode_line(raw, index == 0).rstrip("\r\n")
                except UnicodeDecodeError:
                    self._skip(stats, "undecodable bytes (not UTF-8)", where)
                    continue
                if not line.strip():
                    self._skip(stats, "blank line", where)
                    continue
                columns = line.split("\t")
                if len(columns) < self.min_columns:
                    self._skip(stats, f"fewer than {self.min_columns} tab-separated columns", where)
                    continue
                if self.max_columns is not None and len(columns) > self.max_columns:
                    self._skip(stats, f"more than {self.max_columns} tab-separated columns", where)
                    continue
                pair = self._keep(
                    columns[self.source_column], columns[self.target_column], stats, where
                )
                if pair is not None:
                    yield pair

    def files(self) -> list[str]:
        return [str(self.path)]

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            settings = f"{self.source_column},{self.target_column},{self.max_columns}"
            self._fingerprint = f"tsv-{_file_digest(self.path)}-{settings}"
        return self._fingerprint


class SampleCorpus(TsvCorpus):
    """The English-French sample shipped inside the package (see data/sample/README.md)."""

    def __init__(self, strict: bool = False) -> None:
        path = resources.files("seq2seq_bench.data").joinpath("sample/en_fr.tsv")
        super().__init__(Path(str(path)), max_columns=2, strict=strict)


class ParallelFilesCorpus(Corpus):
    """Two line-aligned files (Multi30k style: `test_2016_flickr.en` + `.fr`).

    Line counts are checked up front: a misaligned pair of files would pair every
    sentence with the wrong translation, which no per-line skip can repair.
    """

    def __init__(
        self,
        source_path: str | os.PathLike[str],
        target_path: str | os.PathLike[str],
        strict: bool = False,
    ) -> None:
        self.source_path = _check_exists(Path(source_path), "source file")
        self.target_path = _check_exists(Path(target_path), "target file")
        self.strict = strict
        n_src, n_tgt = (self._count_lines(p) for p in (self.source_path, self.target_path))
        if n_src != n_tgt:
            raise MalformedLineError(
                f"{self.source_path} has {n_src} lines but {self.target_path} has {n_tgt}: "
                "line-aligned files must have the same number of lines."
            )
        self._fingerprint: str | None = None

    @staticmethod
    def _count_lines(path: Path) -> int:
        with open(path, "rb") as f:
            return sum(1 for _ in f)

    def iter_pairs(
        self, shard: int = 0, num_shards: int = 1, stats: ReadStats | None = None
    ) -> Iterator[Pair]:
        with open(self.source_path, "rb") as fs, open(self.target_path, "rb") as ft:
            for index, (raw_s, raw_t) in enumerate(zip(fs, ft, strict=True)):
                if index % num_shards != shard:
                    continue
                where = f"{self.source_path}|{self.target_path.suffix}:{index + 1}"
                try:
                    source = decode_line(raw_s, index == 0)
                    target = decode_line(raw_t, index == 0)
                except UnicodeDecodeError:
                    self._skip(stats, "undecodable bytes (not UTF-8)", where)
                    continue
                pair = self._keep(source, target, stats, where)
                if pair is not None:
                    yield pair

    def files(self) -> list[str]:
        return [str(self.source_path), str(self.target_path)]

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = f"parallel-{_file_digest(self.source_path, self.target_path)}"
        return self._fingerprint


class TextFilesCorpus(Corpus):
    """Plain text, one text per line, from one or more files: monolingual data for the
    pretraining objectives. Each line is yielded as the pair (text, text), so that every
    objective and the split read it like a parallel corpus; the pretraining objectives
    read such a pair once whatever `objective.sides` says.

    ``documents=True`` reads the files as documents, one sentence per line, separated by
    blank lines (and by the end of a file), as BERT's pretraining data is laid out. Each
    two adjacent sentences of a document are then yielded as a `DocumentPair`, what
    next-sentence and sentence-order prediction read: a pair never crosses a document
    boundary, and a document of one sentence, which has no pair, is a counted skip."""

    def __init__(
        self, paths: str | list[str], strict: bool = False, documents: bool = False
    ) -> None:
        names = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        if not names:
            raise DataPathError("data.corpus.paths is empty: give one or more text files")
        self.paths = [_check_exists(Path(p), "text file") for p in names]
        self.strict, self.documents = strict, documents
        self._fingerprint: str | None = None

    @property
    def has_documents(self) -> bool:
        return self.documents

    def _lines(self) -> Iterator[tuple[int, Path, int, str | None]]:
        """(index over all files, file, line number, text); text None if not UTF-8."""
        index = -1
        for path in self.paths:
            with open(path, "rb") as f:
                for number, raw in enumerate(f, start=1):
                    index += 1
                    try:
                        yield index, path, number, decode_line(raw, number == 1)
                    except UnicodeDecodeError:
                        yield index, path, number, None

    def iter_pairs(
        self, shard: int = 0, num_shards: int = 1, stats: ReadStats | None = None
    ) -> Iterator[Pair]:
        if not self.documents:
            yield from self._texts(shard, num_shards, stats)
            return
        # a document cannot be cut between shards: each reads every line, shard 0 alone
        # counts the skipped ones, and the pairs are dealt out round-robin
        pairs = self._document_pairs(stats if shard == 0 else None)
        for index, pair in enumerate(pairs):
            if index % num_shards == shard:
                if stats is not None:
                    stats.kept += 1
                yield pair

    def _texts(self, shard: int, num_shards: int, stats: ReadStats | None) -> Iterator[Pair]:
        for index, path, number, raw in self._lines():
            if index % num_shards != shard:
                continue
            if raw is None:
                self._skip(stats, "undecodable bytes (not UTF-8)", f"{path}:{number}")
                continue
            text = normalize_text(raw)
            if not text:
                self._skip(stats, "blank line", f"{path}:{number}")
                continue
            if stats is not None:
                stats.kept += 1
            yield text, text

    def _document_pairs(self, stats: ReadStats | None) -> Iterator[DocumentPair]:
        """Adjacent sentences of each document; a blank line or a file's end ends one."""
        document: list[str] = []
        name = ""

        def pairs_of_document() -> Iterator[DocumentPair]:
            if len(document) == 1:
                self._skip(stats, "one-sentence document (no adjacent pair)", name)
            for first, second in zip(document, document[1:], strict=False):
                yield DocumentPair(first, second, name)

        previous: Path | None = None
        for _, path, number, raw in self._lines():
            if raw is None:
                self._skip(stats, "undecodable bytes (not UTF-8)", f"{path}:{number}")
                continue
            text = normalize_text(raw)
            if not text or path != previous:
                yield from pairs_of_document()
                document = []
            previous = path
            if text:
                if not document:
                    name = f"{path.name}:{number}"  # a document is named by where it starts
                document.append(text)
        yield from pairs_of_document()

    def files(self) -> list[str]:
        return [str(p) for p in self.paths]

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            mode = "-documents" if self.documents else ""
            self._fingerprint = f"text-{_file_digest(*self.paths)}{mode}"
        return self._fingerprint


class HFDatasetCorpus(Corpus):
    """Any Hugging Face dataset (hub id, or a local builder such as "json"/"csv" with
    ``data_files``), read in streaming mode. ``translation_field`` handles the hub's
    nested ``{"translation": {"en": ..., "fr": ...}}`` layout."""

    def __init__(
        self,
        path: str,
        split: str = "train",
        source_field: str = "en",
        target_field: str = "fr",
        translation_field: str | None = None,
        name: str | None = None,
        data_files: Any = None,
        strict: bool = False,
    ) -> None:
        self.path, self.split, self.name, self.data_files = path, split, name, data_files
        self.source_field, self.target_field = source_field, target_field
        self.translation_field = translation_field
        self.strict = strict

    def _load(self) -> Any:
        import datasets

        try:
            return datasets.load_dataset(
                self.path, self.name, split=self.split, data_files=self.data_files, streaming=True
            )
        except Exception as err:  # the hub raises many types; all mean "cannot read it"
            raise DataPathError(
                f"could not load the Hugging Face dataset {self.path!r} (split {self.split!r}): "
                f"{type(err).__name__}: {err}. Without internet, point data.corpus.path at a "
                "local builder and files, e.g. path=json data_files=/path/pairs.jsonl."
            ) from err

    def iter_pairs(
        self, shard: int = 0, num_shards: int = 1, stats: ReadStats | None = None
    ) -> Iterator[Pair]:
        for index, row in enumerate(self._load()):
            if index % num_shards != shard:
                continue
            where = f"{self.path}[{self.split}]#{index}"
            record = row.get(self.translation_field) if self.translation_field else row
            source = record.get(self.source_field) if isinstance(record, dict) else None
            target = record.get(self.target_field) if isinstance(record, dict) else None
            if not isinstance(source, str) or not isinstance(target, str):
                self._skip(
                    stats, f"missing field {self.source_field!r}/{self.target_field!r}", where
                )
                continue
            pair = self._keep(source, target, stats, where)
            if pair is not None:
                yield pair

    def files(self) -> list[str]:
        if not self.data_files:
            return [":".join(str(x) for x in (self.path, self.name, self.split) if x)]
        given = self.data_files
        if isinstance(given, str):
            return [given]
        if isinstance(given, dict):
            return [
                str(f)
                for value in given.values()
                for f in ([value] if isinstance(value, str) else value)
            ]
        return [str(f) for f in given]

    @property
    def content_fingerprinted(self) -> bool:
        return not self.fingerprint().endswith("-hub")

    def fingerprint(self) -> str:
        files = self.data_files if isinstance(self.data_files, list) else [self.data_files]
        local = [Path(str(p)) for p in files if p is not None and Path(str(p)).is_file()]
        content = _file_digest(*local) if local else "hub"
        key = f"{self.path}|{self.name}|{self.split}|{self.source_field}|{self.target_field}"
        return f"hf-{hashlib.sha256(key.encode()).hexdigest()[:12]}-{content}"
