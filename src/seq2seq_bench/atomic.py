"""Files and directories that readers see whole or not at all: write beside, then rename.

A kill or a full disk during a write leaves the old file (or none) and a stray temporary,
never a truncated file where a loader looks. Kept free of Lightning, so that the inference
tools can check checkpoints without importing training code.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def readable(path: Path) -> bool:
    """Whether a checkpoint file is whole: torch.save writes a zip archive, whose member
    checksums testzip verifies without unpickling anything."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def save_dir_atomically(path: Path, write: Any) -> None:
    """Call ``write(tmp_dir)``, then put tmp_dir in the place of ``path``: an export is
    never seen half-written (a kill leaves the old export, or none, and a stray tmp dir)."""
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        write(tmp)
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
