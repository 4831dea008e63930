"""Who may write into a run directory: one run each, and a resume only where there is one.

Two runs started in the same second used to share `outputs/<date>/<time>/` (the config and
metrics of one, the checkpoints of both) and both exited 0. Run and sweep directories now
end in a per-process id (`s2s.run_id`), and a directory that already holds a run's
artefacts is refused unless the run resumes it (`ckpt_path=last`). The resolver is
registered on import; `seq2seq_bench.train` imports this module.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
from pathlib import Path

from omegaconf import OmegaConf

from seq2seq_bench.atomic import readable

log = logging.getLogger(__name__)

# What a run writes; Hydra's own .hydra/ and train.log appear before the run starts.
ARTEFACTS = ("config.yaml", "metrics.json", "checkpoints", "model", "csv", "tokenizer")
LAST = "last"
AUTO = "auto"  # resume if there is a last.ckpt, else start: what a requeued job needs


class RunDirError(ValueError):
    """A run directory that cannot be used as asked, with the fix in the message."""


@functools.cache
def run_id() -> str:
    """One id per process (so every interpolation of it agrees), unique across processes
    started in the same second on one machine or many."""
    return f"{os.getpid() % 100_000:05d}{secrets.token_hex(2)}"


OmegaConf.register_new_resolver("s2s.run_id", run_id, replace=True)


def newest_readable(checkpoints: Path) -> Path:
    """The newest whole checkpoint in ``checkpoints/``, saying so when it is not the newest
    file (a truncated last.ckpt from a kill mid-write before writes were atomic)."""
    files = sorted(checkpoints.glob("*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files:
        if readable(path):
            if path != files[0]:
                log.warning("%s is not a whole checkpoint: resuming from %s", files[0], path)
            return path
    raise RunDirError(f"no whole checkpoint in {checkpoints} ({', '.join(p.name for p in files)})")


def claim(out_dir: Path, ckpt_path: str | None, first_process: bool = True) -> str | None:
    """Check that this run may write into ``out_dir``; return the checkpoint to resume from
    (``ckpt_path=last`` becomes the run's own `checkpoints/last.ckpt`; ``auto`` resumes it
    when there is one and starts the run otherwise). Only the first
    process checks that the directory is free: DDP's other ranks start after it wrote."""
    held = [name for name in ARTEFACTS if (out_dir / name).exists()]
    if ckpt_path == AUTO:  # a requeued job: resume where it stopped, or start
        if (out_dir / "checkpoints" / "last.ckpt").is_file():
            return str(newest_readable(out_dir / "checkpoints"))
        ckpt_path = None
        held = [name for name in held if name == "metrics.json"]
    if ckpt_path is None:
        if held and first_process:
            raise RunDirError(
                f"{out_dir} already holds a run ({', '.join(held)}): resume it with "
                "ckpt_path=last, or give this run its own directory (hydra.run.dir=...)"
            )
        return None
    if ckpt_path == LAST:
        last = out_dir / "checkpoints" / "last.ckpt"
        if not last.is_file():
            raise RunDirError(
                f"ckpt_path=last, but {out_dir} holds no checkpoints/last.ckpt to resume: "
                "point hydra.run.dir at the run to resume, or drop ckpt_path to start afresh"
            )
        return str(newest_readable(last.parent))
    if not Path(ckpt_path).is_file():
        raise RunDirError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return ckpt_path
