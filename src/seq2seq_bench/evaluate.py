"""`s2s-evaluate ckpt=<run dir | exported dir | .ckpt> [data=<reader>] [split=test|val|all]`
`s2s-evaluate compare=[<baseline run or eval dir>,<other>,...] [compare_set=test]`

Scores a trained model on any test set the data readers can read: a data config's hash
split (by default the run's own data config, so the numbers are comparable with the
run's `metrics.json`), every pair of a corpus (``split=all``: Multi30k's line-aligned
files, a TSV, a Hugging Face dataset) and the config's extra test sets. Writes into
``output_dir``: `eval.json` (BLEU, chrF, exact match, each against all references and
against the first one alone, as training reports them; sacrebleu signatures; decoding
settings; sentences/s) and `predictions.tsv` (`predictions_<set>.tsv` for extra sets).

Greedy and beam search are deterministic and sampling is seeded, so evaluating the same
checkpoint twice gives the same scores. ``compare=[...]`` decodes nothing: it reads the
predictions of two or more runs (or evaluations) of the same test set and tests each
against the first with sacrebleu's paired bootstrap (difference, 95 % interval, p-value).
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from seq2seq_bench.checkpoint import LoadedModel, load
from seq2seq_bench.cli import (
    CONF_DIR,
    USER_ERRORS,
    UsageError,
    inference_model,
    quiet_transformers,
    require,
    show_progress,
    user_errors,
)
from seq2seq_bench.data.evalset import EvalSet, eval_sets
from seq2seq_bench.data.split import split_of
from seq2seq_bench.decoding import Decoding, batch_size_for, translate
from seq2seq_bench.environment import describe_environment
from seq2seq_bench.metrics import score_set
from seq2seq_bench.rundir import RunDir, predictions_name, write_predictions
from seq2seq_bench.significance import Predictions, compare
from seq2seq_bench.tables import console, print_scores
from seq2seq_bench.types import split_text

log = logging.getLogger(__name__)

SPLITS = ("test", "val", "all")


def data_config(cfg: DictConfig, loaded: LoadedModel, choice: str | None) -> tuple[DictConfig, str]:
    """The data config to read and its name: ``data=<choice>``, else the run's own."""
    if cfg.get("data") is not None:
        return cfg.data, choice or "data"
    if loaded.run_config is None or loaded.run_config.get("data") is None:
        raise UsageError(
            f"{loaded.weights} has no run config to take the data from: pass data=<reader>, "
            "e.g. data=tatoeba, or data=parallel_files data.corpus.source_path=<file.en> "
            "data.corpus.target_path=<file.fr> split=all"
        )
    name = RunDir(loaded.run_dir).data_choice() if loaded.run_dir else None
    return loaded.run_config.data, name or "run"


def _instantiate(node: Any, what: str) -> Any:
    try:
        return instantiate(node)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, USER_ERRORS):  # a missing corpus file, say: its own message
            raise cause from None
        raise UsageError(f"cannot build {what}: {err}") from err


def read_sets(
    data: DictConfig, split: str, extra: bool, max_pairs: int | None
) -> tuple[dict[str, EvalSet], dict[str, list[str]]]:
    """The sets to score, and the files each comes from. A split of the data config is
    the run's own held-out split: the same hash rule and `data.max_eval_pairs` cut, read by
    the function the data module reads them with (`evalset.eval_sets`); only the corpus
    readers are built, never the training data module."""
    if split not in SPLITS:
        raise UsageError(f"split={split}: choose one of {', '.join(SPLITS)}")
    corpus = _instantiate(data.corpus, "data.corpus")
    extra_sets = (
        {n: _instantiate(c, f"data.extra_test_sets.{n}") for n, c in data.extra_test_sets.items()}
        if extra and data.get("extra_test_sets")
        else {}
    )
    fractions = (data.get("val_fraction", 0.05), data.get("test_fraction", 0.05))
    salt = data.get("split_salt", "")
    pairs = [
        pair
        for pair in corpus.iter_pairs()
        if split == "all" or split_of(split_text(pair), *fractions, salt) == split
    ]
    limit = data.get("max_eval_pairs") if split != "all" else None
    sets = eval_sets({split: pairs}, limit, extra_sets)
    files = {split: corpus.files()} | {name: c.files() for name, c in extra_sets.items()}
    empty = [name for name, s in sets.items() if not s.pairs]
    if empty:
        raise UsageError(f"no pairs to score in {', '.join(empty)}: check the data config")
    if max_pairs is not None:
        sets = {name: EvalSet.from_pairs(name, s.pairs[:max_pairs]) for name, s in sets.items()}
    return sets, files


def output_dir(cfg: DictConfig, loaded: LoadedModel, data_name: str, files: list[str]) -> Path:
    """`<run>/eval/<data>` for the run's own data (no ``files``); `<run>/eval/<data>-<first
    file's name>` for a reader given on the command line, so that evaluating test_2017 does
    not overwrite test_2016."""
    if cfg.output_dir:
        return Path(cfg.output_dir)
    base = loaded.run_dir or (loaded.weights if loaded.weights.is_dir() else loaded.weights.parent)
    if not files:
        return RunDir(base).eval_dir(data_name)
    stem = re.sub(r"[^\w.-]+", "_", Path(files[0]).stem or files[0]).strip("_")
    return RunDir(base).eval_dir(f"{data_name}-{stem}")


def evaluate(cfg: DictConfig, data_choice: str | None = None) -> dict[str, Any]:
    require(cfg, "ckpt")
    decoding = Decoding.from_dict(OmegaConf.to_container(cfg.decoding, resolve=True))
    loaded = load(cfg.ckpt, cfg.weights)
    model = inference_model(loaded.model, loaded.tokenizers, cfg)
    data, data_name = data_config(cfg, loaded, data_choice)
    sets, files = read_sets(data, cfg.split, cfg.extra_test_sets, cfg.max_pairs)
    given = cfg.get("data") is not None  # a reader on the command line, not the run's own
    out = output_dir(cfg, loaded, data_name, files[cfg.split] if given else [])
    out.mkdir(parents=True, exist_ok=True)
    options = dict(
        prefix=loaded.prefix if cfg.prefix is None else str(cfg.prefix),
        max_source_tokens=loaded.max_source_tokens,
        batch_size=cfg.batch_size,
        max_tokens=cfg.max_tokens,
    )
    first = next(iter(sets.values()))
    translate(model, loaded.tokenizers, first.sources[:4], decoding, **options)  # warm-up
    results: dict[str, Any] = {"scores": {}, "signatures": {}, "speed": {}}
    for name, evalset in sets.items():
        log.info("%s: translating %d sentences (%s)", name, len(evalset.sources), decoding.label)
        started = time.perf_counter()
        hyps = translate(
            model,
            loaded.tokenizers,
            evalset.sources,
            decoding,
            progress=show_progress(cfg.progress, len(evalset.sources)),
            **options,
        )
        if model.device.type == "cuda":
            torch.cuda.synchronize(model.device)
        seconds = time.perf_counter() - started
        texts = [h[0].text for h in hyps]
        scores, results["signatures"][name] = score_set(texts, evalset.references)
        results["scores"][name] = scores | {"decoded": len(texts)}
        n = len(texts)
        results["speed"][name] = {
            "sentences": n,
            "seconds": seconds,
            "sentences_per_sec": n / seconds,
        }
        rows = list(zip(evalset.sources, evalset.references, texts, strict=True))
        write_predictions(out / predictions_name(name, main=cfg.split), rows)
    report = {
        "checkpoint": str(loaded.weights),
        "run_dir": str(loaded.run_dir) if loaded.run_dir else None,
        "data": data_name,
        "split": cfg.split,
        "files": files,  # per scored set: where its pairs come from
        "max_pairs": cfg.max_pairs,
        **results,
        "decoding": decoding.as_dict(),
        "generate_kwargs": decoding.generate_kwargs(),
        "prefix": options["prefix"],
        "engine": cfg.engine,
        "compute_type": cfg.compute_type if cfg.engine == "ctranslate2" else None,
        "dtype": cfg.dtype,
        "batch_size": batch_size_for(model, cfg.batch_size),
        "max_tokens": cfg.max_tokens,
        "environment": describe_environment(model.device),
        "output_dir": str(out),
    }
    (out / "eval.json").write_text(json.dumps(report, indent=2))
    print_summary(report)
    return report


def predictions_file(where: str, test_set: str) -> Path:
    """A predictions TSV, or the one of ``test_set`` in a run dir or evaluation dir."""
    path = Path(where).expanduser()
    if path.is_file():
        return path
    found = path / predictions_name(test_set)
    if not found.is_file():
        raise UsageError(f"compare: {found} does not exist (a predictions .tsv, or a dir with one)")
    return found


def compare_predictions(cfg: DictConfig) -> list[dict[str, Any]]:
    """``compare=[A,B,...]``: B, ... against A on the same sentences, by sacrebleu's paired
    bootstrap (significance.py); nothing is decoded."""
    where = list(cfg.compare)
    if len(where) < 2:
        raise UsageError("compare=[baseline,other,...]: give at least two runs or files")
    files = [predictions_file(w, cfg.compare_set) for w in where]
    try:
        baseline = Predictions.read(files[0])
        rows = []
        for path in files[1:]:
            differences = compare(baseline, Predictions.read(path))
            rows.append(
                {"baseline": str(files[0]), "system": str(path)}
                | {d.metric: d.as_dict() for d in differences}
            )
    except ValueError as err:
        raise UsageError(f"compare: {err}") from err
    table = Table(
        title=f"against {files[0]} ({cfg.compare_set}, paired bootstrap, 1,000 resamples)"
    )
    for column in ["system", "BLEU", "Δ BLEU [95% CI]", "p", "chrF", "Δ chrF [95% CI]", "p"]:
        table.add_column(column, justify="left" if column == "system" else "right")
    for row in rows:
        cells = [row["system"]]
        for metric in ("bleu", "chrf"):
            d = row[metric]
            interval = f"{d['delta']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]"
            cells += [f"{d['system']:.2f}", interval, f"{d['p_value']:.3f}"]
        table.add_row(*cells)
    console().print(table)
    if cfg.output_dir:
        out = Path(cfg.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.json").write_text(json.dumps(rows, indent=2))
    return rows


def print_summary(report: dict[str, Any]) -> None:
    scores = {
        name: values | {"sent/s": report["speed"][name]["sentences_per_sec"]}
        for name, values in report["scores"].items()
    }
    title = f"{report['checkpoint']}  [{report['decoding']['label']}]"
    print_scores(title, scores, [f"wrote {report['output_dir']}/eval.json"])


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    quiet_transformers()
    with user_errors("s2s-evaluate"):
        if cfg.get("compare"):
            compare_predictions(cfg)
        else:
            evaluate(cfg, HydraConfig.get().runtime.choices.get("data"))


if __name__ == "__main__":
    main()
