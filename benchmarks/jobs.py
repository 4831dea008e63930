"""What a bench is doing while it runs, and a measurement process that failed, told plainly.

`make bench` runs for an hour or more, most of it in child processes (each measurement in
its own, so that its peak memory and start-up are its own), and printed nothing until a
table was done: a hung run and a slow one looked alike. Each step now says on stderr what
it starts and how long it took. A child that failed used to surface as a
`CalledProcessError` without the child's own error, which `capture_output` had swallowed;
now the bench stops with that error's last lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TAIL_LINES = 15  # of a failed child's output: its traceback's end and the error itself


class BenchError(RuntimeError):
    """A measurement failed; the message holds what its process printed last."""


@contextmanager
def step(label: str) -> Iterator[None]:
    """`bench: <label> ... 42 s` on stderr around one measurement."""
    print(f"bench: {label} ...", end="", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        print(" failed", file=sys.stderr, flush=True)
        raise
    print(f" {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


def run_job(label: str, command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    """Runs ``command`` from the project root as one step; its output is captured."""
    with step(label):
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, **options)
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip().splitlines()
            tail = "\n".join(output[-TAIL_LINES:])
            raise BenchError(f"{label} failed (exit status {done.returncode}):\n{tail}")
    return done


def json_job(label: str, command: list[str], **options: Any) -> dict[str, Any]:
    """A child that prints its result as JSON on its last line of stdout."""
    return json.loads(run_job(label, command, **options).stdout.strip().splitlines()[-1])
