"""The local hub: a folder of repos, `<root>/<org>/<name>/`, with a push log in `.haha/pushes.jsonl`.

A push is staged next to the repo and renamed into place, so a failed push never leaves a
half-updated repo.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.naming import is_hub_id
from pipeline.publish.hub import (
    MODEL_FILES,
    PublishError,
    PublishResult,
    Push,
    PushKey,
    content_hash,
    stage_files,
)

PUSH_LOG = Path(".haha") / "pushes.jsonl"


@dataclass(frozen=True)
class LocalHub:
    """A folder of repos, `<root>/<org>/<name>/`: the default, and what smoke runs and tests push to.

    It keeps only each repo's latest push (the push log names every revision), so it fetches nothing older.
    """

    root: Path

    def __str__(self) -> str:
        return f"local:{self.root}"

    def push(self, push: Push, files: list[Path], key: PushKey) -> PublishResult:
        repo = self.repo_folder(push.repo_id)
        _recover(repo)
        pushes = _read_pushes(repo)
        latest = pushes[-1] if pushes else {}
        if not push.force and (latest.get("config_sha256"), latest.get("adapter_sha256")) == (key.config_sha256,
                                                                                               key.adapter_sha256):
            return PublishResult(repo_id=push.repo_id, revision=latest["revision"], url=repo.resolve().as_uri(),
                                 adapter_sha256=key.adapter_sha256, skipped=True)
        repo.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{repo.name}.staging-", dir=repo.parent))
        try:
            staging.chmod(0o755)  # mkdtemp makes it owner-only; the repo it becomes should read like any folder
            names = stage_files(files, push.card, staging)
            revision = content_hash(staging, names)
            record = {"config_sha256": key.config_sha256, "adapter_sha256": key.adapter_sha256,
                      "time": datetime.now(UTC).isoformat(timespec="seconds"), "files": names, "revision": revision}
            (staging / PUSH_LOG).parent.mkdir()
            (staging / PUSH_LOG).write_text("".join(json.dumps(p) + "\n" for p in [*pushes, record]),
                                            encoding="utf-8")
            _swap_in(staging, repo)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return PublishResult(repo_id=push.repo_id, revision=revision, url=repo.resolve().as_uri(),
                             adapter_sha256=key.adapter_sha256)

    def fetch(self, repo_id: str, revision: str, dest: Path) -> None:
        """Only the latest push is here, so an older revision is gone: say so rather than copy another. A revision
        the push log never named was never pushed here."""
        repo = self.repo_folder(repo_id)
        pushed = [push["revision"] for push in _read_pushes(repo)]
        if not pushed:
            raise PublishError(f"{repo_id} is not on the hub at {self.root}")
        if revision not in pushed:
            raise PublishError(f"{repo_id} was never pushed at {revision[:12]}: the hub's push record does not name "
                               "it")
        if pushed[-1] != revision:
            raise PublishError(f"{repo_id} on the hub is at {pushed[-1][:12]}, not the {revision[:12]} its results "
                               "recorded: run that config again to publish and evaluate one adapter")
        for name in MODEL_FILES:
            if (repo / name).is_file():
                shutil.copy2(repo / name, dest / name)

    def latest_revision(self, repo_id: str) -> str | None:
        pushes = _read_pushes(self.repo_folder(repo_id))
        return pushes[-1]["revision"] if pushes else None

    def repo_folder(self, repo_id: str) -> Path:
        """`<root>/<org>/<name>` for a Hub repo id, or a PublishError: the local hub never leaves its folder,
        whatever a results file names (`../../elsewhere/x` is no repo id, and a linked org folder is refused too)."""
        if not is_hub_id(repo_id):
            raise PublishError(f"{repo_id!r} is not a Hub repo id (<org>/<name>); the local hub holds nothing else")
        folder = self.root / repo_id
        if not folder.resolve().is_relative_to(self.root.resolve()):
            raise PublishError(f"{repo_id} leads out of the local hub at {self.root}")
        return folder


def _read_pushes(repo: Path) -> list[dict[str, str]]:
    path = repo / PUSH_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _previous(repo: Path) -> Path:
    return repo.with_name(f".{repo.name}.previous")


def _swap_in(staging: Path, repo: Path) -> None:
    """Replace `repo` by `staging` with two renames: readers see the old repo or the new one, never a mix."""
    had_previous = repo.exists()
    if had_previous:
        os.replace(repo, _previous(repo))
    os.replace(staging, repo)
    if had_previous:
        shutil.rmtree(_previous(repo), ignore_errors=True)  # a leftover is removed by the next push's `_recover`


def _recover(repo: Path) -> None:
    """Finish a swap that was cut off: restore the previous repo if the new one never arrived, else drop it."""
    previous = _previous(repo)
    if previous.exists():
        if repo.exists():
            shutil.rmtree(previous)
        else:
            os.replace(previous, repo)
