"""Every backbone x every freezing strategy through Hydra; loading, saving and generating."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate

from seq2seq_bench.data.batching import collate
from seq2seq_bench.models.backbone import Backbone
from seq2seq_bench.models.bart import BartBackbone
from seq2seq_bench.models.bert_encoder import BertEncoderBackbone
from seq2seq_bench.models.pretrained import PretrainedLoadError, resolve
from seq2seq_bench.models.t5 import T5Backbone
from seq2seq_bench.train import train
from seq2seq_bench.types import Tokenizers

from .backbone_helpers import BACKBONES, STRATEGIES, build, compose, tiny_overrides
from .conftest import EN_FR, compose_config

PRETRAINABLE = BACKBONES  # every one loads with model.init=pretrained


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_backbone_trains_with_every_strategy(
    tmp_path: Path, backbone: str, strategy: str
) -> None:
    metrics = train(compose(tmp_path, backbone, f"freeze={strategy}"))
    report = metrics["trainable"]
    assert report["strategy"] == strategy
    assert report["trainable_params"] == metrics["params"]["trainable"]
    if strategy == "all":
        assert metrics["steps"] == 0 and report["trainable_params"] == 0
    else:
        assert metrics["steps"] == 2 and report["trainable_params"] > 0
    if strategy == "none":
        assert report["frozen_params"] == 0
    if strategy == "lora":
        assert all("lora_" in name for name in report["trainable"])
    assert {"loss", "token_acc", "ppl", "bleu", "chrf", "exact_match"} <= set(
        metrics["test"]["test"]
    )
    out = Path(metrics["output_dir"])
    assert json.loads((out / "metrics.json").read_text())["trainable"] == report
    assert (out / "model" / "config.json").is_file()  # LoRA exports merged, plain weights


def _logits(model: torch.nn.Module, tokenizers: Tokenizers, objective: Any) -> torch.Tensor:
    batch = collate(objective.encode(EN_FR[:3], tokenizers), tokenizers.source.pad_token_id)
    with torch.no_grad():
        return model.eval()(
            batch["input_ids"], batch["attention_mask"], labels=batch["labels"]
        ).logits


@pytest.mark.parametrize("backbone", PRETRAINABLE)
def test_save_load_round_trip_through_a_run_dir(tmp_path: Path, backbone: str) -> None:
    """What train.py exports (model/ + tokenizers) loads back as model.init=pretrained."""
    model, tokenizers, objective = build(backbone)
    export = tmp_path / "run" / "model"
    model.save_pretrained(export)
    tokenizers.target.save_pretrained(export)
    if tokenizers.source is not tokenizers.target:
        tokenizers.source.save_pretrained(export / "source_tokenizer")

    cfg = compose(
        tmp_path, backbone, "model.init=pretrained", f"model.pretrained={tmp_path / 'run'}"
    )
    loader = instantiate(cfg.model)
    loaded_tokenizers = loader.tokenizers(lambda: pytest.fail("must not train a tokenizer"))
    loaded = loader(tokenizers=loaded_tokenizers)
    assert loaded.training  # ready to fine-tune
    assert loaded_tokenizers.target.get_vocab() == tokenizers.target.get_vocab()
    assert loaded_tokenizers.source.get_vocab() == tokenizers.source.get_vocab()
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    assert all(torch.equal(state[k], loaded_state[k]) for k in state)
    torch.testing.assert_close(
        _logits(model, tokenizers, objective), _logits(loaded, loaded_tokenizers, objective)
    )


@pytest.mark.parametrize("backbone", BACKBONES)
def test_generate(backbone: str) -> None:
    extra = ["model.pretrained=null"] if backbone == "bert_encoder" else []  # real MiniLM
    model, tokenizers, objective = build(backbone, *extra)
    batch = collate(objective.encode(EN_FR[:2], tokenizers), tokenizers.source.pad_token_id)
    out = model.eval().generate(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        num_beams=2,
        max_new_tokens=6,
    )
    assert out.shape[0] == 2 and 1 < out.shape[1] <= 7
    texts = tokenizers.target.batch_decode(out, skip_special_tokens=True)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_bert_encoder_loads_the_real_minilm_into_its_encoder() -> None:
    from safetensors.torch import load_file

    from seq2seq_bench.models.bert_encoder import minilm_dir

    model, tokenizers, _ = build("bert_encoder", "model.pretrained=null")
    saved = load_file(str(minilm_dir() / "model.safetensors"))
    weight = model.encoder.embeddings.word_embeddings.weight
    key = next(k for k in saved if k.endswith("embeddings.word_embeddings.weight"))
    assert torch.equal(weight, saved[key])
    assert tokenizers.source is not tokenizers.target  # English WordPiece in, our BPE out
    assert tokenizers.source.tokenize("The Cat") == tokenizers.source.tokenize("the cat")
    assert model.config.decoder.vocab_size == len(tokenizers.target)
    assert model.encoder.pooler is None  # no parameters that never get a gradient


def test_t5_gets_the_task_prefix_and_others_do_not(tmp_path: Path) -> None:
    prefix = "translate English to French: "
    for backbone, expected in [("t5_tiny", prefix), ("mt5_tiny", prefix), ("bart_tiny", "")]:
        cfg = compose_config(tmp_path, [*tiny_overrides(backbone)])
        assert instantiate(cfg.objective).prefix == expected, backbone
    cfg = compose_config(tmp_path, [*tiny_overrides("t5_tiny"), "objective.prefix=en-fr: "])
    assert instantiate(cfg.objective).prefix == "en-fr: "


# -- model.pretrained: local dirs, hub ids, mistakes ----------------------------------------
def test_pretrained_from_a_plain_save_pretrained_dir(tmp_path: Path) -> None:
    """The hub code path, offline: from_pretrained on a dir saved with save_pretrained."""
    model, tokenizers, _ = build("t5_tiny")
    model.save_pretrained(tmp_path / "t5")
    tokenizers.target.save_pretrained(tmp_path / "t5")
    backbone = T5Backbone(init="pretrained", pretrained=str(tmp_path / "t5"))
    loaded = backbone(backbone.tokenizers(lambda: pytest.fail("must not train a tokenizer")))
    assert torch.equal(loaded.shared.weight, model.shared.weight)


def test_unreachable_hub_id_gives_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    backbone = BartBackbone(init="pretrained", pretrained="no-such-org/no-such-model")
    with pytest.raises(PretrainedLoadError, match="save_pretrained") as err:
        backbone.tokenizers(lambda: pytest.fail("must not train a tokenizer"))
    assert "model.pretrained=" in str(err.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/no/such/dir/anywhere", "no such directory"),
        (None, "needs model.pretrained"),
    ],
)
def test_missing_pretrained_path_is_a_clear_error(spec: str | None, message: str) -> None:
    with pytest.raises(PretrainedLoadError, match=message):
        resolve(spec)


def test_a_dir_without_a_model_or_of_the_wrong_family_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    with pytest.raises(PretrainedLoadError, match="did not finish"):
        resolve(tmp_path / "empty")
    model, tokenizers, _ = build("bart_tiny")
    model.save_pretrained(tmp_path / "bart")
    with pytest.raises(PretrainedLoadError, match="'bart' model, but model=t5"):
        T5Backbone(init="pretrained", pretrained=str(tmp_path / "bart")).load(tokenizers)


def test_bert_encoder_needs_a_bert_and_backbones_a_known_init(tmp_path: Path) -> None:
    model, tokenizers, _ = build("t5_tiny")
    model.save_pretrained(tmp_path / "t5")
    with pytest.raises(PretrainedLoadError, match="needs a BERT encoder"):
        BertEncoderBackbone(init="scratch", pretrained=str(tmp_path / "t5")).from_config(tokenizers)
    with pytest.raises(ValueError, match="model.init='finetuned'"):
        Backbone(init="finetuned")


def test_model_pretrained_alone_means_pretrained(tmp_path: Path) -> None:
    """model.init=auto (the default): a model.pretrained path is never silently ignored."""
    assert Backbone().init == "scratch"
    assert Backbone(pretrained="some/dir").init == "pretrained"
    assert Backbone(init="scratch", pretrained="some/dir").init == "scratch"  # said explicitly
    for backbone in ("transformer_tiny", "t5_tiny", "mt5_tiny", "bart_tiny"):
        assert instantiate(compose(tmp_path, backbone).model).init == "scratch"
        chosen = compose(tmp_path, backbone, f"model.pretrained={tmp_path}")
        assert instantiate(chosen.model).init == "pretrained"
