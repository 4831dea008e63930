"""The table of layers and parameters printed as training starts, without Lightning's FLOPs.

Lightning counts FLOPs only by running `example_input_array`, which our module cannot
have (a batch's shape is the data's), so its summary printed "0" in every FLOPs cell and
"Total FLOPs: 0" under the table: a wrong number on the screen. This summary leaves the
column and the total out; throughput and MFU are measured by `make bench` instead.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import (
    get_formatted_model_size,
    get_human_readable_count,
)
from rich.table import Table

from seq2seq_bench.tables import console

UNMEASURED = ("FLOPs",)


class ParameterSummary(ModelSummary):
    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        columns = [(name, cells) for name, cells in summary_data if name not in UNMEASURED]
        table = Table(header_style="bold magenta")
        for name, _ in columns:
            right = name in ("Params", "Params per Device", "In sizes", "Out sizes")
            table.add_column(name, justify="right" if right else "left", no_wrap=name == "Name")
        for row in zip(*(cells for _, cells in columns), strict=True):
            table.add_row(*row)
        out = console()
        out.print(table)
        for label, value in summary_totals(
            total_parameters, trainable_parameters, model_size, total_training_modes
        ):
            out.print(f"[bold]{label}[/]: {value}")


def summary_totals(
    total_parameters: int,
    trainable_parameters: int,
    model_size: float,
    total_training_modes: dict[str, int],
) -> list[tuple[str, str]]:
    """The lines under the table: what Lightning prints there, less its FLOPs total."""
    return [
        ("Trainable params", readable_count(trainable_parameters)),
        ("Non-trainable params", readable_count(total_parameters - trainable_parameters)),
        ("Total params", readable_count(total_parameters)),
        ("Total estimated model params size (MB)", get_formatted_model_size(model_size)),
        ("Modules in train mode", str(total_training_modes["train"])),
        ("Modules in eval mode", str(total_training_modes["eval"])),
    ]


def readable_count(number: int) -> str:
    return get_human_readable_count(number).strip()  # Lightning pads zero: "0  "
