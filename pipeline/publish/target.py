"""Which hub a push goes to, parsed once from `--hub` at the command's edge."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import UsageError

DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class LocalHub:
    """A folder of repos, `<root>/<org>/<name>/`: the default, and what smoke runs and tests push to."""

    root: Path

    def __str__(self) -> str:
        return f"local:{self.root}"


@dataclass(frozen=True)
class HfHub:
    """The Hugging Face Hub (or a mirror at `HF_ENDPOINT`); the client reads HF_TOKEN itself."""

    endpoint: str

    def __str__(self) -> str:
        return "hf"


HubTarget = LocalHub | HfHub


def parse_hub(spec: str) -> HubTarget:
    """`local:DIR` or `hf`; anything else is a usage error naming both forms."""
    if spec == "hf":
        # Read per call, not at import as huggingface_hub does, so a test or wrapper can point it elsewhere.
        return HfHub((os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"))
    if spec.startswith("local:") and spec.removeprefix("local:"):
        return LocalHub(Path(spec.removeprefix("local:")).expanduser())
    raise UsageError(f"--hub must be local:DIR (a folder of repos) or hf (the Hugging Face Hub), got {spec!r}")
