"""What a training run hands on about its W&B tracking: the mode it ran in, the run it recorded, and the marks the
tracking guard plugin prints for the parent process to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class WandbMode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    DISABLED = "disabled"


# The .wandb transaction log: a 7-byte header, then LevelDB-style records in 32 KiB blocks.
OFFLINE_NOT_SYNCED = "offline, not synced"
# The Axolotl plugin that keeps a W&B failure during training from stopping it, and the line it logs when one does.
GUARD_PLUGIN = "pipeline.train.tracking_plugin.TrackingGuardPlugin"
GUARD_MARK = "haha: W&B failed during training"
GUARDED = "haha: W&B callback guarded: a tracker failure ends the tracking, never the training"


@dataclass(frozen=True)
class WandbRef:
    """A W&B run as its pages address it: `https://wandb.ai/<entity>/<project>/runs/<run_id>`.

    `name` is the display name (the config's basename). Without an entity there is no page to
    link to, so `path` and `url` are None. `awaiting_sync`: a run meant to be online trained offline and its
    record is not uploaded yet, so no page exists for it (`url` is None, results say OFFLINE_NOT_SYNCED).
    """

    project: str
    name: str
    entity: str = ""
    run_id: str = ""
    awaiting_sync: bool = False

    @property
    def path(self) -> str | None:
        """`entity/project/run_id`, the shape results files record and the index links."""
        return f"{self.entity}/{self.project}/{self.run_id}" if self.entity and self.run_id else None

    @property
    def recorded_as(self) -> str | None:
        """What a results file's `meta.wandb_run` says: the run's path, or that it is still only offline."""
        return OFFLINE_NOT_SYNCED if self.awaiting_sync else self.path

    @property
    def url(self) -> str | None:
        if not self.entity or self.awaiting_sync:
            return None
        base = f"{WANDB_URL}{self.entity}/{self.project}"
        return f"{base}/runs/{self.run_id}" if self.run_id else base


WANDB_URL = "https://wandb.ai/"


