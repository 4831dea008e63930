"""`s2s-report` on hand-made sweep dirs: which overrides vary, seeds averaged, partial runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from seq2seq_bench.report import format_cell, group_runs, main, write_report
from seq2seq_bench.runs import find_runs, parse_overrides, validation_curves


def fake_run(
    sweep: Path,
    overrides: list[str],
    bleu: float | None,
    epochs: int = 2,
    environment: dict | None = None,
) -> Path:
    """A job dir as Hydra and train() leave it; bleu=None: still running (no metrics.json)."""
    run = sweep / ",".join(overrides)
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    rows = []
    for epoch in range(epochs):
        rows += [
            {"epoch": epoch, "step": 10 * epoch + 4, "train/loss": 5.0 - epoch},
            {"epoch": epoch, "step": 10 * epoch + 4, "train/nll_loss": 3.0 - epoch},
            {"epoch": epoch, "step": 10 * epoch + 9, "train/loss": 4.0 - epoch},
            {"epoch": epoch, "step": 10 * epoch + 9, "train/nll_loss": 2.0 - epoch},
            {
                "epoch": epoch,
                "step": 10 * epoch + 9,
                "val/loss": 4.5 - epoch,
                "val/bleu": 1.0 + epoch,
                "val/epochs": epoch + 0.45,  # pairs trained (the epoch index is whole)
            },
        ]
    (run / "csv").mkdir()
    pd.DataFrame(rows).to_csv(run / "csv" / "metrics.csv", index=False)
    if bleu is not None:
        metrics = {
            "test": {"test": {"bleu": bleu, "chrf": 2 * bleu, "loss": 3.0}},
            "val": {"val/bleu": 7.0, "val/loss": 3.5},
            "params": {"trainable": 1000, "total": 2000},
            "epochs": epochs,
            "time_per_epoch_sec": 4.0,
            "wall_time_sec": 10.0,
            "environment": environment or {"transformers": "5.24.0", "threads": 2},
        }
        (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def table_rows(report: Path) -> list[list[str]]:
    lines = [line for line in report.read_text().splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_parse_overrides() -> None:
    parsed = parse_overrides(["model=t5_small", "+extra=a=b", "~gone", "optimizer.lr=1e-3"])
    assert parsed == {"model": "t5_small", "extra": "a=b", "gone": "~", "optimizer.lr": "1e-3"}


def test_curves_are_by_step_with_the_mean_train_loss_since_the_last_validation(
    tmp_path: Path,
) -> None:
    run = fake_run(tmp_path, ["seed=1"], bleu=None, epochs=3)
    csv = run / "csv" / "metrics.csv"
    log = pd.read_csv(csv)  # the validation before testing repeats the last one: one point
    pd.concat([log, log.tail(1)]).to_csv(csv, index=False)
    curves = validation_curves(csv)
    assert curves.index.name == "step" and list(curves.index) == [9, 19, 29]
    assert list(curves["train/loss"]) == [4.5, 3.5, 2.5]
    assert list(curves["train/nll_loss"]) == [2.5, 1.5, 0.5]
    assert list(curves["val/bleu"]) == [1.0, 2.0, 3.0]
    assert list(curves["epoch"]) == [0, 1, 2]
    assert validation_curves(tmp_path / "missing.csv").empty


def test_repeated_validations_keep_the_last_scores_and_the_first_clock(tmp_path: Path) -> None:
    """After a budget run stops, the final and the averaged weights are validated at the last
    step, the tested ones last; the training clock stopped at the first of them (runs logged
    before the clock fix wound it back by those validations)."""
    rows = [
        {"step": 9, "val/loss": 3.0, "val/bleu": 10.0, "val/train_time_sec": 100.0},
        {"step": 12, "val/loss": 2.5, "val/bleu": 12.0, "val/train_time_sec": 130.0},
        {"step": 12, "val/loss": 2.6, "val/bleu": 11.5, "val/train_time_sec": 123.0},
        {"step": 12, "val/loss": 2.5, "val/bleu": 12.0, "val/train_time_sec": 116.0},
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "metrics.csv", index=False)
    curves = validation_curves(tmp_path / "metrics.csv")
    assert list(curves["val/train_time_sec"]) == [100.0, 130.0]
    assert list(curves["val/bleu"]) == [10.0, 12.0]


def test_seeds_are_averaged_and_only_varying_overrides_are_columns(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    for lr, bleus in (("1e-3", (10.0, 20.0)), ("3e-3", (30.0, 30.0))):
        for seed, bleu in zip((1, 2), bleus, strict=True):
            fake_run(sweep, ["model=tiny", f"optimizer.lr={lr}", f"seed={seed}"], bleu)
    report = write_report(sweep, sweep)
    header, _, *rows = table_rows(report)
    assert header[:3] == ["optimizer.lr", "runs", "test BLEU"]  # model is the same everywhere
    assert "trainable params" in header and "time/epoch (s)" in header
    bleu = header.index("test BLEU")
    assert [(r[0], r[1], r[bleu]) for r in rows] == [
        ("0.001", "2", "15.00 ± 7.07"),  # sample std of 10 and 20
        ("0.003", "2", "30.00"),
    ]
    assert rows[0][header.index("trainable params")] == "1,000"
    assert len(pd.read_csv(sweep / "runs.csv")) == 4
    for figure in ("curves.png", "time_per_epoch.png"):
        assert (sweep / figure).stat().st_size > 1000, figure
        assert f"]({figure})" in report.read_text()
    # every run has 1,000 trainable parameters: a score-vs-parameters plot would say nothing
    assert not (sweep / "bleu_vs_params.png").exists()


def test_a_running_sweep_reports_what_exists(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    fake_run(sweep, ["model=a", "seed=1"], bleu=12.0)
    fake_run(sweep, ["model=a", "seed=2"], bleu=None)  # still training
    fake_run(sweep, ["model=b", "seed=1"], bleu=None, epochs=1)
    (sweep / "model=c,seed=1" / ".hydra").mkdir(parents=True)  # just started: no logs yet
    (sweep / "model=c,seed=1" / ".hydra" / "overrides.yaml").write_text("- model=c\n- seed=1\n")
    assert [r.finished for r in find_runs(sweep)] == [True, False, False, False]
    out = tmp_path / "elsewhere"
    header, _, *rows = table_rows(write_report(sweep, out))
    by_model = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert by_model["a"]["runs"] == "1 of 2 done"
    assert by_model["a"]["test BLEU"] == "12.00"  # the finished run only
    assert by_model["a"]["val BLEU"] == "7.00"  # from its metrics.json, not the CSV
    assert by_model["b"]["runs"] == "0 of 1 done"
    assert by_model["b"]["val BLEU"] == "1.00"  # the CSV so far
    assert by_model["b"]["epochs"] == "0.45"  # pairs trained, not Lightning's epoch index + 1
    assert by_model["c"]["test BLEU"] == "-" and by_model["c"]["val BLEU"] == "-"
    assert (out / "report.md").is_file() and not (sweep / "report.md").exists()


def test_a_damaged_metrics_json_is_said_and_read_as_unfinished(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = fake_run(tmp_path / "sweep", ["model=a"], bleu=12.0)
    (run / "metrics.json").write_text('{"test": {"te')  # cut short after the run
    assert [r.finished for r in find_runs(tmp_path / "sweep")] == [False]
    assert "metrics.json is not readable JSON" in caplog.text


def test_a_running_run_without_pairs_trained_in_its_csv_reports_no_epochs(
    tmp_path: Path,
) -> None:
    """An older CSV has only Lightning's epoch index: whole while a run validates
    mid-epoch, so no epochs is written rather than a wrong one."""
    run = fake_run(tmp_path / "sweep", ["model=a"], bleu=None)
    csv = run / "csv" / "metrics.csv"
    pd.read_csv(csv).drop(columns="val/epochs").to_csv(csv, index=False)
    header, _, row = table_rows(write_report(tmp_path / "sweep", tmp_path))
    assert dict(zip(header, row, strict=True)).get("epochs", "-") == "-"


def test_a_dir_without_runs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as error:
        main([str(tmp_path)])
    assert error.value.code == 2


def test_runs_validating_within_an_epoch_get_one_point_per_validation(tmp_path: Path) -> None:
    rows = [{"epoch": 0, "step": s, "train/loss": 10.0 - s} for s in range(1, 7)]
    rows += [{"epoch": 0, "step": s, "val/loss": 9.0 - s, "val/bleu": s} for s in (3, 6)]
    path = tmp_path / "metrics.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    curves = validation_curves(path)
    assert curves.index.name == "step" and list(curves.index) == [3, 6]
    assert list(curves["train/loss"]) == [8.0, 5.0]  # mean of steps 1-3, then 4-6
    assert list(curves["val/bleu"]) == [3.0, 6.0]


def test_every_varying_override_is_a_column(tmp_path: Path) -> None:
    """An Optuna search varies lr, dropout and max_tokens together: a continuous lr has a
    different value in every run, which used to 'explain' the other columns away."""
    for i, (lr, dropout, tokens) in enumerate(
        [(1e-3, 0.1, 512), (2e-3, 0.1, 1024), (3e-3, 0.2, 1024)]
    ):
        overrides = [f"optimizer.lr={lr}", f"model.dropout={dropout}", f"data.max_tokens={tokens}"]
        fake_run(tmp_path, overrides, bleu=float(i))
    header = table_rows(write_report(tmp_path, tmp_path))[0]
    assert header[:3] == ["optimizer.lr", "model.dropout", "data.max_tokens"]


def write_predictions(run: Path, hypotheses: list[str], references: list[str]) -> None:
    lines = ["source\treference\thypothesis\tother_references"]
    lines += [
        f"s{i}\t{r}\t{h}\t" for i, (h, r) in enumerate(zip(hypotheses, references, strict=True))
    ]
    (run / "predictions.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_configurations_are_compared_with_the_baseline_by_paired_bootstrap(tmp_path: Path) -> None:
    """sacrebleu's paired bootstrap on seed-paired predictions: a system that gets 40 more
    sentences right is significantly better; the baseline row can be chosen."""
    references = [f"le chat numéro {i} dort sur le tapis" for i in range(200)]
    wrong = "un chien court dans le parc"
    for seed in (1, 2):
        good = [r if i % 5 else wrong for i, r in enumerate(references)]  # 80 % right
        bad = [r if i % 5 > 1 else wrong for i, r in enumerate(references)]  # 60 % right
        write_predictions(
            fake_run(tmp_path, ["model=good", f"seed={seed}"], 80.0), good, references
        )
        write_predictions(fake_run(tmp_path, ["model=bad", f"seed={seed}"], 60.0), bad, references)
    report = write_report(tmp_path, tmp_path, baseline="model=bad")
    text = report.read_text()
    assert "## Differences from `model=bad`" in text
    [row] = json.loads((tmp_path / "significance.json").read_text())
    assert row["configuration"] == "model=good" and row["seeds"] == 2
    bleu = row["bleu"]
    assert bleu["delta"] > 0 and bleu["ci_low"] > 0 and bleu["p_value"] < 0.05
    assert bleu["sentences"] == 400  # two seeds, concatenated
    with pytest.raises(ValueError, match="matches no row"):
        write_report(tmp_path, tmp_path, baseline="model=missing")


def test_configurations_without_a_shared_seed_are_paired_in_seed_order(tmp_path: Path) -> None:
    """A tuned recipe run with seed 1 against a baseline run with seed 0 still gets its
    row (it used to vanish from the table), and the row says which seeds met."""
    references = [f"le chat numéro {i} dort sur le tapis" for i in range(200)]
    wrong = "un chien court dans le parc"
    good = [r if i % 5 else wrong for i, r in enumerate(references)]
    bad = [r if i % 5 > 1 else wrong for i, r in enumerate(references)]
    write_predictions(fake_run(tmp_path, ["model=bad", "seed=0"], 60.0), bad, references)
    write_predictions(fake_run(tmp_path, ["model=good", "seed=1"], 80.0), good, references)
    text = write_report(tmp_path, tmp_path, baseline="model=bad").read_text()
    [row] = json.loads((tmp_path / "significance.json").read_text())
    assert row["seeds"] == 1 and row["pairing"] == "no shared seed: 1 vs 0"
    assert row["bleu"]["delta"] > 0 and row["bleu"]["sentences"] == 200
    assert "| 1 (no shared seed: 1 vs 0) |" in text


def test_environment_facts_that_differ_become_columns(tmp_path: Path) -> None:
    """Runs measured under another transformers or commit are told apart; facts that agree,
    and runs still going (no environment yet), add no column."""
    old = {"transformers": "5.23.0", "threads": 2, "commit": "a" * 40, "dirty": False}
    new = {"transformers": "5.24.0", "threads": 2, "commit": "b" * 40, "dirty": True}
    fake_run(tmp_path, ["seed=1"], bleu=10.0, environment=old)
    fake_run(tmp_path, ["seed=2"], bleu=12.0, environment=new)
    fake_run(tmp_path, ["seed=3"], bleu=None)
    rows = table_rows(write_report(tmp_path, tmp_path))
    header = rows[0]
    assert "env.transformers" in header and "env.commit" in header
    assert "env.threads" not in header and "env.dirty" not in header
    column = header.index("env.commit")
    assert {row[column] for row in rows[2:]} == {"a" * 10, "b" * 10 + "+dirty", "-"}


def test_ignore_groups_runs_that_differ_only_in_an_environment_fact(tmp_path: Path) -> None:
    """A sweep whose tree was edited (docs) mid-way: --ignore env.commit keeps one row."""
    clean = {"transformers": "5.24.0", "threads": 2, "commit": "a" * 40, "dirty": False}
    dirty = clean | {"dirty": True}
    fake_run(tmp_path, ["seed=1"], bleu=10.0, environment=clean)
    fake_run(tmp_path, ["seed=2"], bleu=12.0, environment=dirty)
    split = table_rows(write_report(tmp_path, tmp_path))
    assert "env.commit" in split[0] and len(split) == 4
    report = write_report(tmp_path, tmp_path, ignore=("env.commit",))
    header, _, row = table_rows(report)
    assert "env.commit" not in header and row[header.index("runs")] == "2"
    assert "differ only in `env.commit` are grouped" in report.read_text()


def test_a_measured_machine_speed_is_a_column_not_a_configuration(tmp_path: Path) -> None:
    """Seeds of a time budget run on hosts of different speed stay one configuration; the
    speed each was measured at is a number beside the steps it bought."""
    base = {"transformers": "5.24.0", "threads": 2}
    fake_run(tmp_path, ["seed=1"], bleu=10.0, environment=base | {"matmul_gflops": 300.0})
    fake_run(tmp_path, ["seed=2"], bleu=12.0, environment=base | {"matmul_gflops": 120.0})
    header, _, row = table_rows(write_report(tmp_path, tmp_path))
    assert not any(column.startswith("env.") for column in header)
    assert row[header.index("runs")] == "2"
    assert row[header.index("matmul GFLOP/s")] == "210 ± 127"


def test_epochs_are_the_data_a_budget_run_trained_not_lightnings_counter(tmp_path: Path) -> None:
    """A run stopped 1.46 epochs in once recorded epochs=2 (Lightning's counter): the report
    reads the epochs of data from the pairs trained, and time per epoch from those."""
    run = fake_run(tmp_path, ["seed=1"], bleu=10.0)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics |= {"pairs_trained": 1460, "data": {"train_pairs": 1000}, "fit_time_sec": 292.0}
    (run / "metrics.json").write_text(json.dumps(metrics))
    header, _, row = table_rows(write_report(tmp_path, tmp_path))
    assert row[header.index("epochs")] == "1.46"
    assert row[header.index("time/epoch (s)")] == "200.0"


def test_a_small_spread_keeps_its_decimals() -> None:
    """Two runs 0.376 and 0.379 epochs in: '0.38 ± 0' would read as runs that agree."""
    frame = pd.DataFrame({"run": ["a", "b"], "finished": [True, True], "epochs": [0.376, 0.379]})
    (group,) = group_runs(frame, [])
    assert format_cell(group, "epochs") == "0.38 ± 0.00"
    frame["epochs"] = [1.0, 1.0]
    (group,) = group_runs(frame, [])
    assert format_cell(group, "epochs") == "1"


def test_a_mean_over_fewer_runs_than_the_row_says_how_many() -> None:
    """Three seeds, one without a Multi30k score: the mean of two must not read as of three."""
    frame = pd.DataFrame(
        {"run": ["a", "b", "c"], "finished": [True] * 3, "multi30k BLEU": [10.0, 20.0, None]}
    )
    (group,) = group_runs(frame, [])
    assert format_cell(group, "multi30k BLEU") == "15.00 ± 7.07 (n=2)"
    frame["multi30k BLEU"] = [10.0, None, None]
    (group,) = group_runs(frame, [])
    assert format_cell(group, "multi30k BLEU") == "10.00 (n=1)"
