"""The export is self-contained: a plain transformers process (this package not imported)
that loads `<run>/model`, reads the task prefix from its config and calls `generate()` with
no arguments gets exactly what `s2s-translate` gives, for every backbone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.utils import instantiate

from seq2seq_bench.train import train
from seq2seq_bench.translate import run

from .backbone_helpers import BACKBONES, compose
from .conftest import EN_FR
from .test_translate import ENV
from .tiny_run import compose_tool

SOURCES = [s for s, _ in EN_FR[:4]]
PLAIN = """
import json, sys
from pathlib import Path
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

export, sources = Path(sys.argv[1]), json.loads(sys.argv[2])
model = AutoModelForSeq2SeqLM.from_pretrained(export, trust_remote_code=True).eval()
target = AutoTokenizer.from_pretrained(export)
own = export / "source_tokenizer"  # a backbone with its own source vocabulary
source = AutoTokenizer.from_pretrained(own) if own.is_dir() else target
prefix = model.config.task_specific_params["translation"]["prefix"]
assert not any(m.startswith("seq2seq_bench") for m in sys.modules), "not plain transformers"
out = [
    target.decode(model.generate(**source(prefix + s, return_tensors="pt"))[0], skip_special_tokens=True)
    for s in sources
]
print(json.dumps(out))
"""


@pytest.mark.parametrize("backbone", BACKBONES)
def test_plain_generate_on_the_export_reproduces_s2s_translate(
    tmp_path: Path, backbone: str
) -> None:
    cfg = compose(
        tmp_path,
        backbone,
        "test_decoding.num_beams=2",
        "test_decoding.max_new_tokens=6",
        "test_decoding.length_penalty=0.8",
    )
    metrics = train(cfg)
    export = tmp_path / "moved"  # out of its run dir: only what the export carries counts
    shutil.copytree(Path(metrics["output_dir"]) / "model", export)
    prefix = instantiate(cfg.objective).prefix
    out = tmp_path / "translated.txt"
    (tmp_path / "in.txt").write_text("".join(f"{s}\n" for s in SOURCES), encoding="utf-8")
    decoding = ["decoding.num_beams=2", "decoding.max_new_tokens=6", "decoding.length_penalty=0.8"]
    run(
        compose_tool(
            "translate",
            [
                f"ckpt={export}",
                f"input={tmp_path / 'in.txt'}",
                f"output={out}",
                "batch_size=1",
                *decoding,
            ],
        )
    )
    ours = out.read_text(encoding="utf-8").splitlines()
    command = [sys.executable, "-c", PLAIN, str(export), json.dumps(SOURCES)]
    done = subprocess.run(command, capture_output=True, cwd=tmp_path, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert json.loads(done.stdout) == ours
    if backbone.startswith(("t5", "mt5")):
        assert prefix  # the prefix really travelled: T5 reads one


def test_saving_shows_no_progress_bar_and_leaves_the_setting_as_it_was() -> None:
    """save_pretrained's 'Writing model shards 1/1' bar printed above the final table."""
    from transformers.utils import logging as hf_logging

    from seq2seq_bench.export import no_progress_bars

    initially = hf_logging.is_progress_bar_enabled()
    try:
        for before in (True, False):
            (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()
            with no_progress_bars():
                assert not hf_logging.is_progress_bar_enabled()
                bar = hf_logging.tqdm([1], desc="Writing model shards")
                assert type(bar).__name__ == "EmptyTqdm"
            assert hf_logging.is_progress_bar_enabled() == before
    finally:
        (hf_logging.enable_progress_bar if initially else hf_logging.disable_progress_bar)()
