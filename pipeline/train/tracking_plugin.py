"""The Axolotl plugin that keeps a W&B failure from stopping a training (tracking.py chooses the mode).

transformers' `WandbCallback` lets every wandb exception through to the Trainer, and two reach it (wandb 0.31):
when wandb's service process dies mid-run, every `run.log` after it raises `ConnectionResetError`; and when W&B
stops answering between haha's check and the child's own `wandb.init`, the init fails after W&B's init timeout
(`CommError`). Either would end a training that the tracker only watches. A network drop alone does not raise:
wandb's service keeps the record on disk and retries its uploads.

The plugin puts a guard in the callback's place (and logs `GUARDED` when it does): its first failure is written
to the log (`GUARD_MARK`, which haha reads back into the run's warnings) and the callback stays quiet for the
rest of the run; what wandb wrote to the run folder until then stays there. Imported by Axolotl in the training
child only, from the `plugins:` entry the effective config adds.
"""

from __future__ import annotations

import sys
from typing import Any

from axolotl.integrations.base import BasePlugin
from transformers.integrations import WandbCallback

from pipeline.formats.tracking import GUARD_MARK, GUARDED


class GuardedWandbCallback(WandbCallback):  # type: ignore[misc]
    """transformers' W&B callback, except that a failure of the tracker ends the tracking, not the training."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def _unless_failed(self, event: Any, *args: Any, **kwargs: Any) -> Any:
        if self.failed:
            return None
        try:
            return event(*args, **kwargs)
        except Exception as exc:  # whatever wandb raises, the Trainer must not see it
            self.failed = True
            print(f"{GUARD_MARK}: {type(exc).__name__}: {exc}".splitlines()[0] + "; training goes on untracked",
                  file=sys.stderr, flush=True)
            return None

    def on_train_begin(self, *args: Any, **kwargs: Any) -> Any:
        return self._unless_failed(super().on_train_begin, *args, **kwargs)

    def on_train_end(self, *args: Any, **kwargs: Any) -> Any:
        return self._unless_failed(super().on_train_end, *args, **kwargs)

    def on_log(self, *args: Any, **kwargs: Any) -> Any:
        return self._unless_failed(super().on_log, *args, **kwargs)

    def on_save(self, *args: Any, **kwargs: Any) -> Any:
        return self._unless_failed(super().on_save, *args, **kwargs)

    def on_predict(self, *args: Any, **kwargs: Any) -> Any:
        return self._unless_failed(super().on_predict, *args, **kwargs)


class TrackingGuardPlugin(BasePlugin):  # type: ignore[misc]
    """Swaps the Trainer's W&B callback for the guarded one (the Trainer has not started, so nothing is lost)."""

    def post_trainer_create(self, cfg: Any, trainer: Any) -> None:
        callbacks = trainer.callback_handler.callbacks
        for index, callback in enumerate(callbacks):
            if type(callback) is WandbCallback:
                callbacks[index] = GuardedWandbCallback()
                print(GUARDED, file=sys.stderr, flush=True)
