"""Configuration checks that need the built model, run before training starts.

Each raises a `ValueError` whose message names the fix, so a doomed run fails in seconds
instead of producing NaNs an hour in.
"""

from __future__ import annotations

from transformers import PreTrainedModel

FP16 = {"16", "16-mixed", "16-true"}
# T5 was pretrained in bf16; its feed-forward activations exceed fp16's range (65504), so
# fp16 training and inference give inf/NaN. bf16 has fp32's range.
FP16_UNSAFE = {"t5", "mt5"}


def check_precision(model: PreTrainedModel, precision: str | int) -> None:
    model_type = getattr(model.config, "model_type", "")
    if str(precision) in FP16 and model_type in FP16_UNSAFE:
        raise ValueError(
            f"trainer.precision={precision} with a {model_type} model: T5/mT5 activations "
            "overflow float16 (inf/NaN losses). Use trainer.precision=bf16-mixed on a GPU "
            "that supports bf16 (Ampere or newer), or trainer.precision=32-true."
        )
