"""The one table of final scores that train.py and s2s-evaluate print, also into the log.

Columns are those any set has, in one fixed order. Off a terminal (a batch job, a pipe) the
table is drawn wide enough for every number: rich would otherwise squeeze it into 80
columns and cut numbers short.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

log = logging.getLogger(__name__)

COLUMNS = (
    "loss",
    "ppl",
    "token_acc",
    "exact_match",
    "bleu",
    "chrf",
    "bleu_first_ref",
    "chrf_first_ref",
    "nsp_acc",
    "sop_acc",
    "sent/s",
)


def console() -> Console:
    if sys.stdout.isatty():
        return Console()
    return Console(width=max(shutil.get_terminal_size((200, 24)).columns, 200))


def print_scores(title: str, scores: Mapping[str, Mapping[str, float]], notes: list[str]) -> None:
    """One row per test set; ``notes`` are printed (and logged) under the table. With no
    test set scored (`run_test=false`) there is no table to draw, only the title and notes."""
    out = console()
    if scores:
        out.print(scores_table(title, scores))
    else:
        notes = [f"{title}: no test set scored", *notes]
    for note in notes:
        out.print(note)
        log.info(note)


def scores_table(title: str, scores: Mapping[str, Mapping[str, float]]) -> Table:
    columns = [c for c in COLUMNS if any(c in values for values in scores.values())]
    table = Table(title=title)
    table.add_column("test set")
    for column in columns:
        table.add_column(column, justify="right")
    for name, values in scores.items():
        table.add_row(name, *(f"{values[c]:.2f}" if c in values else "-" for c in columns))
        shown = " ".join(f"{c}={values[c]:.2f}" for c in columns if c in values)
        log.info("final %s: %s", name, shown)
    return table
