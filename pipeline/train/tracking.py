"""Weights & Biases: which mode a run uses, and reading back what an offline run recorded.

Online only when `WANDB_API_KEY` is set (the GPU runner); offline otherwise, so a run
here still leaves a `wandb/offline-run-*` folder that `wandb sync` can upload later.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pipeline.core.errors import UsageError


class WandbMode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    DISABLED = "disabled"


# The .wandb transaction log: a 7-byte header, then LevelDB-style records in 32 KiB blocks.
WANDB_HEADER = 7
BLOCK = 32 * 1024
CHUNK_HEADER = 7  # crc32c (4), length (2, little-endian), type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def wandb_mode(requested: str | None) -> WandbMode:
    """`--wandb` parsed once at the edge; unset means online when WANDB_API_KEY is set, else offline."""
    if requested is not None:
        try:
            return WandbMode(requested)
        except ValueError:
            raise UsageError(f"--wandb must be one of {', '.join(WandbMode)}, got {requested!r}") from None
    return WandbMode.ONLINE if os.environ.get("WANDB_API_KEY") else WandbMode.OFFLINE


def wandb_env(mode: WandbMode, run_dir: Path) -> dict[str, str]:
    """Environment for the training child: where W&B writes and in which mode."""
    env = {"WANDB_MODE": str(mode), "WANDB_DIR": str(run_dir), "WANDB_SILENT": "true"}
    if mode is WandbMode.DISABLED:
        env["WANDB_DISABLED"] = "true"
    return env


@dataclass(frozen=True)
class WandbRef:
    """A W&B run as its pages address it: `https://wandb.ai/<entity>/<project>/runs/<run_id>`.

    `name` is the display name (the config's basename). Without an entity there is no page to
    link to, so `path` and `url` are None.
    """

    project: str
    name: str
    entity: str = ""
    run_id: str = ""

    @property
    def path(self) -> str | None:
        """`entity/project/run_id`, the shape results files record and the index links."""
        return f"{self.entity}/{self.project}/{self.run_id}" if self.entity and self.run_id else None

    @property
    def url(self) -> str | None:
        if not self.entity:
            return None
        base = f"{WANDB_URL}{self.entity}/{self.project}"
        return f"{base}/runs/{self.run_id}" if self.run_id else base


WANDB_URL = "https://wandb.ai/"


def wandb_records(path: Path) -> Iterator[bytes]:
    """The serialized records of a `.wandb` file (wandb 0.31 ships no Python reader for it)."""
    data = path.read_bytes()
    if not data.startswith(b":W&B"):
        raise ValueError(f"{path} is not a W&B transaction log")
    offset, pending = WANDB_HEADER, b""
    while offset + CHUNK_HEADER <= len(data):
        room = BLOCK - offset % BLOCK
        if room < CHUNK_HEADER:  # block trailer padding
            offset += room
            continue
        length, kind = struct.unpack_from("<HB", data, offset + 4)
        chunk = data[offset + CHUNK_HEADER: offset + CHUNK_HEADER + length]
        offset += CHUNK_HEADER + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
        else:  # zero padding at the end of a block
            offset += BLOCK - offset % BLOCK if offset % BLOCK else 0


def recorded_runs(run_dir: Path) -> list[WandbRef]:
    """The runs W&B recorded under `run_dir/wandb/` (offline-run-* and run-* folders), oldest first.

    Read with W&B's own protobufs; the entity is empty for an offline run W&B could not ask about.
    """
    from wandb.proto import wandb_internal_pb2

    found = []
    for path in sorted(run_dir.glob("wandb/*run-*/run-*.wandb"), key=lambda p: p.parent.name.split("run-")[-1]):
        for data in wandb_records(path):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(data)
            if record.WhichOneof("record_type") == "run":
                run = record.run
                found.append(WandbRef(run.project, run.display_name, run.entity, run.run_id))
                break
    return found


def run_reference(run_dir: Path, mode: WandbMode, project: str, name: str, entity: str) -> WandbRef | None:
    """The W&B run a training made, for the model card and the results file; None when tracking was off.

    The entity comes from the run itself (online) or from [tool.haha] wandb_entity (an offline run
    that `wandb sync` will upload there under the same run id).
    """
    if mode is WandbMode.DISABLED:
        return None
    recorded = recorded_runs(run_dir)
    latest = recorded[-1] if recorded else None
    return WandbRef(project, name, (latest.entity if latest else "") or entity, latest.run_id if latest else "")
