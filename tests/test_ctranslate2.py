"""engine=ctranslate2: the converted model translates as our generate() path does (float32),
through s2s-translate and s2s-evaluate, and refuses what it cannot do in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seq2seq_bench.checkpoint import load
from seq2seq_bench.ctranslate2_engine import CTranslate2Model, EngineError
from seq2seq_bench.decoding import Decoding, DecodingError, translate

from .conftest import EN_FR
from .test_translate import ENV
from .tiny_run import PREFIX, backbone_run, shared_run

pytest.importorskip("ctranslate2", reason="engine=ctranslate2 needs the [fast] extra")

SOURCES = [s for s, _ in EN_FR]
GREEDY = Decoding(num_beams=1, max_new_tokens=24)
BEAM = Decoding(num_beams=4, max_new_tokens=24, early_stopping=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_run(tmp_path_factory)


def texts(model, tokenizers, decoding: Decoding, prefix: str = "") -> list[str]:
    return [h[0].text for h in translate(model, tokenizers, SOURCES, decoding, prefix=prefix)]


@pytest.mark.parametrize("decoding", [GREEDY, BEAM], ids=["greedy", "beam4"])
def test_float32_translations_equal_our_generate_path(run_dir: Path, decoding: Decoding) -> None:
    loaded = load(run_dir)
    ours = texts(loaded.model, loaded.tokenizers, decoding, PREFIX)
    converted = CTranslate2Model(loaded.model, loaded.tokenizers, "float32")
    assert texts(converted, loaded.tokenizers, decoding, PREFIX) == ours
    assert len(set(ours)) > len(ours) // 2  # a trained model: different sources, different outputs


@pytest.mark.parametrize("backbone", ["t5_tiny", "bart_tiny", "mt5_tiny"])
def test_hugging_face_backbones_convert_and_decode_alike(backbone: str) -> None:
    """Untrained tiny models: greedy outputs are arbitrary tokens, the same in both engines."""
    loaded = load(backbone_run(backbone))
    decoding = Decoding(num_beams=1, max_new_tokens=8)
    ours = texts(loaded.model, loaded.tokenizers, decoding, loaded.prefix)
    converted = CTranslate2Model(loaded.model, loaded.tokenizers)
    assert texts(converted, loaded.tokenizers, decoding, loaded.prefix) == ours


def test_bert_encoder_is_refused_with_what_to_use() -> None:
    loaded = load(backbone_run("bert_encoder"))
    with pytest.raises(EngineError, match="cannot run a 'encoder-decoder' model.*engine=torch"):
        CTranslate2Model(loaded.model, loaded.tokenizers)


def test_scores_and_nbest_need_the_torch_engine(run_dir: Path) -> None:
    loaded = load(run_dir)
    converted = CTranslate2Model(loaded.model, loaded.tokenizers)
    with pytest.raises(DecodingError, match="need engine=torch"):
        translate(converted, loaded.tokenizers, SOURCES, Decoding(num_beams=2, nbest=2))
    with pytest.raises(EngineError, match="compute_type=int3"):
        CTranslate2Model(loaded.model, loaded.tokenizers, "int3")


def test_int8_translates_every_sentence(run_dir: Path) -> None:
    loaded = load(run_dir)
    converted = CTranslate2Model(loaded.model, loaded.tokenizers, "int8")
    out = texts(converted, loaded.tokenizers, GREEDY, PREFIX)
    assert len(out) == len(SOURCES) and all(out)


def test_the_tools_take_engine_ctranslate2(run_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "seq2seq_bench.translate", f"ckpt={run_dir}"]
    options = [f"input={source}", "decoding=beam", "decoding.early_stopping=true"]
    torch_out = subprocess.run(command + options, capture_output=True, env=ENV, timeout=180)
    ct2_out = subprocess.run(
        command + options + ["engine=ctranslate2"], capture_output=True, env=ENV, timeout=180
    )
    assert ct2_out.returncode == 0, ct2_out.stderr.decode()[-2000:]
    assert ct2_out.stdout == torch_out.stdout and ct2_out.stdout.strip()
    bad = subprocess.run(
        command + options + ["engine=ctranslate2", "scores=true"],
        capture_output=True,
        env=ENV,
        timeout=180,
    )
    assert bad.returncode == 1 and b"Traceback" not in bad.stderr
    assert bad.stderr.decode().strip().splitlines()[-1].startswith("s2s-translate: error:")

    out = tmp_path / "eval"
    evaluate = [sys.executable, "-m", "seq2seq_bench.evaluate", f"ckpt={run_dir}"]
    done = subprocess.run(
        evaluate + ["engine=ctranslate2", "compute_type=int8", f"output_dir={out}"],
        capture_output=True,
        env=ENV,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads((out / "eval.json").read_text())
    assert (report["engine"], report["compute_type"]) == ("ctranslate2", "int8")
    assert torch.isfinite(torch.tensor(report["scores"]["test"]["bleu"]))
