"""Weights & Biases: which mode a run uses, whether W&B answers before a run starts, and reading back what a run
recorded.

Online only when `WANDB_API_KEY` is set (the GPU runner) and the run is not a smoke run; offline otherwise, so a
run here still leaves a `wandb/offline-run-*` folder that `wandb sync` can upload later. The tracker is an outside
service that the training does not need: an online run first asks W&B whether it answers (`start_tracking`, the
one network call here) and trains offline when it does not.
"""

from __future__ import annotations

import math
import os
import shlex
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.errors import UsageError
from pipeline.core.quiet import quiet_libraries
from pipeline.core.runs import RunPaths
from pipeline.core.secrets import scrub
from pipeline.formats.tracking import GUARD_MARK, WandbMode, WandbRef

if TYPE_CHECKING:
    import wandb


WANDB_HEADER = 7
BLOCK = 32 * 1024
CHUNK_HEADER = 7  # crc32c (4), length (2, little-endian), type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
# wandb's default end of a run waits until every upload is done, however long W&B is gone; past this the run on
# W&B is marked crashed, and its local record (whole) is what `wandb sync` uploads.
FINISH_TIMEOUT_S = 600
# What a results file records for a run meant to be online whose record is still only on the training box.
def wandb_mode(requested: str | None, *, smoke: bool) -> WandbMode:
    """`--wandb` parsed once at the edge. Unset: offline for a smoke run, whatever the environment holds (a
    throwaway check has nothing to report and must not fail on a tracker), else online when WANDB_API_KEY is set."""
    if requested is None:
        return WandbMode.ONLINE if os.environ.get("WANDB_API_KEY") and not smoke else WandbMode.OFFLINE
    try:
        mode = WandbMode(requested)
    except ValueError:
        raise UsageError(f"--wandb must be one of {', '.join(WandbMode)}, got {requested!r}") from None
    if smoke and mode is WandbMode.ONLINE:
        raise UsageError("--wandb online: a smoke run never goes online; use offline or disabled")
    return mode


@dataclass(frozen=True)
class Tracking:
    """The mode a training runs W&B in; `unreachable` says why an online run went offline instead."""

    mode: WandbMode
    unreachable: str | None = None


def _wandb_settings() -> wandb.Settings:
    """W&B's settings as the environment sets them (its defaults otherwise)."""
    import wandb

    settings = wandb.Settings()
    settings.update_from_env_vars(dict(os.environ))
    return settings


def init_timeout() -> float:
    """W&B's own `init_timeout` setting (WANDB_INIT_TIMEOUT, 90 s by default): how long `wandb.init` gives the
    server before it fails the run, so haha's check waits no longer than the training itself would have."""
    return float(_wandb_settings().init_timeout)


def wandb_unreachable(timeout: float) -> str | None:
    """Why W&B (WANDB_BASE_URL) did not accept this key within `timeout` seconds, or None when it did.

    W&B's own client asks (the credential check `wandb.Api` makes through wandb's service process, which retries
    until the timeout), so a refused, unresolvable or silent endpoint and a rejected key all count: any of them
    would fail the child's `wandb.init`. A check cut off by the timeout says so; a quicker refusal says what W&B
    said. The service process is stopped before returning.
    """
    import wandb

    started = time.monotonic()
    try:
        with quiet_libraries():
            wandb.Api(api_key=os.environ.get("WANDB_API_KEY"), timeout=math.ceil(timeout))
    except Exception as exc:  # any failure means the same thing here: do not bet the run on the tracker
        if time.monotonic() - started >= timeout:
            return f"{_wandb_settings().base_url} gave no answer within {timeout:g} s"
        return scrub(" ".join(str(exc).split()) or type(exc).__name__)
    finally:
        with quiet_libraries():
            wandb.teardown()
    return None


def start_tracking(mode: WandbMode, timeout: float) -> Tracking:
    """The mode a training starts in: an online run whose W&B does not answer within `timeout` (W&B's init
    timeout) trains offline, with the same config and run name, rather than fail in `wandb.init` after the same
    wait."""
    if mode is not WandbMode.ONLINE:
        return Tracking(mode)
    why = wandb_unreachable(timeout)
    return Tracking(mode) if why is None else Tracking(WandbMode.OFFLINE, why)


def wandb_env(env: Mapping[str, str], mode: WandbMode, run_dir: Path) -> dict[str, str]:
    """`env` for the training child with W&B's mode and folder set. Only an online run keeps the API key (an
    offline or disabled one has no use for it), and its end waits at most FINISH_TIMEOUT_S for uploads."""
    out = {name: value for name, value in env.items() if mode is WandbMode.ONLINE or name != "WANDB_API_KEY"}
    out.update({"WANDB_MODE": str(mode), "WANDB_DIR": str(run_dir), "WANDB_SILENT": "true"})
    if mode is WandbMode.DISABLED:
        out["WANDB_DISABLED"] = "true"
    if mode is WandbMode.ONLINE:
        out.setdefault("WANDB_FINISH_TIMEOUT", str(FINISH_TIMEOUT_S))
    return out


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


def run_logs(run_dir: Path) -> list[Path]:
    """The transaction logs of the runs W&B recorded under `run_dir/wandb/` (offline-run-* and run-* folders),
    oldest first."""
    return sorted(run_dir.glob("wandb/*run-*/run-*.wandb"), key=lambda p: p.parent.name.split("run-")[-1])


def unsynced_runs(run_dir: Path) -> list[Path]:
    """The offline run folders under `run_dir/wandb/` that `wandb sync` has not uploaded (it leaves
    `<log>.synced` beside a log it uploaded)."""
    return [log.parent for log in run_logs(run_dir)
            if log.parent.name.startswith("offline-run-") and not log.with_name(f"{log.name}.synced").exists()]


def sync_command(folders: list[Path]) -> str:
    return "wandb sync " + " ".join(shlex.quote(str(folder)) for folder in folders)


def tracking_warnings(run: RunPaths, mode: WandbMode, unreachable: str | None = None) -> tuple[str, ...]:
    """What the run's reader must know about its tracking: that W&B failed during training (the guard plugin's
    lines in the log), and for a run asked to be online, that it trained offline and how to upload it."""
    text = run.log.read_text(encoding="utf-8", errors="replace") if run.log.is_file() else ""
    # A launcher may prefix a worker's lines ("[rank0]: ..."): the warning is the line from the mark on.
    found = [line[line.index(GUARD_MARK) + len("haha: "):] for line in text.splitlines() if GUARD_MARK in line]
    unsynced = unsynced_runs(run.run_dir) if mode is WandbMode.ONLINE else []
    if unsynced:
        upload = f"upload it with: {sync_command(unsynced)}"
        found.append(f"W&B was unreachable at start ({unreachable}), so this run trained offline; {upload}"
                     if unreachable is not None else f"this run's W&B record is offline and not synced; {upload}")
    return tuple(found)


def recorded_runs(run_dir: Path) -> list[WandbRef]:
    """The runs W&B recorded under `run_dir/wandb/`, oldest first.

    Read with W&B's own protobufs; the entity is empty for an offline run W&B could not ask about.
    """
    from wandb.proto import wandb_internal_pb2

    found = []
    for path in run_logs(run_dir):
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
    that `wandb sync` will upload there under the same run id). A run asked to be online that holds an
    offline record not uploaded yet is `awaiting_sync`.
    """
    if mode is WandbMode.DISABLED:
        return None
    recorded = recorded_runs(run_dir)
    latest = recorded[-1] if recorded else None
    return WandbRef(project, name, (latest.entity if latest else "") or entity, latest.run_id if latest else "",
                    awaiting_sync=mode is WandbMode.ONLINE and bool(unsynced_runs(run_dir)))
