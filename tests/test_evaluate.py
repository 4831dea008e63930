"""s2s-evaluate: the run's own test split and extra sets, any reader, eval.json and
predictions that agree with each other, the same numbers twice, and clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from seq2seq_bench.cli import UsageError
from seq2seq_bench.data.corpora import DataPathError
from seq2seq_bench.data.split import split_of
from seq2seq_bench.evaluate import compare_predictions, evaluate
from seq2seq_bench.metrics import score_texts
from seq2seq_bench.train import train

from .conftest import EN_FR, TINY, assert_environment, compose_config
from .test_translate import ENV
from .tiny_run import compose_tool, shared_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return shared_run(tmp_path_factory)


def config(overrides: list[str]) -> DictConfig:
    return compose_tool("evaluate", overrides)


def read_predictions(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    refs = [[r[1], *(r[3].split(" ||| ") if r[3] else [])] for r in rows]
    return [r[2] for r in rows], refs


def test_run_test_split_and_extra_sets(run_dir: Path, tmp_path: Path) -> None:
    report = evaluate(config([f"ckpt={run_dir}", "decoding=greedy", f"output_dir={tmp_path}"]))
    assert json.loads((tmp_path / "eval.json").read_text()) == report
    test_sources = [s for s, _ in EN_FR if split_of(s, 0.0, 0.5) == "test"]
    assert 0 < len(test_sources) < len(EN_FR)  # the run's hash split, not the whole corpus
    assert report["scores"]["test"]["decoded"] == len(test_sources)
    assert report["scores"]["lines"]["decoded"] == len(EN_FR)
    # the tiny model learnt its pairs: a hypothesis scored against another's reference
    # would show here as less than 100
    assert report["scores"]["lines"]["exact_match"] == 100.0
    for name, file in (("test", "predictions.tsv"), ("lines", "predictions_lines.tsv")):
        hyps, refs = read_predictions(tmp_path / file)
        again = score_texts(hyps, refs)
        assert (again.bleu, again.chrf) == (
            report["scores"][name]["bleu"],
            report["scores"][name]["chrf"],
        )
        assert report["speed"][name]["sentences"] == len(hyps)
        assert report["speed"][name]["sentences_per_sec"] > 0
    assert set(report["signatures"]) == {"test", "lines"}  # per scored set, never overwritten
    assert "tok:13a" in report["signatures"]["test"]["bleu"]
    assert "nrefs:1" in report["signatures"]["lines"]["bleu_first_ref"]
    assert report["decoding"]["label"] == "greedy" and report["generate_kwargs"]["num_beams"] == 1
    assert report["data"] == "run" and report["checkpoint"] == str(run_dir / "model")
    assert_environment(report["environment"])


@pytest.mark.parametrize("decoding", [["decoding=beam"], ["decoding=sampling", "decoding.seed=3"]])
def test_the_same_checkpoint_twice_gives_the_same_numbers(
    run_dir: Path, tmp_path: Path, decoding: list[str]
) -> None:
    reports = [
        evaluate(config([f"ckpt={run_dir}", *decoding, f"output_dir={tmp_path / str(i)}"]))
        for i in range(2)
    ]
    assert reports[0]["scores"] == reports[1]["scores"]
    for name in ("predictions.tsv", "predictions_lines.tsv"):
        assert (tmp_path / "0" / name).read_bytes() == (tmp_path / "1" / name).read_bytes()


def test_lightning_checkpoint_scores_like_the_export(run_dir: Path, tmp_path: Path) -> None:
    common = ["decoding=greedy", "extra_test_sets=false"]
    export = evaluate(config([f"ckpt={run_dir}", *common, f"output_dir={tmp_path / 'a'}"]))
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    lightning = evaluate(config([f"ckpt={ckpt}", *common, f"output_dir={tmp_path / 'b'}"]))
    assert list(lightning["scores"]) == ["test"] and lightning["scores"] == export["scores"]


def readers(corpus: Path, jsonl: Path) -> dict[str, list[str]]:
    return {
        "tatoeba": [f"data.corpus.path={corpus / 'pairs.tsv'}", "extra_test_sets=false"],
        "parallel_files": [
            f"data.corpus.source_path={corpus / 'lines.en'}",
            f"data.corpus.target_path={corpus / 'lines.fr'}",
        ],
        "hf_dataset": ["data.corpus.path=json", f"data.corpus.data_files={jsonl}"],
    }


@pytest.mark.parametrize("reader", ["tatoeba", "parallel_files", "hf_dataset"])
def test_any_reader_scores_every_pair_with_split_all(
    run_dir: Path, tmp_path: Path, reader: str
) -> None:
    """An exported model without its run: the data config must come from data=..."""
    shutil.copytree(run_dir / "model", tmp_path / "export")
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps({"en": s, "fr": t}) + "\n" for s, t in EN_FR))
    overrides = [f"ckpt={tmp_path / 'export'}", f"data={reader}", "split=all", "decoding=greedy"]
    corpus = run_dir.parent / "corpus"
    report = evaluate(config([*overrides, *readers(corpus, jsonl)[reader]]), reader)
    assert list(report["scores"]) == ["all"]
    assert report["scores"]["all"]["decoded"] == len(EN_FR)
    assert report["scores"]["all"]["exact_match"] == 100.0
    assert report["prefix"] == ""  # no run config beside the export: no task prefix known
    [written] = (tmp_path / "export" / "eval").glob(f"{reader}-*/eval.json")
    assert report["files"]["all"] and report["output_dir"] == str(written.parent)


def test_two_test_files_of_one_reader_get_two_output_dirs(run_dir: Path, tmp_path: Path) -> None:
    """Evaluating test_2017 after test_2016 with data=parallel_files must not overwrite it."""
    reports = []
    for name in ("test_2016", "test_2017"):
        (tmp_path / f"{name}.en").write_text("".join(s + "\n" for s, _ in EN_FR))
        (tmp_path / f"{name}.fr").write_text("".join(t + "\n" for _, t in EN_FR))
        overrides = [
            f"ckpt={run_dir}",
            "data=parallel_files",
            f"data.corpus.source_path={tmp_path / name}.en",
            f"data.corpus.target_path={tmp_path / name}.fr",
            "split=all",
            "extra_test_sets=false",
            "decoding=greedy",
        ]
        reports.append(evaluate(config(overrides), "parallel_files"))
    dirs = [Path(r["output_dir"]) for r in reports]
    assert dirs[0] != dirs[1] and all((d / "eval.json").is_file() for d in dirs)
    assert dirs[0].name == "parallel_files-test_2016"
    assert reports[1]["files"]["all"] == [f"{tmp_path}/test_2017.en", f"{tmp_path}/test_2017.fr"]


def test_max_pairs_limits_every_set(run_dir: Path, tmp_path: Path) -> None:
    report = evaluate(
        config([f"ckpt={run_dir}", "max_pairs=2", "decoding=greedy", f"output_dir={tmp_path}"])
    )
    assert {name: s["decoded"] for name, s in report["scores"].items()} == {"test": 2, "lines": 2}


def test_user_errors(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="split=train: choose one of test, val, all"):
        evaluate(config([f"ckpt={run_dir}", "split=train", f"output_dir={tmp_path}"]))
    shutil.copytree(run_dir / "model", tmp_path / "export")
    with pytest.raises(UsageError, match="pass data=<reader>"):
        evaluate(config([f"ckpt={tmp_path / 'export'}"]))
    missing = ["data=tatoeba", f"data.corpus.path={tmp_path / 'fra.txt'}", "extra_test_sets=false"]
    with pytest.raises(DataPathError, match="TSV corpus not found"):
        evaluate(config([f"ckpt={run_dir}", *missing]), "tatoeba")


def test_cli_error_is_one_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "seq2seq_bench.evaluate", f"ckpt={tmp_path / 'missing'}"]
    done = subprocess.run(command, capture_output=True, cwd=tmp_path, env=ENV, timeout=120)
    assert done.returncode == 1
    assert "s2s-evaluate: error:" in done.stderr.decode() and b"Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_training_test_and_s2s_evaluate_give_the_same_scores(tmp_path: Path) -> None:
    """One decode path and one score function: the run's own test and s2s-evaluate on its
    export, with the same decoding settings, write the same predictions and scores."""
    cfg = compose_config(tmp_path, [*TINY, "test_decoding.num_beams=3"])
    metrics = train(cfg)
    run = Path(metrics["output_dir"])
    report = evaluate(
        config(
            [
                f"ckpt={run}",
                "decoding=beam",
                "decoding.num_beams=3",
                "decoding.max_new_tokens=16",
                f"output_dir={tmp_path / 'eval'}",
            ]
        )
    )
    assert report["decoding"] == metrics["test_decoding"]
    scores = {k: v for k, v in metrics["test"]["test"].items() if k in report["scores"]["test"]}
    assert scores == report["scores"]["test"]
    assert report["signatures"]["test"] == metrics["signatures"]["test"]
    ours = (run / "predictions.tsv").read_bytes()
    assert ours == (tmp_path / "eval" / "predictions.tsv").read_bytes()


def test_the_inference_tools_import_no_training_code() -> None:
    """s2s-translate and s2s-evaluate start without Lightning (a fast start, and no
    training code to drift from)."""
    code = (
        "import sys, seq2seq_bench.translate, seq2seq_bench.evaluate;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')"
        " or m in ('seq2seq_bench.module', 'seq2seq_bench.train', 'seq2seq_bench.data.datamodule')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_compare_tests_runs_against_the_first_by_paired_bootstrap(
    run_dir: Path, tmp_path: Path
) -> None:
    greedy, beam = tmp_path / "greedy", tmp_path / "beam"
    evaluate(config([f"ckpt={run_dir}", "decoding=greedy", f"output_dir={greedy}"]))
    evaluate(config([f"ckpt={run_dir}", "decoding=beam", f"output_dir={beam}"]))
    out = tmp_path / "comparison"
    rows = compare_predictions(
        config([f"compare=[{greedy},{beam},{greedy}]", "compare_set=lines", f"output_dir={out}"])
    )
    assert json.loads((out / "comparison.json").read_text()) == rows
    assert [Path(r["system"]).parent.name for r in rows] == ["beam", "greedy"]
    itself = rows[1]["bleu"]
    assert itself["delta"] == 0 and itself["p_value"] == 1.0  # identical translations
    assert itself["sentences"] == len(EN_FR)
    with pytest.raises(UsageError, match="different test sets"):
        compare_predictions(
            config([f"compare=[{greedy / 'predictions.tsv'},{beam / 'predictions_lines.tsv'}]"])
        )
