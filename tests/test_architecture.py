"""docs/ARCHITECTURE.md's layer table is true: every module is in one layer, and a module
imports only from its own layer or the layers above it (the one stated exception aside)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "seq2seq_bench"
EXCEPTIONS = {("build", "module")}  # build.build assembles a training run (stated in the page)


def layers() -> list[set[str]]:
    """The modules of each row of the table, as dotted names under the package (`data/a.py`,
    `b.py` in one cell: b is in data/ too)."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    table = text.split("| layer | modules | what it knows |")[1].split("\n\n")[0]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        names, folder = set(), ""
        for path in re.findall(r"`([\w/*.]+)`", cells[1]):
            if "/" in path:
                folder, _, path = path.rpartition("/")
            stem = path.removesuffix(".py")
            names.add(f"{folder}.{stem}" if folder else stem)
        rows.append(names)
    return rows


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")


def layer_of(module: str, rows: list[set[str]]) -> int:
    for index, names in enumerate(rows):
        folder = module.rpartition(".")[0]
        if (
            module in names
            or f"{folder}.*" in names
            or (folder and module in {f"{folder}.{n}" for n in names})
        ):
            return index
    raise AssertionError(f"{module} is in no layer of docs/ARCHITECTURE.md")


def test_every_import_goes_up_the_layers() -> None:
    rows = layers()
    modules = [p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"]
    assert len(modules) > 40
    wrong = []
    for path in modules:
        name = module_name(path)
        level = layer_of(name, rows)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "seq2seq_bench."
            ):
                target = node.module.removeprefix("seq2seq_bench.")
                if target in ("data", "objectives"):  # packages, not modules
                    continue
                if layer_of(target, rows) > level and (name, target) not in EXCEPTIONS:
                    wrong.append(f"{name} imports {target}")
    assert not wrong, wrong
