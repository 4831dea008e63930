"""The budget presets compose to the recipe their yaml documents, and the hour inherits it."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from .conftest import compose_config


def test_budget_presets_compose_the_documented_recipe(tmp_path: Path) -> None:
    half = compose_config(tmp_path, ["experiment=budget_30min"])
    hour = compose_config(tmp_path, ["experiment=budget_60min"])
    assert half.data.corpus.path.endswith("fra-eng/fra.txt")
    assert half.model._target_.endswith("TransformerBackbone") and half.model.encoder_layers == 4
    assert (half.model.dropout, half.optimizer.lr) == (0.0, 3.0e-3)
    assert half.checkpoint_average == {"last": 5, "every_n_steps": 20}
    assert half.trainer.max_time == "00:00:30:00" and hour.trainer.max_time == "00:01:00:00"
    assert half.trainer.max_epochs == -1  # the clock, not an epoch count, ends the run
    assert half.trainer.check_val_every_n_epoch is None and half.trainer.val_check_interval == 200
    rest = OmegaConf.to_container(hour, resolve=False)
    rest["trainer"]["max_time"] = half.trainer.max_time
    for key in ("paths", "hydra"):  # where the runs write differs, not what they do
        rest.pop(key, None)
    expected = OmegaConf.to_container(half, resolve=False)
    for key in ("paths", "hydra"):
        expected.pop(key, None)
    assert rest == expected


def test_the_compared_recipes_differ_from_the_preset_only_where_they_say(tmp_path: Path) -> None:
    """The plain and frozen-encoder recipes share the preset's data, clock and validation
    cadence, so their curves of BLEU against minutes compare directly."""
    half = compose_config(tmp_path, ["experiment=budget_30min"])
    plain = compose_config(tmp_path, ["experiment=budget_30min_plain"])
    frozen = compose_config(tmp_path, ["experiment=budget_30min_frozen"])
    default = compose_config(tmp_path, ["data=tatoeba", "model=transformer_base"])
    for recipe in (plain, frozen):
        assert recipe.data == half.data and recipe.trainer == half.trainer
        assert recipe.val_decoding == half.val_decoding and recipe.module == half.module
    assert plain.model == default.model and plain.optimizer == default.optimizer
    assert plain.checkpoint_average == default.checkpoint_average
    assert frozen.model._target_.endswith("BertEncoderBackbone") and frozen.model.dropout == 0.0
    assert frozen.freeze.name == "encoder" and frozen.cache_encoder is True
    assert frozen.optimizer.lr == 1.0e-3 and frozen.checkpoint_average == half.checkpoint_average
