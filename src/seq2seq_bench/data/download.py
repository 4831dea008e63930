"""`make data`: fetch the public Tatoeba fra-eng archive and the Multi30k test sets.

Where there is no internet (a cluster node, a sandbox) the download fails with a
message that says how to point S2S_DATA_DIR at a local copy instead, not a traceback.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

TATOEBA_URL = "https://www.manythings.org/anki/fra-eng.zip"
MULTI30K_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/{name}.gz"
MULTI30K_FILES = [f"test_2016_flickr.{lang}" for lang in ("en", "fr")]
HEADERS = {"User-Agent": "seq2seq-bench (research; https://tatoeba.org)"}


class DownloadError(RuntimeError):
    pass


def fetch(url: str, timeout: float = 30.0) -> bytes:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=HEADERS), timeout=timeout
        ) as r:
            return r.read()
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise DownloadError(f"could not download {url}: {err}") from err


def download_tatoeba(dest: Path) -> Path:
    target = dest / "fra-eng" / "fra.txt"
    if target.is_file():
        return target
    archive = zipfile.ZipFile(io.BytesIO(fetch(TATOEBA_URL)))
    target.parent.mkdir(parents=True, exist_ok=True)
    for name in ("fra.txt", "_about.txt"):
        (target.parent / name).write_bytes(archive.read(name))
    return target


def download_multi30k(dest: Path) -> list[Path]:
    paths = []
    for name in MULTI30K_FILES:
        target = dest / "multi30k" / name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(gzip.decompress(fetch(MULTI30K_URL.format(name=name))))
        paths.append(target)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--dest", type=Path, required=True, help="the folder S2S_DATA_DIR points at"
    )
    args = parser.parse_args(argv)
    try:
        print(
            f"Tatoeba fra-eng (CC-BY 2.0 FR, tatoeba.org / manythings.org/anki): {download_tatoeba(args.dest)}"
        )
        for path in download_multi30k(args.dest):
            print(f"Multi30k (evaluation only): {path}")
    except (DownloadError, zipfile.BadZipFile, KeyError, gzip.BadGzipFile) as err:
        print(
            f"error: {err}\n"
            "No internet here? Download fra-eng.zip from https://www.manythings.org/anki/ on a\n"
            "machine that has it, unzip fra.txt into <folder>/fra-eng/fra.txt (Multi30k test files\n"
            "into <folder>/multi30k/), and run with S2S_DATA_DIR=<folder>. Or use data=sample,\n"
            "which ships with the package.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
