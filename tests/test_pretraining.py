"""Pretraining through the real Hydra config: every objective trains a tiny model, and a
pretraining run's export starts a translation fine-tuning with any freezing strategy."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict
from safetensors.torch import load_file

from seq2seq_bench.checkpoint import load
from seq2seq_bench.checks import ConfigError
from seq2seq_bench.data.corpora import DataPathError, SampleCorpus, TextFilesCorpus
from seq2seq_bench.train import train

from .backbone_helpers import build, compose, tiny_overrides
from .conftest import compose_config

OBJECTIVES = ["span_corruption", "bart", "mlm", "electra"]
# which backbone each objective is paired with beyond the vanilla Transformer
NATIVE = {
    "span_corruption": "t5_tiny",
    "bart": "bart_tiny",
    "mlm": "bert_encoder",
    "electra": "t5_tiny",
}


def pretrain(tmp_path: Path, backbone: str, objective: str, *extra: str) -> dict:
    cfg = compose(
        tmp_path,
        backbone,
        f"objective={objective}",
        "objective.input_length=32"
        if objective == "span_corruption"
        else "objective.max_tokens=64",
        *extra,
    )
    return train(cfg)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("family", ["transformer", "native"])
def test_every_objective_pretrains_through_hydra(
    tmp_path: Path, objective: str, family: str
) -> None:
    backbone = "transformer_tiny" if family == "transformer" else NATIVE[objective]
    metrics = pretrain(tmp_path, backbone, objective)
    assert metrics["steps"] == 2
    test = metrics["test"]["test"]
    assert {"loss", "token_acc", "ppl"} <= set(test) and "bleu" not in test  # no translation
    assert test["loss"] > 0 and torch.isfinite(torch.tensor(test["loss"]))
    out = Path(metrics["output_dir"])
    assert (out / "model" / "config.json").is_file() and not (out / "predictions.tsv").exists()
    # the checkpoint reloads through the same build as training (ELECTRA's wrapper included)
    reloaded = load(out / "checkpoints" / "last.ckpt").model.state_dict()
    export = load_file(out / "model" / "model.safetensors")
    assert all(torch.equal(reloaded[k], v) for k, v in export.items())


@pytest.fixture(scope="module")
def span_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("span")
    return Path(pretrain(tmp, "transformer_tiny", "span_corruption")["output_dir"])


@pytest.mark.parametrize("strategy", ["none", "encoder", "lora"])
def test_a_pretraining_run_starts_translation_fine_tuning(
    tmp_path: Path, span_run: Path, strategy: str
) -> None:
    pretrained = load_file(span_run / "model" / "model.safetensors")
    cfg = compose(
        tmp_path,
        "transformer_tiny",
        "model.init=pretrained",
        f"model.pretrained={span_run}",
        f"freeze={strategy}",
    )
    model = instantiate(cfg.model)
    tokenizers = model.tokenizers(lambda: pytest.fail("the pretrained run brings its tokenizer"))
    loaded = model(tokenizers=tokenizers).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in pretrained.items())  # weights carried over
    metrics = train(cfg)
    assert metrics["steps"] == 2 and "bleu" in metrics["test"]["test"]
    assert metrics["trainable"]["strategy"] == strategy


def test_electra_exports_its_discriminator_as_the_seq2seq_encoder(tmp_path: Path) -> None:
    metrics = pretrain(tmp_path, "transformer_tiny", "electra", "objective.generator_width=0.5")
    export = load_file(Path(metrics["output_dir"]) / "model" / "model.safetensors")
    assert not any("generator" in k for k in export)  # only the backbone leaves the run
    checkpoint = torch.load(
        Path(metrics["output_dir"]) / "checkpoints" / "last.ckpt",
        map_location="cpu",
        weights_only=False,
    )["state_dict"]
    assert any(".generator." in k for k in checkpoint)  # trained alongside
    trained = {
        k.removeprefix("model.seq2seq."): v
        for k, v in checkpoint.items()
        if k.startswith("model.seq2seq.encoder.layers.")
    }
    assert trained and all(torch.equal(export[k], v) for k, v in trained.items())
    # the generator is narrower and reads through the discriminator's embedding
    width = checkpoint["model.generator.down.weight"].shape
    assert width[0] == width[1] // 2


def test_pretraining_reads_plain_text_files(tmp_path: Path) -> None:
    lines = [f"Sentence number {i} is here." for i in range(300)]
    (tmp_path / "a.txt").write_text("\n".join(lines[:200]) + "\n\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("\n".join(lines[200:]) + "\n", encoding="utf-8")
    corpus = TextFilesCorpus([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])
    assert [s for s, _ in corpus.iter_pairs()] == lines
    cfg = compose_config(
        tmp_path,
        [
            "model=transformer_tiny",
            "objective=mlm",
            "data=text_files",
            f"data.corpus.paths=[{tmp_path / 'a.txt'},{tmp_path / 'b.txt'}]",
            "data.vocab_size=300",
            "trainer.max_steps=2",
            "trainer.accelerator=cpu",
            "progress_bar=none",
            "logger=none",
        ],
    )
    metrics = train(cfg)
    assert metrics["data"]["read"]["skipped"] == {"blank line": 1}  # counted, not lost
    assert metrics["steps"] == 2
    with pytest.raises(DataPathError, match="text file not found"):
        TextFilesCorpus(str(tmp_path / "missing.txt"))


# -- BERT's sentence-pair half: next-sentence and sentence-order prediction ---------------
def documents_file(folder: Path) -> Path:
    """Documents of 2-6 sentences of the sample's English, a blank line between two."""
    sentences = [s for s, _ in SampleCorpus().iter_pairs()][::7][:1200]
    folder.mkdir(parents=True, exist_ok=True)
    path, documents, start = folder / "documents.txt", [], 0
    for size in itertools.cycle([2, 5, 3, 6, 4]):
        if start + size > len(sentences):
            break
        documents.append("\n".join(sentences[start : start + size]))
        start += size
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    return path


def pretrain_on_documents(tmp_path: Path, backbone: str, objective: str, *extra: str) -> dict:
    overrides = [
        o
        for o in tiny_overrides(backbone)
        if not o.startswith(("data=", "data.corpus.", "data.extra_test_sets"))
    ]
    data = [
        "data=text_files",
        "data.corpus.documents=true",
        f"data.corpus.paths=[{documents_file(tmp_path)}]",
    ]
    cfg = compose_config(tmp_path, [*overrides, *data, f"objective={objective}", *extra])
    with open_dict(cfg):
        cfg.paths.cache_dir = str(tmp_path / "cache")
    return train(cfg)


@pytest.mark.parametrize(
    ("backbone", "objective"),
    [
        ("transformer_tiny", "nsp"),
        ("transformer_tiny", "sop"),
        ("transformer_tiny", "bert"),
        ("t5_tiny", "bert"),
        ("bart_tiny", "sop"),
        ("bert_encoder", "bert"),
    ],
)
def test_sentence_pair_objectives_pretrain_any_backbone_and_export_it_without_the_head(
    tmp_path: Path, backbone: str, objective: str
) -> None:
    metrics = pretrain_on_documents(tmp_path, backbone, objective, "trainer.log_every_n_steps=1")
    task = "sop" if objective == "sop" else "nsp"
    test = metrics["test"]["test"]
    assert metrics["steps"] == 2 and 0 <= test[f"{task}_acc"] <= 100 and "bleu" not in test
    out = Path(metrics["output_dir"])
    curves = (out / "csv" / "metrics.csv").read_text(encoding="utf-8").splitlines()[0]
    assert f"val/{task}_acc" in curves.split(",")
    if objective == "bert":  # MLM and the sentence loss, each logged
        assert {"train/mlm_loss", f"train/{task}_loss"} <= set(curves.split(","))
    export = load_file(out / "model" / "model.safetensors")
    assert not any(k.startswith(("pooler", "classifier", "segment_b")) for k in export)
    checkpoint = load(out / "checkpoints" / "last.ckpt").model.state_dict()
    assert all(torch.equal(checkpoint[k], v) for k, v in export.items())


def test_a_sentence_pair_pretraining_starts_translation_fine_tuning(tmp_path: Path) -> None:
    pretrained = Path(
        pretrain_on_documents(tmp_path / "bert", "transformer_tiny", "bert")["output_dir"]
    )
    cfg = compose(
        tmp_path, "transformer_tiny", "model.init=pretrained", f"model.pretrained={pretrained}"
    )
    metrics = train(cfg)
    assert metrics["steps"] == 2 and "bleu" in metrics["test"]["test"]
    encoder = {
        k: v
        for k, v in load_file(pretrained / "model" / "model.safetensors").items()
        if k.startswith("encoder.")
    }
    started = instantiate(cfg.model)
    tokenizers = started.tokenizers(lambda: pytest.fail("the pretrained run brings its tokenizer"))
    loaded = started(tokenizers=tokenizers).state_dict()
    assert encoder and all(torch.equal(loaded[k], v) for k, v in encoder.items())


@pytest.mark.parametrize("objective", ["nsp", "sop", "bert"])
def test_sentence_pair_objectives_refuse_a_corpus_without_documents(
    tmp_path: Path, objective: str
) -> None:
    cfg = compose(tmp_path, "transformer_tiny", f"objective={objective}")  # Tatoeba-style TSV
    with pytest.raises(ConfigError, match="needs documents.*data.corpus.documents=true"):
        train(cfg)


@pytest.mark.parametrize(
    ("objective", "strategy"), [("electra", "decoder"), ("sop", "lora"), ("bert", "encoder")]
)
def test_a_freezing_strategy_freezes_the_backbone_and_the_objective_parts_train(
    objective: str, strategy: str
) -> None:
    model, _, _ = build("transformer_tiny", f"objective={objective}", f"freeze={strategy}")
    added = [(n, p) for n, p in model.named_parameters() if not n.startswith("seq2seq.")]
    assert added and all(p.requires_grad for _, p in added)  # generator / head / segments
    backbone = dict(model.seq2seq.named_parameters())
    frozen = [n for n, p in backbone.items() if not p.requires_grad]
    assert frozen and len(frozen) < len(backbone)


def topic_documents(path: Path) -> Path:
    """1,500 documents, each about one of 60 topics (a word every sentence of it repeats),
    their sentences in random order: whether B follows A is plain from the topic, while the
    order of two sentences carries no signal at all."""
    rng = random.Random(0)
    filler = "the a one big small red blue old new good".split()
    documents = []
    for _ in range(1500):
        topic = f"topic{rng.randrange(60)}"
        sentences = [
            f"{rng.choice(filler)} {topic} {rng.choice(filler)} {rng.choice(filler)} ."
            for _ in range(rng.randint(2, 5))
        ]
        documents.append("\n".join(sentences))
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("task", "low", "high"), [("nsp", 90, 100), ("sop", 35, 65)])
def test_nsp_learns_what_topic_gives_away_and_sop_does_not(
    tmp_path: Path, task: str, low: float, high: float
) -> None:
    """ALBERT's argument, measured: NSP is solved from the topic alone (94 % after 750
    steps of a 40 k-parameter model); SOP on the same documents stays at chance (50 %)."""
    cfg = compose_config(
        tmp_path,
        [
            "model=transformer_tiny",
            f"objective={task}",
            "data=text_files",
            "data.corpus.documents=true",
            f"data.corpus.paths=[{topic_documents(tmp_path / 'topics.txt')}]",
            "data.vocab_size=400",
            "data.max_tokens=2048",
            "optimizer.lr=1e-3",
            "trainer.max_steps=750",
            "trainer.max_epochs=100",
            "trainer.val_check_interval=750",
            "trainer.check_val_every_n_epoch=null",
            "trainer.accelerator=cpu",
            "progress_bar=none",
            "logger=none",
            "run_test=false",
        ],
    )
    metrics = train(cfg)
    accuracy = metrics["val"][f"val/{task}_acc"]
    print(f"{task}: val accuracy {accuracy:.1f} %")
    assert low <= accuracy <= high
