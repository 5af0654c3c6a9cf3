"""Which hub a push goes to, parsed once from `--hub` at the command's edge: the one module that knows every
`Hub` implementation, so that neither knows the other and adding one is a line in `HUBS`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.core.errors import UsageError
from pipeline.publish.hf import HfHub
from pipeline.publish.hub import Hub
from pipeline.publish.local import LocalHub


def _local(folder: str | None) -> Hub | None:
    return LocalHub(Path(folder).expanduser()) if folder else None


def _hf(argument: str | None) -> Hub | None:
    return HfHub.from_environment() if argument is None else None


# `--hub` is `<scheme>` or `<scheme>:<argument>`; each maker gets the argument (None without a colon) and
# returns None when its scheme does not take that argument.
HUBS: dict[str, Callable[[str | None], Hub | None]] = {"local": _local, "hf": _hf}


def parse_hub(spec: str) -> Hub:
    """`local:DIR` or `hf`; anything else is a usage error naming both forms."""
    scheme, colon, argument = spec.partition(":")
    make = HUBS.get(scheme)
    if make is None or (hub := make(argument if colon else None)) is None:
        raise UsageError(f"--hub must be local:DIR (a folder of repos) or hf (the Hugging Face Hub), got {spec!r}")
    return hub
