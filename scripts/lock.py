"""The lock of tested versions: write it from an environment, or say how one differs from it.

    python scripts/lock.py write requirements.lock   # `make lock`: freeze this interpreter's env
    python scripts/lock.py diff requirements.lock    # `make test-latest`: what is newer than it

`diff` also names each direct requirement whose newest release on the package index is newer
than what pip installed: a "latest" environment is not the newest release when another
requirement holds one back (transformers 5.25 needs a `kernels` the index here lacks), and
`make test-latest` passing must not read as "the newest transformers works".

The lock is a pip constraints file (`pip install -c requirements.lock -e .[all,dev]`): exact
versions of everything `make install` resolves, so a fresh machine installs what CI tested.
torch is left out on purpose: the Makefile's TORCH_SPEC chooses the CPU or CUDA build (or
keeps the torch a user brings), and the CUDA build's nvidia-* / triton wheels differ by
machine. pyproject.toml keeps the honest ranges for people who use the package as a library.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.version import InvalidVersion, Version

# torch and what only its CUDA build pulls in: chosen per machine, never locked
UNLOCKED = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*)$")
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(locked_only: bool = True) -> dict[str, str]:
    """name -> version of every distribution this interpreter sees, the project excluded
    (and torch and its CUDA companions, unless ``locked_only`` is False)."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = {}
    for line in frozen.splitlines():
        name, sep, version = line.partition("==")
        if sep and not (locked_only and UNLOCKED.match(canonical(name))):
            versions[canonical(name)] = version.split("+")[0]
    return versions


def read_lock(path: Path) -> dict[str, str]:
    lock = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            lock[canonical(name)] = version
    return lock


def write(path: Path) -> None:
    versions = installed()
    header = [
        "# Exact versions `make install` and CI install (pip constraints). Regenerate on purpose",
        "# with `make lock`, then run `make test`; never edit by hand. torch is chosen by",
        "# TORCH_SPEC in the Makefile (CPU or CUDA build) and is not listed here.",
        f"# Resolved on {datetime.date.today()} with Python {platform.python_version()}"
        f" ({sys.platform}, {platform.machine()}).",
    ]
    lines = [f"{name}=={version}" for name, version in sorted(versions.items())]
    path.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    print(f"wrote {path}: {len(lines)} pinned distributions")


def diff(path: Path) -> int:
    """Print every distribution whose installed version is not the locked one."""
    lock, now = read_lock(path), installed()
    changed = [
        f"  {name}: {lock.get(name, '(not locked)')} -> {now.get(name, '(not installed)')}"
        for name in sorted(set(lock) | set(now))
        if lock.get(name) != now.get(name)
    ]
    print(f"{len(changed)} distributions differ from {path}:" if changed else f"as {path}")
    print("\n".join(changed))
    behind = held_back()
    if behind:
        print(
            f"{len(behind)} direct requirements were installed older than their newest release "
            "(held back by a requirement; `pip install NAME==VERSION` says which):"
        )
        print("\n".join(behind))
    return len(changed)


def direct_requirements() -> dict[str, str]:
    """name -> requirement as pyproject.toml writes it, extras included."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {}).values()
    requirements = project["dependencies"] + [r for extra in extras for r in extra]
    named = {canonical(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]): r for r in requirements}
    named.pop(canonical(project["name"]), None)  # `all` names the project's own extras
    return named


def newest_release(name: str) -> str | None:
    """The newest version the package index offers (None when it cannot be asked)."""
    asked = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", name], capture_output=True, text=True
    )
    found = re.match(r"\S+ \(([^)]+)\)", asked.stdout)
    return found.group(1) if found else None


def held_back() -> list[str]:
    """'  name: X installed, Y released (requirement)' for each direct requirement behind."""
    now, lines = installed(locked_only=False), []
    for name, requirement in sorted(direct_requirements().items()):
        newest, have = newest_release(name), now.get(name)
        try:
            if newest and have and Version(newest) > Version(have):
                lines.append(f"  {name}: {have} installed, {newest} released ({requirement})")
        except InvalidVersion:
            continue
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["write", "diff"])
    parser.add_argument("lock", type=Path)
    args = parser.parse_args()
    {"write": write, "diff": diff}[args.command](args.lock)


if __name__ == "__main__":
    main()
