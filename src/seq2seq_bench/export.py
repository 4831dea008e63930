"""The export: a run's model as a plain Hugging Face directory that needs nothing else.

`model/` holds the weights (LoRA merged, ELECTRA's generator dropped), the tokenizer(s),
the generation settings the run was tested with (`generation_config.json`, so a plain
`generate()` decodes as the run's test did instead of falling back to 20 tokens) and
the task prefix in `config.json`'s `task_specific_params` (the convention t5-small's
config follows), so it survives a copy of the export out of its run dir.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path

from transformers import PreTrainedModel
from transformers.utils import logging as hf_logging

from seq2seq_bench.atomic import save_dir_atomically
from seq2seq_bench.decoding import Decoding
from seq2seq_bench.freezing import exportable
from seq2seq_bench.rundir import save_tokenizers
from seq2seq_bench.types import Tokenizers

TASK = "translation"  # the key of the prefix in task_specific_params


def export_prefix(config: object) -> str | None:
    """The task prefix an export carries, or None when it carries none."""
    specific = getattr(config, "task_specific_params", None) or {}
    for key in (TASK, "translation_en_to_fr"):  # ours, then t5-small's
        if key in specific and "prefix" in specific[key]:
            return str(specific[key]["prefix"])
    return None


def save_export(
    model: PreTrainedModel,
    tokenizers: Tokenizers,
    directory: Path,
    decoding: Decoding,
    prefix: str,
) -> None:
    """Write the export into ``directory`` atomically (call last: LoRA merges in place)."""
    plain = exportable(model)
    generation = copy.deepcopy(plain.generation_config)
    generation.update(**decoding.generate_kwargs())
    plain.generation_config = generation
    specific = dict(getattr(plain.config, "task_specific_params", None) or {})
    specific[TASK] = {"prefix": prefix}
    plain.config.task_specific_params = specific

    def write(tmp: Path) -> None:
        with no_progress_bars():  # "Writing model shards 1/1" above the final table
            plain.save_pretrained(tmp)
        save_tokenizers(tokenizers, tmp)

    save_dir_atomically(directory, write)


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' own progress bars off for a moment, as they were after it."""
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
