"""A tiny trained model saved exactly as a finished training run leaves it, for the
inference tests (translate, evaluate, decoding).

The run's config is the real `conf/train.yaml` composed with `model=transformer_tiny`, the
tokenizer comes from our tokenizer trainer, and the model is overfitted for a second on the
conftest pairs, so that different sources get clearly different translations (an
untrained model says the same thing to every input, and order bugs would go unseen).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from seq2seq_bench.build import build_model
from seq2seq_bench.cli import CONF_DIR
from seq2seq_bench.data.batching import collate
from seq2seq_bench.data.tokenizer import train_tokenizer
from seq2seq_bench.objectives.translation import TranslationObjective
from seq2seq_bench.rundir import RunDir, save_tokenizers
from seq2seq_bench.types import Tokenizers

from .conftest import EN_FR, compose_config

PREFIX = "en-fr: "  # a task prefix, to check that inference prepends it as training did
STEPS = 150


def write_corpus(folder: Path) -> Path:
    """The pairs as a TSV corpus, and as line-aligned files `lines.en` / `lines.fr`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pairs.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in EN_FR), encoding="utf-8")
    (folder / "lines.en").write_text("".join(f"{s}\n" for s, _ in EN_FR), encoding="utf-8")
    (folder / "lines.fr").write_text("".join(f"{t}\n" for _, t in EN_FR), encoding="utf-8")
    return folder


def overfit(model: torch.nn.Module, tokenizers: Tokenizers, objective: TranslationObjective):
    batch = collate(objective.encode(EN_FR, tokenizers), tokenizers.source.pad_token_id)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(STEPS):
        loss = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def make_run(root: Path) -> Path:
    """A run dir with config.yaml, tokenizer/, checkpoints/last.ckpt and model/."""
    corpus = write_corpus(root / "corpus")
    cfg = compose_config(root, ["model=transformer_tiny", "trainer.accelerator=cpu"])
    with open_dict(cfg):
        cfg.objective.prefix = PREFIX
        cfg.data.corpus = {
            "_target_": "seq2seq_bench.data.corpora.TsvCorpus",
            "path": str(corpus / "pairs.tsv"),
        }
        cfg.data.val_fraction, cfg.data.test_fraction = 0.0, 0.5
        cfg.data.extra_test_sets = {
            "lines": {
                "_target_": "seq2seq_bench.data.corpora.ParallelFilesCorpus",
                "source_path": str(corpus / "lines.en"),
                "target_path": str(corpus / "lines.fr"),
            }
        }
    run = RunDir(Path(cfg.paths.output_dir))
    run.save_config(cfg)

    torch.manual_seed(0)
    texts = [PREFIX + s for s, _ in EN_FR] + [t for _, t in EN_FR]
    tokenizer = train_tokenizer(texts * 3, vocab_size=300, min_frequency=1)
    tokenizers = Tokenizers(tokenizer, tokenizer)
    built = build_model(cfg, tokenizers)
    model = overfit(built.model, tokenizers, built.objective)

    run.save_tokenizers(tokenizers)
    run.checkpoints.mkdir()
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 0}, run.last)
    model.save_pretrained(run.export)
    save_tokenizers(tokenizers, run.export)
    return run.root


def backbone_run(backbone: str, freeze: str = "none") -> Path:
    return _backbone_run(backbone, freeze)  # one cache key however it is called


@functools.cache
def _backbone_run(backbone: str, freeze: str) -> Path:
    """An untrained tiny ``backbone`` (composed and built as train.py does, then frozen or
    wrapped by ``freeze``) saved as a run dir: config.yaml, tokenizer/, last.ckpt, model/.

    Weights get a seeded nudge before saving (LoRA's zero-initialised B included), so a
    loader that rebuilt the model instead of reading the checkpoint would be caught."""
    from seq2seq_bench.freezing import exportable

    from .backbone_helpers import build, compose, workdir

    cfg = compose(workdir() / f"inference-{backbone}-{freeze}", backbone, f"freeze={freeze}")
    model, tokenizers, _ = build(backbone, f"freeze={freeze}")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=generator))
    run = RunDir(Path(cfg.paths.output_dir))
    run.checkpoints.mkdir(parents=True)
    run.save_config(cfg)
    run.save_tokenizers(tokenizers)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state}, run.last)
    exportable(model).save_pretrained(run.export)
    save_tokenizers(tokenizers, run.export)
    return run.root


@functools.cache
def _cached_run(base: Path) -> Path:
    return make_run(base / "tiny_run")


def shared_run(tmp_path_factory) -> Path:
    """One tiny run per test session, shared by the inference test modules (read-only)."""
    return _cached_run(tmp_path_factory.getbasetemp())


def compose_tool(config_name: str, overrides: list[str]) -> DictConfig:
    """A command-line tool's config (translate, evaluate) composed as its CLI would."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)
