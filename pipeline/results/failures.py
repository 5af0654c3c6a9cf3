"""`train/results/<basename>.failed.json`: a config whose runs keep failing, so that CI stops retrying it.

Every push to main plans every pending config, so a config that fails (a bug in it, a dataset that cannot
load, a model that does not fit) would take a GPU job on every push, forever. `haha run` records each failure
here (why, how many runs in a row for this config hash, which run) and removes the record when the config
succeeds; the GPU job uploads it and the commit job commits it. After GIVE_UP_AFTER failures in a row of the
same config hash, `haha pending` (and so `haha plan`) leaves the config out with a note, the results index
lists it, and only a dispatch with the config named runs it again (or any change to the config).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.core.files import write_atomic
from pipeline.core.strict_json import StrictJsonError, loads_strict

FAILED_SUFFIX = ".failed.json"
GIVE_UP_AFTER = 3


class FailureRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config_sha256: str
    reason: str  # the error's first line
    count: int = Field(ge=1, strict=True)  # runs in a row that failed for this config hash
    last_run: str  # the Actions run (GITHUB_RUN_ID) or, outside CI, the time it failed

    def gives_up(self, config_sha256: str) -> bool:
        """Whether CI stops retrying this config: it failed GIVE_UP_AFTER runs in a row as it is now."""
        return self.count >= GIVE_UP_AFTER and self.config_sha256 == config_sha256

    def describe(self) -> str:
        return f"failed {self.count} runs in a row (last: run {self.last_run}): {self.reason}"


def failure_path(results_dir: Path, basename: str) -> Path:
    return results_dir / f"{basename}{FAILED_SUFFIX}"


def parse_failure(text: str) -> FailureRecord:
    """The record, or ValueError (strict JSON, known keys only)."""
    try:
        return FailureRecord.model_validate(loads_strict(text))
    except (ValueError, RecursionError, StrictJsonError, ValidationError) as exc:
        raise ValueError(f"not a failure record: {exc}") from None


def read_failure(results_dir: Path, basename: str) -> FailureRecord | None:
    """The config's failure record; None when there is none or it cannot be read (then it is retried)."""
    try:
        return parse_failure(failure_path(results_dir, basename).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def record_failure(results_dir: Path, basename: str, config_sha256: str, error: str,
                   run_id: str | None = None) -> FailureRecord:
    """One more failure in a row for this config hash (a changed config starts counting again), in the Actions run
    `run_id` (GITHUB_RUN_ID, handed in by the caller), else at this time."""
    earlier = read_failure(results_dir, basename)
    count = earlier.count + 1 if earlier is not None and earlier.config_sha256 == config_sha256 else 1
    lines = error.strip().splitlines()
    run = run_id or datetime.now(UTC).isoformat(timespec="seconds")
    record = FailureRecord(config_sha256=config_sha256, reason=lines[0] if lines else "failed", count=count,
                           last_run=run)
    write_atomic(failure_path(results_dir, basename), record.model_dump_json(indent=2) + "\n")
    return record


def clear_failure(results_dir: Path, basename: str) -> None:
    failure_path(results_dir, basename).unlink(missing_ok=True)


def note_outcomes(results_dir: Path, ran: Sequence[tuple[Path, str | None]], run_id: str | None = None) -> None:
    """After `haha run`: each config's failure (its path, and its error or None) counted, each success cleared."""
    from pipeline.config.loading import config_sha256

    for path, error in ran:
        basename = path.name.removesuffix(".yml")
        if error is None:
            clear_failure(results_dir, basename)
        elif path.is_file():
            record_failure(results_dir, basename, config_sha256(path), error, run_id)
