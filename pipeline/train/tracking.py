"""Weights & Biases: which mode a run uses, and reading back what an offline run recorded.

Online only when `WANDB_API_KEY` is set (the GPU runner); offline otherwise, so a run
here still leaves a `wandb/offline-run-*` folder that `wandb sync` can upload later.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MODES = ("online", "offline", "disabled")
# The .wandb transaction log: a 7-byte header, then LevelDB-style records in 32 KiB blocks.
WANDB_HEADER = 7
BLOCK = 32 * 1024
CHUNK_HEADER = 7  # crc32c (4), length (2, little-endian), type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def wandb_mode(requested: str | None) -> str:
    if requested is not None:
        if requested not in MODES:
            raise ValueError(f"--wandb must be one of {', '.join(MODES)}, got {requested!r}")
        return requested
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def wandb_env(mode: str, run_dir: Path) -> dict[str, str]:
    """Environment for the training child: where W&B writes and in which mode."""
    env = {"WANDB_MODE": mode, "WANDB_DIR": str(run_dir), "WANDB_SILENT": "true"}
    if mode == "disabled":
        env["WANDB_DISABLED"] = "true"
    return env


@dataclass(frozen=True)
class OfflineRun:
    path: Path
    project: str
    name: str
    run_id: str


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


def offline_runs(run_dir: Path) -> list[OfflineRun]:
    """The runs recorded in `run_dir/wandb/offline-run-*/run-*.wandb`, parsed with W&B's own protobufs."""
    from wandb.proto import wandb_internal_pb2

    found = []
    for path in sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb")):
        for data in wandb_records(path):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(data)
            if record.WhichOneof("record_type") == "run":
                found.append(OfflineRun(path, record.run.project, record.run.display_name, record.run.run_id))
                break
    return found
