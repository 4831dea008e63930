"""The training progress bar: Lightning's rich bar, without its `Epoch 3/-2` for a run that
the clock ends (`trainer.max_epochs=-1`: there is no last epoch to count towards)."""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    def _get_train_description(self, current_epoch: int) -> str:
        description = super()._get_train_description(current_epoch)
        max_epochs = self.trainer.max_epochs
        if max_epochs is not None and max_epochs < 0:
            description = description.replace(f"/{max_epochs - 1}", "", 1)
        return description
