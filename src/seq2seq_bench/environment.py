"""What a number was measured with: library versions, the project's commit, device and threads.

Every `metrics.json` and `eval.json` carries this block, because the same weights decode
differently under another transformers release (5.24 renamed the decoder cache argument) and
time per epoch means nothing without the device and thread count. `s2s-report` shows any of
these facts that differ between the runs it compares.
"""

from __future__ import annotations

import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import torch

PACKAGES = ("torch", "transformers", "lightning", "datasets", "tokenizers", "sacrebleu")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_state(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The commit the code was run from and whether tracked files differed from it; both None
    when the package is not a git checkout (installed from a wheel)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    changes = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if changes is None else bool(changes)}


def cpu_facts(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first CPU's fields of /proc/cpuinfo ("model name", "flags", ...); empty where
    there is no such file (not Linux)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name ("AMD EPYC"), where `platform.processor()` gives only the
    architecture on Linux ("x86_64"): two hosts of one architecture can differ 2x in matmul
    speed and in int8 and bf16 instructions, so a figure names the model it ran on."""
    return cpu_facts(cpuinfo).get("model name") or platform.processor() or platform.machine()


def describe_environment(
    device: torch.device | str | None = None,
    code: dict[str, Any] | None = None,
    matmul_gflops: float | None = None,
) -> dict[str, Any]:
    """The block written as `environment` into metrics.json and eval.json. `code`: the
    `git_state()` taken when the run started; a training takes it then, because the
    checkout may be committed or edited while it trains, and the record must name the code
    that ran, not the code found at the end. `matmul_gflops`: `matmul_peak_gflops()` of a
    run against the clock, left out when not measured."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = cpu_name()
    return {
        "python": platform.python_version(),
        **{package: package_version(package) for package in PACKAGES},
        **(code if code is not None else git_state()),
        "device": str(device),
        "device_name": device_name,
        "threads": torch.get_num_threads(),
    } | ({"matmul_gflops": round(matmul_gflops, 1)} if matmul_gflops is not None else {})


def matmul_peak_gflops(
    device: torch.device | str = "cpu",
    size: int = 2048,
    repeats: int = 5,
    dtype: torch.dtype = torch.float32,
) -> float:
    """The GFLOP/s of the best of ``repeats`` ``size``-cubed matrix products on ``device``
    in ``dtype``, in this process's threads. A time budget buys as many steps as the
    machine is fast, and the same command reached 1,802 steps in 30 minutes on one host and
    half that on another: a run that trains against the clock records this figure so its
    numbers can be read. The benches' MFU is over it too (`benchmarks/trainers.py`).
    2048^3 reads the same fp32 rate as 4096^3 on a CPU, in an eighth of the time."""
    device = torch.device(device)
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))

    def seconds() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started

    seconds()  # the first product pays for thread start-up and allocation
    return 2 * size**3 / min(seconds() for _ in range(repeats)) / 1e9


def seconds_since_start() -> float:
    """Seconds since this process started: the start-up a user waits through (Python and
    library imports included) before the first training step."""
    return time.time() - psutil.Process().create_time()
