"""Where a config's base model can be read from without its weights: config.json and the tokenizer.

Validation (the real tokenizer for row lengths, Axolotl's load-time checks) and smoke runs
(a shrunken twin of the real architecture) need the base model's `config.json` and
tokenizer files, never its weights. They come from the first place that has them: a local
folder, the Hugging Face cache, or the Hub when the process is online. A gated or private
repo, a missing one or no network is not an error: the caller falls back and says why.

Nothing here runs remote code: configs are read with `trust_remote_code` off, so a repo
whose architecture needs its own Python is reported as unusable rather than executed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipeline.core.naming import is_hub_id

# The files that describe a model and its tokenizer; never weights.
DESCRIPTION_FILES = ("config.json", "generation_config.json", "tokenizer*", "special_tokens_map.json", "vocab.*",
                     "merges.txt", "*.model", "added_tokens.json", "chat_template.*")


@dataclass(frozen=True)
class ModelFiles:
    """A folder holding the base model's config.json and tokenizer, or None and the reason it could not be had."""

    name: str
    folder: Path | None
    origin: str  # "local folder" | "HF cache" | "Hub" | "" when not found
    reason: str = ""

    @property
    def found(self) -> bool:
        return self.folder is not None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def _describes_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("tokenizer*"))


# The files a Hub dataset's rows can be read from, and a loading script, which is refused when present.
DATASET_FILES = ("*.jsonl", "*.json", "*.csv", "*.parquet", "*.py")


def _from_hub(name: str, revision: str | None, local_only: bool, repo_type: str = "model",
              patterns: tuple[str, ...] = DESCRIPTION_FILES) -> Path:
    from huggingface_hub import snapshot_download

    from pipeline.core.quiet import quiet_libraries

    with quiet_libraries():  # download progress bars
        return Path(snapshot_download(name, revision=revision, allow_patterns=list(patterns),
                                      local_files_only=local_only, repo_type=repo_type))


def _hub_reason(name: str, exc: Exception) -> str:
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return f"'{name}' is gated on the Hub (it needs an accepted licence and a token)"
    if isinstance(exc, RepositoryNotFoundError):
        return f"'{name}' is not on the Hub, or is private"
    if isinstance(exc, RevisionNotFoundError):
        return f"'{name}' has no such revision on the Hub"
    if isinstance(exc, LocalEntryNotFoundError):
        return f"'{name}' is not in the HF cache and the Hub cannot be reached"
    return f"'{name}' could not be fetched from the Hub ({_first_line(exc)})"


@cache
def model_files(name: str, revision: str | None = None) -> ModelFiles:
    """The base model's description files, from a local folder, the HF cache, or the Hub when online."""
    path = Path(name)
    if path.is_dir():
        if _describes_model(path):
            return ModelFiles(name, path, "local folder")
        return ModelFiles(name, None, "", f"the folder '{name}' has no config.json and tokenizer")
    if not is_hub_id(name, bare=True):
        return ModelFiles(name, None, "", f"'{name}' is neither a folder nor a Hub repo id")
    return _hub_files(name, revision, "model", DESCRIPTION_FILES, _describes_model, "config.json and tokenizer")


@cache
def dataset_files(name: str, revision: str) -> ModelFiles:
    """A Hub dataset's data files at a pinned revision, from the HF cache, or the Hub when online."""
    return _hub_files(name, revision, "dataset", DATASET_FILES, lambda folder: any(folder.rglob("*.*")),
                      "data files")


def _hub_files(name: str, revision: str | None, repo_type: str, patterns: tuple[str, ...],
               usable: Callable[[Path], bool], what: str) -> ModelFiles:
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        cached = _from_hub(name, revision, True, repo_type, patterns)
        if usable(cached):
            return ModelFiles(name, cached, "HF cache")
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    if constants.HF_HUB_OFFLINE:
        return ModelFiles(name, None, "", f"'{name}' is not in the HF cache and HF_HUB_OFFLINE is set")
    try:
        fetched = _from_hub(name, revision, False, repo_type, patterns)
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        return ModelFiles(name, None, "", _hub_reason(name, exc))
    if not usable(fetched):
        return ModelFiles(name, None, "", f"'{name}' on the Hub has no {what}")
    return ModelFiles(name, fetched, "Hub")


def _revision(config: dict[str, object]) -> str | None:
    revision = config.get("revision_of_model") or config.get("model_revision")
    return str(revision) if revision else None


def base_model_files(config: dict[str, object]) -> ModelFiles:
    """The files for a config's base model (Axolotl reads its config from `base_model_config` when set)."""
    return model_files(str(config.get("base_model_config") or config.get("base_model") or ""), _revision(config))


def tokenizer_files(config: dict[str, object]) -> ModelFiles:
    """The files for a config's tokenizer, looked up in the order Axolotl's `normalize_config` uses."""
    name = config.get("tokenizer_config") or config.get("base_model_config") or config.get("base_model") or ""
    return model_files(str(name), _revision(config))
