"""Pushing to the Hub: the one place the pipeline uploads a trained LoRA adapter and its model card.

`publish()` sends the adapter's files (weights, adapter config, tokenizer files; never checkpoints,
optimizer state or logs) plus README.md = the model card to the repo `<org>/<basename>` on one of two hubs:

- `local:DIR` (the default): the repo is the folder DIR/<org>/<name>/, with a push log in
  `.haha/pushes.jsonl`. A push is staged next to the repo and renamed into place, so a failed push
  never leaves a half-updated repo.
- `hf`: the real Hugging Face Hub through `huggingface_hub.HfApi` (endpoint from `HF_ENDPOINT`,
  token from `HF_TOKEN`, both read by the client; this module never touches the token). One commit
  per push, its message carrying the config hash; transient failures are retried with backoff,
  refused credentials fail at once with `HubAuthError`.

Either way a push is skipped when the repo's latest push carries both this config hash and this
adapter's content hash, so re-runs are free and a retrained adapter is always pushed: the
revision recorded with the results holds the weights that were evaluated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError

from pipeline.core.errors import HahaError
from pipeline.core.runs import ADAPTER_FILES, adapter_sha256

log = logging.getLogger(__name__)

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "chat_template.jinja",
)
CARD_FILE = "README.md"
# Every name a push may write; an hf push also deletes these names when the new adapter lacks them.
PUBLISHED_FILES = (*ADAPTER_FILES, *TOKENIZER_FILES, CARD_FILE)
PUSH_LOG = Path(".haha") / "pushes.jsonl"
# Hub repo names and orgs: letters, digits, `-`, `_`, `.`; also keeps local repos inside their hub folder.
REPO_PART = re.compile(r"^[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?$")
AUTH_STATUSES = (401, 403)

T = TypeVar("T")


class PublishError(HahaError):
    """The push did not happen; the message says why and what to do."""


class HubAuthError(PublishError):
    """The Hub refused our credentials (401/403); retrying cannot help, a token with write access can."""


@dataclass(frozen=True)
class LocalHub:
    root: Path


@dataclass(frozen=True)
class HfHub:
    endpoint: str


Hub = LocalHub | HfHub


@dataclass(frozen=True)
class Retry:
    """Backoff for transient Hub failures (connection errors, HTTP 5xx, 429): waits base_delay, 2x, 4x, ..."""

    tries: int = 4
    base_delay: float = 2.0


DEFAULT_RETRY = Retry()

@dataclass(frozen=True)
class PublishResult:
    repo_id: str
    revision: str  # hf: the commit sha; local: sha256 of the pushed files
    url: str
    skipped: bool  # the repo's latest push already holds this config and these exact adapter bytes


def parse_hub(spec: str) -> Hub:
    """`local:DIR` or `hf`; anything else is a usage error (ValueError) naming both forms."""
    if spec == "hf":
        # Read per call, not at import like huggingface_hub does, so a test or wrapper can point it elsewhere.
        return HfHub((os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/"))
    if spec.startswith("local:") and spec.removeprefix("local:"):
        return LocalHub(Path(spec.removeprefix("local:")).expanduser())
    raise ValueError(f"--hub must be local:DIR (a folder of repos) or hf (the Hugging Face Hub), got {spec!r}")


def publish(
    adapter_dir: Path,
    repo_name: str,
    card: str,
    config_sha256: str,
    hub: str,
    org: str,
    private: bool,
    *,
    retry: Retry = DEFAULT_RETRY,
    force: bool = False,
) -> PublishResult:
    """Push the adapter in `adapter_dir` and `card` (README.md) to `<org>/<repo_name>`, unless already there.

    `force` pushes even when the repo's latest push carries this config hash (a forced retrain
    of an unchanged config made new weights).
    """
    target = parse_hub(hub)
    repo_id = _repo_id(org, repo_name)
    files = _published_files(adapter_dir)
    push = PushKey(config_sha256, adapter_sha256(adapter_dir))
    if isinstance(target, LocalHub):
        return _push_local(target.root / org / repo_name, repo_id, files, card, push, force)
    return _push_hf(target.endpoint, repo_id, files, card, push, private, retry, force)


@dataclass(frozen=True)
class PushKey:
    """What makes two pushes the same: the config and the adapter's bytes (a retrain changes the second)."""

    config_sha256: str
    adapter_sha256: str

    def text(self) -> str:
        return f"config sha256 {self.config_sha256} adapter sha256 {self.adapter_sha256}"


def _repo_id(org: str, name: str) -> str:
    for part in (org, name):
        if not REPO_PART.match(part) or ".." in part:
            raise ValueError(f"{part!r} is not a valid Hub org or repo name (letters, digits, '-', '_', '.')")
    return f"{org}/{name}"


def _published_files(adapter_dir: Path) -> list[Path]:
    """The adapter's files that belong on the Hub, by name, so checkpoints and logs can never leak out."""
    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise PublishError(f"{adapter_dir} has no {', '.join(missing)}: train the config before publishing it")
    return [adapter_dir / name for name in (*ADAPTER_FILES, *TOKENIZER_FILES) if (adapter_dir / name).is_file()]


def _stage(files: list[Path], card: str, dest: Path) -> list[str]:
    """Copy the files and write the card into `dest`; returns the names written, sorted."""
    for path in files:
        shutil.copy2(path, dest / path.name)
    (dest / CARD_FILE).write_text(card, encoding="utf-8")
    return sorted([*(path.name for path in files), CARD_FILE])


def _content_hash(folder: Path, names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(f"{name}\0{hashlib.sha256((folder / name).read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


# ---- local hub -------------------------------------------------------------------------------------------


def _push_local(repo: Path, repo_id: str, files: list[Path], card: str, push: PushKey, force: bool) -> PublishResult:
    _recover(repo)
    pushes = _read_pushes(repo)
    latest = pushes[-1] if pushes else {}
    if not force and (latest.get("config_sha256"), latest.get("adapter_sha256")) == (push.config_sha256,
                                                                                     push.adapter_sha256):
        return PublishResult(repo_id, pushes[-1]["revision"], repo.resolve().as_uri(), skipped=True)
    repo.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{repo.name}.staging-", dir=repo.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it owner-only; the repo it becomes should read like any folder
        names = _stage(files, card, staging)
        revision = _content_hash(staging, names)
        record = {"config_sha256": push.config_sha256, "adapter_sha256": push.adapter_sha256,
                  "time": datetime.now(UTC).isoformat(timespec="seconds"), "files": names, "revision": revision}
        (staging / PUSH_LOG).parent.mkdir()
        (staging / PUSH_LOG).write_text("".join(json.dumps(p) + "\n" for p in [*pushes, record]), encoding="utf-8")
        _swap_in(staging, repo)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PublishResult(repo_id, revision, repo.resolve().as_uri(), skipped=False)


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


# ---- Hugging Face Hub ------------------------------------------------------------------------------------


def _push_hf(
    endpoint: str, repo_id: str, files: list[Path], card: str, push: PushKey, private: bool, retry: Retry,
    force: bool,
) -> PublishResult:
    api = HfApi(endpoint=endpoint)
    url = f"{endpoint}/{repo_id}"
    _with_retry(retry, f"creating {repo_id}", repo_id, lambda: api.create_repo(repo_id, exist_ok=True, private=private))
    message = f"haha: {repo_id.split('/')[1]} {push.text()}"
    # Forced: only a commit made after this point counts as done, so the current head is remembered.
    stale_head = _with_retry(retry, f"reading {repo_id}", repo_id, lambda: _head(api, repo_id)) if force else None
    with tempfile.TemporaryDirectory(prefix="haha-publish-") as staging:
        _stage(files, card, Path(staging))
        revision, skipped = _with_retry(
            retry, f"pushing to {repo_id}", repo_id,
            lambda: _commit_unless_pushed(api, repo_id, Path(staging), message, push, stale_head),
        )
    return PublishResult(repo_id, revision, url, skipped)


def _head(api: HfApi, repo_id: str) -> str | None:
    commits = api.list_repo_commits(repo_id)
    return commits[0].commit_id if commits else None


def _commit_unless_pushed(
    api: HfApi, repo_id: str, staging: Path, message: str, push: PushKey, stale_head: str | None
) -> tuple[str, bool]:
    """One commit, unless main's latest commit already carries this push's hashes (and is not `stale_head`).

    Checked again on every retry: a commit whose response was lost must not be made twice.
    """
    commits = api.list_repo_commits(repo_id)
    latest = commits[0] if commits else None
    if latest and latest.commit_id != stale_head and push.text() in f"{latest.title}\n{latest.message}":
        return latest.commit_id, True
    info = api.upload_folder(
        repo_id=repo_id, folder_path=staging, commit_message=message, delete_patterns=list(PUBLISHED_FILES)
    )
    return info.oid, False


def _with_retry(retry: Retry, action: str, repo_id: str, call: Callable[[], T]) -> T:
    """Run `call`, retrying transient failures with exponential backoff; auth and other errors end it at once."""
    attempt = 1
    while True:
        try:
            return call()
        except (HfHubHTTPError, httpx.TransportError) as err:
            status = err.response.status_code if isinstance(err, HfHubHTTPError) else None
            if status in AUTH_STATUSES:
                raise HubAuthError(
                    f"{action}: the Hub refused the credentials (HTTP {status}); check HF_TOKEN has write access to "
                    f"{repo_id.split('/')[0]}"
                ) from err
            if status is not None and status != 429 and status < 500:
                raise PublishError(f"{action}: {err}") from err
            if attempt >= retry.tries:
                raise PublishError(f"{action}: gave up after {retry.tries} tries: {type(err).__name__}: {err}") from err
            delay = retry.base_delay * 2 ** (attempt - 1)
            reason = f"HTTP {status}" if status else type(err).__name__
            log.warning("%s: %s; retrying in %.2fs (try %d of %d)", action, reason, delay, attempt, retry.tries)
            time.sleep(delay)
            attempt += 1
