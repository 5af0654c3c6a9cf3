"""A task's progress on disk, so a cut-off eval resumes with exactly the units it lacks.

The sidecar `<results>.<task>.partial.jsonl` starts with a header line holding the key the
progress was made under (config hash, adapter bytes, base model, spec, sampler version,
device); progress made under anything else is discarded rather than mixed in. Each later
line is one finished unit, flushed and synced per batch, so a kill loses at most the batch
in flight.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# How every progress file's name ends: never a results file, never committed, uploaded when an eval stops early.
SIDECAR_SUFFIX = ".partial.jsonl"


def sidecar_path(out_path: Path, task: str = "sweep") -> Path:
    """The sweep keeps the name it always had (`<out>.partial.jsonl`); other tasks add their name."""
    suffix = SIDECAR_SUFFIX if task == "sweep" else f".{task}{SIDECAR_SUFFIX}"
    return out_path.with_name(out_path.name + suffix)


def read_progress(path: Path, key: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Finished records and the eval's start time from a sidecar made under the same `key`.

    A sidecar made under another key is deleted; a torn last line (killed mid-write) is cut off
    so appending continues on a clean line.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], None
    complete = raw[: raw.rfind(b"\n") + 1]
    lines = complete.decode("utf-8").splitlines()
    try:
        header = json.loads(lines[0]) if lines else {}
        records = [json.loads(line) for line in lines[1:]]
    except json.JSONDecodeError:
        header, records = {}, []
    if header.get("key") != dict(key):
        path.unlink()
        return [], None
    if len(complete) != len(raw):
        with path.open("r+b") as handle:
            handle.truncate(len(complete))
    return records, header.get("started")


def start_progress(path: Path, key: Mapping[str, Any], started: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": dict(key), "started": started}) + "\n", encoding="utf-8")


def append_progress(path: Path, records: list[dict[str, Any]]) -> None:
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(lines)
        handle.flush()
        os.fsync(handle.fileno())
