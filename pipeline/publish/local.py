"""The local hub: a folder of repos, `<root>/<org>/<name>/`, with a push log in `.haha/pushes.jsonl`.

A push is staged next to the repo and renamed into place, so a failed push never leaves a
half-updated repo.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.naming import is_hub_id
from pipeline.publish.hub import PublishError, PublishResult, PushKey, content_hash, stage_files

PUSH_LOG = Path(".haha") / "pushes.jsonl"


def repo_folder(root: Path, repo_id: str) -> Path:
    """`<root>/<org>/<name>` for a Hub repo id, or a PublishError: the local hub never leaves its folder, whatever
    a results file names (`../../elsewhere/x` is no repo id, and a linked org folder is refused too)."""
    if not is_hub_id(repo_id):
        raise PublishError(f"{repo_id!r} is not a Hub repo id (<org>/<name>); the local hub holds nothing else")
    folder = root / repo_id
    if not folder.resolve().is_relative_to(root.resolve()):
        raise PublishError(f"{repo_id} leads out of the local hub at {root}")
    return folder


def pushed_revisions(repo: Path) -> list[str]:
    """Every revision the push record of a local repo names, oldest first."""
    return [push["revision"] for push in _read_pushes(repo)]


def push_local(repo: Path, repo_id: str, files: list[Path], card: str, push: PushKey, force: bool) -> PublishResult:
    _recover(repo)
    pushes = _read_pushes(repo)
    latest = pushes[-1] if pushes else {}
    if not force and (latest.get("config_sha256"), latest.get("adapter_sha256")) == (push.config_sha256,
                                                                                     push.adapter_sha256):
        return PublishResult(repo_id=repo_id, revision=pushes[-1]["revision"], url=repo.resolve().as_uri(),
                             adapter_sha256=push.adapter_sha256, skipped=True)
    repo.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{repo.name}.staging-", dir=repo.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it owner-only; the repo it becomes should read like any folder
        names = stage_files(files, card, staging)
        revision = content_hash(staging, names)
        record = {"config_sha256": push.config_sha256, "adapter_sha256": push.adapter_sha256,
                  "time": datetime.now(UTC).isoformat(timespec="seconds"), "files": names, "revision": revision}
        (staging / PUSH_LOG).parent.mkdir()
        (staging / PUSH_LOG).write_text("".join(json.dumps(p) + "\n" for p in [*pushes, record]), encoding="utf-8")
        _swap_in(staging, repo)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PublishResult(repo_id=repo_id, revision=revision, url=repo.resolve().as_uri(),
                         adapter_sha256=push.adapter_sha256)


def latest_revision(repo: Path) -> str | None:
    """The revision of the repo's latest push; None when nothing was pushed there."""
    pushes = _read_pushes(repo)
    return pushes[-1]["revision"] if pushes else None


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


