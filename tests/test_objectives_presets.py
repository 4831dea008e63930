"""The two objectives-study presets run one design: they differ in shape, batch and
validation cadence, never in data, objective settings or how the test set is decoded."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from .conftest import compose_config

SHAPE_AND_BUDGET = {
    "model": None,  # the whole model group: transformer_small at d_model 128 vs transformer_base
    "data": ("max_tokens",),
    "trainer": ("max_steps", "val_check_interval"),
    "scheduler": ("warmup_steps",),
}


def without_shape_and_budget(cfg) -> dict:
    tree = OmegaConf.to_container(cfg, resolve=False)
    for key in ("paths", "hydra"):  # where runs write, not what they do
        tree.pop(key, None)
    for group, keys in SHAPE_AND_BUDGET.items():
        if keys is None:
            tree.pop(group)
            continue
        for key in keys:
            tree[group].pop(key)
    return tree


def test_the_base_study_changes_only_shape_and_budget(tmp_path: Path) -> None:
    small = compose_config(tmp_path, ["experiment=objectives"])
    base = compose_config(tmp_path, ["experiment=objectives_base"])
    default_base = compose_config(tmp_path, ["model=transformer_base"])
    assert (small.model.d_model, small.model.encoder_layers) == (128, 2)
    assert {k: v for k, v in base.model.items() if k != "dropout"} == {
        k: v for k, v in default_base.model.items() if k != "dropout"
    }
    assert base.data.max_tokens == 2048 and base.trainer.max_steps == 500
    assert base.test_decoding == small.test_decoding and small.test_decoding.num_beams == 1
    assert without_shape_and_budget(base) == without_shape_and_budget(small)
