"""Pushing to the Hub: the one place the pipeline uploads a trained LoRA adapter and its model card.

`publish()` sends the adapter's files (weights, adapter config, tokenizer files; never checkpoints,
optimizer state or logs) plus README.md = the model card to the repo `<org>/<basename>` on a `Hub`:
a local folder of repos (local.py) or the Hugging Face Hub (hf.py). Both implement the `Hub`
protocol below and neither imports the other; target.py is the one place that picks one.

Either way a push is skipped when the repo's latest push carries both this config hash and this
adapter's content hash, so re-runs are free and a retrained adapter is always pushed: the
revision recorded with the results holds the weights that were evaluated.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from pipeline.core.errors import HahaError
from pipeline.core.naming import hub_repo_id
from pipeline.core.runs import ADAPTER_FILES, adapter_problem, adapter_sha256

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "chat_template.jinja",
)
CARD_FILE = "README.md"
# The adapter as it is pushed and fetched back; a fetch leaves the card on the hub, nothing loads it.
MODEL_FILES = (*ADAPTER_FILES, *TOKENIZER_FILES)
# Every name a push may write; an hf push also deletes these names when the new adapter lacks them.
PUBLISHED_FILES = (*MODEL_FILES, CARD_FILE)


class PublishError(HahaError):
    """The push did not happen; the message says why and what to do."""


class HubAuthError(PublishError):
    """The Hub refused our credentials (401/403); retrying cannot help, a token with write access can."""


@dataclass(frozen=True)
class Push:
    """One adapter to push: from `adapter_dir` to `<org>/<name>`, with its card and the config that made it."""

    adapter_dir: Path
    org: str
    name: str
    card: str
    config_sha256: str
    private: bool = True
    force: bool = False  # push even when the repo's latest push holds this config and these bytes

    @property
    def repo_id(self) -> str:
        try:
            return hub_repo_id(self.org, self.name)
        except ValueError as exc:
            raise PublishError(str(exc)) from None


class PublishResult(BaseModel):
    """What a push left on the hub; the run keeps it beside the adapter (published.json) for the evaluate stage."""

    repo_id: str
    revision: str  # hf: the commit sha; local: sha256 of the pushed files
    url: str
    adapter_sha256: str
    skipped: bool = False  # the repo's latest push already holds this config and these exact adapter bytes


@dataclass(frozen=True)
class PushKey:
    """What makes two pushes the same: the config and the adapter's bytes (a retrain changes the second)."""

    config_sha256: str
    adapter_sha256: str

    def text(self) -> str:
        return f"config sha256 {self.config_sha256} adapter sha256 {self.adapter_sha256}"


class Hub(Protocol):
    """Where adapters are pushed and fetched back from; `str()` names it the way `--hub` does.

    The checks every hub shares (the repo id, the adapter's files, its hash, a fetch landing whole or not at
    all) are made once, by `publish()` and `fetch.fetch_adapter()`; a hub only moves bytes and keeps history.
    """

    def push(self, push: Push, files: list[Path], key: PushKey) -> PublishResult:
        """Upload `files` and `push.card` as the newest revision of `push.repo_id`, unless its latest push is
        `key` and `push.force` is off (then a skipped result naming that revision)."""
        ...

    def fetch(self, repo_id: str, revision: str, dest: Path) -> None:
        """Copy the `MODEL_FILES` that `repo_id` holds at `revision` into the empty folder `dest`, once the hub
        has confirmed that `revision` is a push of `repo_id`; a PublishError otherwise."""
        ...

    def latest_revision(self, repo_id: str) -> str | None:
        """The revision of `repo_id`'s latest push; None when nothing was pushed there."""
        ...


def publish(push: Push, hub: Hub) -> PublishResult:
    """Push the adapter and its card to `push.repo_id` on `hub`, unless the latest push there is this one."""
    files = published_files(push.adapter_dir)
    return hub.push(push, files, PushKey(push.config_sha256, adapter_sha256(push.adapter_dir)))


def published_files(adapter_dir: Path) -> list[Path]:
    """The adapter's files that belong on the Hub, by name, so checkpoints and logs can never leak out."""
    if (problem := adapter_problem(adapter_dir)) is not None:
        raise PublishError(f"{problem}: train the config before publishing it")
    return [adapter_dir / name for name in MODEL_FILES if (adapter_dir / name).is_file()]


def stage_files(files: list[Path], card: str, dest: Path) -> list[str]:
    """Copy the files and write the card into `dest`; returns the names written, sorted."""
    for path in files:
        shutil.copy2(path, dest / path.name)
    (dest / CARD_FILE).write_text(card, encoding="utf-8")
    return sorted([*(path.name for path in files), CARD_FILE])


def content_hash(folder: Path, names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(f"{name}\0{hashlib.sha256((folder / name).read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()
