"""The decoding study's report (experiments/decoding/run.py) from hand-made eval dirs:
a signature per test set, and every setting compared with greedy by paired bootstrap."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from seq2seq_bench.rundir import PREDICTIONS_HEADER

ROOT = Path(__file__).resolve().parents[1]


def load_study():
    spec = importlib.util.spec_from_file_location(
        "decoding_study", ROOT / "experiments/decoding/run.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SIGNATURES = {
    "test": {"bleu": "nrefs:var|tok:13a", "chrf": "nrefs:var|nc:6"},
    "multi30k_2016": {"bleu": "nrefs:1|tok:13a", "chrf": "nrefs:1|nc:6"},
}


def fake_setting(out: Path, name: str, right: int) -> dict:
    """`right` of every 5 sentences translated exactly, on both sets."""
    folder = out / "runs" / name
    folder.mkdir(parents=True)
    for test_set, file in (
        ("test", "predictions.tsv"),
        ("multi30k_2016", "predictions_multi30k_2016.tsv"),
    ):
        references = [f"le chat numéro {i} dort sur le tapis" for i in range(200)]
        other = "\tun chat dort" if test_set == "test" else "\t"  # Tatoeba: a second reference
        lines = [PREDICTIONS_HEADER.rstrip("\n")]
        for i, r in enumerate(references):
            hypothesis = r if i % 5 < right else "un chien court dans le parc"
            lines.append(f"s{i}\t{r}\t{hypothesis}{other}")
        (folder / file).write_text("\n".join(lines) + "\n", encoding="utf-8")
    scores = {"bleu": 10.0 * right, "chrf": 10.0 * right}
    report = {
        "checkpoint": "run/model",
        "data": "tatoeba",
        "split": "test",
        "dtype": "float32",
        "batch_size": 64,
        "max_tokens": 8192,
        "signatures": SIGNATURES,
        "decoding": {"max_new_tokens": 128, "length_penalty": 1.0},
        "scores": {s: scores for s in SIGNATURES},
        "speed": {s: {"sentences_per_sec": 100.0 / (1 + right)} for s in SIGNATURES},
        "environment": {"device": "cpu", "threads": 2},
    }
    (folder / "eval.json").write_text(json.dumps(report), encoding="utf-8")
    return report


def test_the_report_names_each_sets_signature_and_tests_each_difference(tmp_path: Path) -> None:
    study = load_study()
    reports = {
        n: fake_setting(tmp_path, n, right)
        for n, right in (("greedy", 3), ("beam4", 4), ("beam8", 4))
    }
    text = study.write_report(
        reports, tmp_path, "python experiments/decoding/run.py run"
    ).read_text()
    assert "  - test: BLEU `nrefs:var|tok:13a`, chrF `nrefs:var|nc:6`" in text
    assert "  - multi30k_2016: BLEU `nrefs:1|tok:13a`, chrF `nrefs:1|nc:6`" in text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| beam")]
    compared = {(r[0].strip("| "), r[1], r[2]): r for r in rows if len(r) == 9}
    assert set(compared) == {
        ("beam4", "greedy", "test"),
        ("beam4", "greedy", "multi30k_2016"),
        ("beam8", "greedy", "test"),
        ("beam8", "greedy", "multi30k_2016"),
        ("beam8", "beam4", "test"),
        ("beam8", "beam4", "multi30k_2016"),
    }
    better = compared[("beam4", "greedy", "test")]
    assert float(better[3]) > 0 and float(better[5]) < 0.05  # Δ BLEU, its p-value
    same = compared[("beam8", "beam4", "multi30k_2016")]
    assert float(same[3]) == 0 and float(same[5]) == 1.0  # identical translations: no evidence
