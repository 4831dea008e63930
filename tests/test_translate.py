"""s2s-translate and checkpoint loading: the stdin round trip as users run it, files, n-best
output, every kind of checkpoint path, export to plain transformers, and clear errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from seq2seq_bench.checkpoint import CheckpointError, LoadedModel, load
from seq2seq_bench.cli import UsageError
from seq2seq_bench.decoding import Decoding, translate
from seq2seq_bench.translate import run

from .backbone_helpers import BACKBONES
from .conftest import EN_FR
from .tiny_run import PREFIX, backbone_run, compose_tool, shared_run

SOURCES = [s for s, _ in EN_FR]
ENV = os.environ | {
    "HF_HUB_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return shared_run(tmp_path_factory)


def config(overrides: list[str]) -> DictConfig:
    return compose_tool("translate", overrides)


def expected(run_dir: Path, lines: list[str], decoding: Decoding) -> list[str]:
    """Each line translated on its own: the reference for order and empty-line handling."""
    loaded = load(run_dir)
    one = [translate(loaded.model, loaded.tokenizers, [s], decoding, prefix=PREFIX) for s in lines]
    return [r[0][0].text for r in one]


def cli(args: list[str], cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "seq2seq_bench.translate", *args]
    return subprocess.run(command, input=stdin, capture_output=True, cwd=cwd, env=ENV, timeout=120)


def test_console_scripts_are_registered() -> None:
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["s2s-translate"] == "seq2seq_bench.translate:main"
    assert scripts["s2s-evaluate"] == "seq2seq_bench.evaluate:main"


def test_stdin_round_trip(run_dir: Path, tmp_path: Path) -> None:
    lines = [SOURCES[2], "", SOURCES[0], "", "", SOURCES[4]]
    stdin = "".join(f"{line}\n" for line in lines).encode()
    done = cli([f"ckpt={run_dir}", "decoding=greedy"], tmp_path, stdin)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split("\n")[:-1] == expected(run_dir, lines, Decoding())
    assert b"Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no Hydra run dir, no log file in the user's cwd


def test_files_keep_order_and_empty_lines(run_dir: Path, tmp_path: Path) -> None:
    lines = ["", SOURCES[3], SOURCES[1], "  ", SOURCES[3], SOURCES[5]]
    source = tmp_path / "in.en"
    # a BOM, Windows line ends and no final newline: all read as the same six lines
    source.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode())
    out = tmp_path / "sub" / "out.fr"
    run(config([f"ckpt={run_dir}", f"input={source}", f"output={out}", "decoding.num_beams=2"]))
    got = out.read_text(encoding="utf-8").split("\n")
    assert got[-1] == "" and got[:-1] == expected(run_dir, lines, Decoding(num_beams=2))
    assert got[0] == got[3] == "" and got[1] == got[4] and len(set(got[1:3] + got[5:6])) == 3


def test_nbest_lines_carry_index_hypothesis_and_score(run_dir: Path, tmp_path: Path) -> None:
    source, out = tmp_path / "in.en", tmp_path / "out.txt"
    source.write_text(f"{SOURCES[0]}\n\n{SOURCES[1]}\n", encoding="utf-8")
    overrides = [f"ckpt={run_dir}", f"input={source}", f"output={out}"]
    run(config([*overrides, "decoding.num_beams=3", "decoding.nbest=3"]))
    rows = [
        re.fullmatch(r"(\d+) \|\|\| (.*) \|\|\| (-?\d+\.\d{4})", r)
        for r in out.read_text().splitlines()
    ]
    assert all(rows)
    assert [int(r[1]) for r in rows] == [0, 0, 0, 1, 2, 2, 2]
    assert rows[3][2] == "" and float(rows[3][3]) == 0.0
    assert float(rows[0][3]) >= float(rows[1][3]) >= float(rows[2][3])
    run(config([*overrides, "scores=true", "decoding=greedy"]))
    assert [r.split(" ||| ")[0] for r in out.read_text().splitlines()] == ["0", "1", "2"]


def test_every_kind_of_checkpoint_path_gives_the_same_model(run_dir: Path, tmp_path: Path) -> None:
    reference = load(run_dir)
    assert reference.weights == run_dir / "model" and reference.prefix == PREFIX
    assert reference.max_source_tokens == 128
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run_dir, unfinished, ignore=shutil.ignore_patterns("model"))
    candidates = [
        load(run_dir / "model"),
        load(run_dir / "checkpoints" / "last.ckpt"),
        load(run_dir, weights="last"),
        load(unfinished),  # no model/: the newest checkpoint, with the run's tokenizer
    ]
    assert candidates[-1].weights == unfinished / "checkpoints" / "last.ckpt"
    decoding = Decoding(num_beams=2)

    def texts(loaded: LoadedModel) -> list[str]:
        results = translate(
            loaded.model, loaded.tokenizers, SOURCES, decoding, prefix=loaded.prefix
        )
        return [r[0].text for r in results]

    assert all(texts(c) == texts(reference) for c in candidates)


@pytest.mark.parametrize(
    ("backbone", "freeze"), [(b, "none") for b in BACKBONES] + [("transformer_tiny", "lora")]
)
def test_lightning_checkpoint_of_every_backbone_is_its_export(backbone: str, freeze: str) -> None:
    """A .ckpt is rebuilt as train.py built the model (LoRA wrapped, then merged)."""
    run_dir = backbone_run(backbone, freeze)
    texts = []
    for path in (run_dir, run_dir / "checkpoints" / "last.ckpt"):
        loaded = load(path)
        results = translate(
            loaded.model,
            loaded.tokenizers,
            SOURCES,
            Decoding(max_new_tokens=8),
            prefix=loaded.prefix,
        )
        texts.append([r[0].text for r in results])
        assert (loaded.tokenizers.source is loaded.tokenizers.target) == (
            backbone != "bert_encoder"
        )
    assert texts[0] == texts[1]


@pytest.mark.parametrize(
    ("files", "path", "weights", "message"),
    [
        ({}, "nope", "auto", "does not exist: expected a run dir"),
        ({}, ".", "auto", "neither config.yaml nor config.json"),
        ({"notes.txt": "x"}, "notes.txt", "auto", "is a file but not a .ckpt"),
        ({"x.ckpt": "x"}, "x.ckpt", "auto", "no config.yaml in"),
        ({"config.yaml": "seed: 0"}, ".", "auto", "has no model/ and no checkpoints/best|last"),
        ({"config.yaml": "seed: 0"}, ".", "model", "no exported model"),
        ({"config.json": "{}"}, ".", "best", "needs a run dir"),
        ({"config.json": "{}"}, ".", "auto", "cannot load a seq2seq model"),
        ({}, ".", "newest", "weights='newest'"),
    ],
)
def test_bad_checkpoints_say_what_was_expected(
    tmp_path: Path, files: dict[str, str], path: str, weights: str, message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load(tmp_path / path, weights)


def test_corrupt_lightning_checkpoint(run_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(run_dir, tmp_path / "run", ignore=shutil.ignore_patterns("model"))
    (tmp_path / "run" / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="last.ckpt truncated or not a Lightning checkpoint"):
        load(tmp_path / "run")


def test_missing_ckpt_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="missing ckpt=..."):
        run(config([]))


def test_bad_path_and_bad_encoding_end_in_one_line_not_a_traceback(
    run_dir: Path, tmp_path: Path
) -> None:
    done = cli([f"ckpt={tmp_path / 'missing'}"], tmp_path)
    assert done.returncode == 1
    assert (
        "s2s-translate: error:" in done.stderr.decode() and "does not exist" in done.stderr.decode()
    )
    assert b"Traceback" not in done.stderr and done.stdout == b""

    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Hello.\nTrès bien.\n".encode("latin-1"))
    done = cli([f"ckpt={run_dir}", f"input={latin1}"], tmp_path)
    assert done.returncode == 1 and b"Traceback" not in done.stderr
    assert f"{latin1}:2: not valid UTF-8 (byte 0xe8 at column 3)" in done.stderr.decode()


PLAIN = """
import json, sys
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
path, sources = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForSeq2SeqLM.from_pretrained(path, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(path)
assert not any(m.startswith("seq2seq_bench") for m in sys.modules), "not plain transformers"
inputs = tokenizer(sources, return_tensors="pt", padding=True)
out = model.generate(**inputs, num_beams=2, max_new_tokens=128)
print(json.dumps(tokenizer.batch_decode(out, skip_special_tokens=True)))
"""


def test_export_loads_in_plain_transformers(run_dir: Path, tmp_path: Path) -> None:
    """No import of this package in the child process: the export carries its model code."""
    sources = [PREFIX + s for s in SOURCES]
    command = [sys.executable, "-c", PLAIN, str(run_dir / "model"), json.dumps(sources)]
    done = subprocess.run(command, capture_output=True, cwd=tmp_path, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    ours = expected(run_dir, SOURCES, Decoding(num_beams=2))
    assert json.loads(done.stdout) == ours


def test_a_checkpoint_of_a_run_saved_before_the_backbone_moved_still_loads(
    run_dir: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old_run"
    shutil.copytree(run_dir, old)
    config = old / "config.yaml"
    new = "seq2seq_bench.models.transformer_backbone.TransformerBackbone"
    text = config.read_text()
    assert new in text
    config.write_text(text.replace(new, "seq2seq_bench.models.build.TransformerBackbone"))
    loaded = load(old / "checkpoints" / "last.ckpt")
    reference = load(run_dir / "checkpoints" / "last.ckpt")
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            loaded.model.state_dict().values(), reference.model.state_dict().values(), strict=True
        )
    )
