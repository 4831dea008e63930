"""Shared by the backbone and freezing tests: a small corpus, a tiny BERT checkpoint and
tiny models of every backbone, composed through the real Hydra config and built once per
test session (temp dirs are removed at exit).

`bert_encoder` is tested on a 1-layer, 32-wide random BERT saved to a temp dir like a hub
checkpoint (with MiniLM's real tokenizer), so that the backbone x strategy matrix stays
fast; the tests of generation and the experiment load the real MiniLM weights.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from transformers import AutoTokenizer, BertConfig, BertModel

from seq2seq_bench.build import build_model
from seq2seq_bench.data import datamodule as datamodule_module
from seq2seq_bench.models.backbone import Backbone
from seq2seq_bench.models.bert_encoder import minilm_dir

from .conftest import TINY, compose_config

BACKBONES = ["transformer_tiny", "t5_tiny", "mt5_tiny", "bart_tiny", "bert_encoder"]
STRATEGIES = ["none", "encoder", "decoder", "embeddings", "all", "lora"]
SAMPLE = Path(datamodule_module.__file__).parent / "sample" / "en_fr.tsv"


@functools.cache
def workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="s2s-backbones-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.cache
def corpus() -> Path:
    """300 varied pairs of the embedded sample, as a Tatoeba-style TSV."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[::20][:300]
    path = workdir() / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@functools.cache
def tiny_bert_dir() -> Path:
    """A random 1-layer BERT with MiniLM's tokenizer, saved with save_pretrained."""
    path = workdir() / "tiny-bert"
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


def model_overrides(backbone: str) -> list[str]:
    if backbone != "bert_encoder":
        return [f"model={backbone}"]
    return [
        "model=bert_encoder",
        f"model.pretrained={tiny_bert_dir()}",
        "model.num_layers=1",
        "model.num_heads=2",
        "model.d_ff=64",
    ]


def tiny_overrides(backbone: str, *extra: str) -> list[str]:
    """A two-step training on the small corpus with one eval batch each for val and test."""
    return [
        *(o for o in TINY if not o.startswith("model=")),
        *model_overrides(backbone),
        "data=tatoeba",
        f"data.corpus.path={corpus()}",
        "data.extra_test_sets=null",
        "data.val_fraction=0.1",
        "data.test_fraction=0.1",
        "data.max_eval_pairs=8",
        "data.max_tokens=256",
        "trainer.max_steps=2",
        "+trainer.limit_val_batches=1",
        "+trainer.limit_test_batches=1",
        "decoding@test_decoding=greedy",
        "test_decoding.max_new_tokens=8",
        "val_decoding.max_new_tokens=8",
        *extra,
    ]


def compose(tmp_path: Path, backbone: str, *extra: str) -> DictConfig:
    """The composed config, sharing one tokenizer cache across the whole session."""
    cfg = compose_config(tmp_path, tiny_overrides(backbone, *extra))
    with open_dict(cfg):
        cfg.paths.cache_dir = str(workdir() / "cache")
    return cfg


def build(backbone: str, *extra: str) -> tuple[Any, Any, Any]:
    """(model, tokenizers, objective) as train.py builds them (`build.build_model`, with the
    freezing strategy of ``extra``, none by default), without training."""
    cfg = compose(workdir() / f"build-{backbone}", backbone, *extra)
    objective = instantiate(cfg.objective)
    builder = instantiate(cfg.model)
    data = instantiate(cfg.data, objective=objective, choose_tokenizers=builder.tokenizers)
    built = build_model(cfg, data.tokenizers, builder, objective)
    return built.model, data.tokenizers, objective


def backbone_of(backbone: str) -> Backbone:
    """The `Backbone` a `model=` choice instantiates (LoRA's default targets live on it)."""
    return instantiate(compose(workdir() / f"build-{backbone}", backbone).model)
