"""One root for every error a person running haha can act on.

Each stage raises its own subclass (a config that does not load, a training that wrote no
adapter, a push the Hub refused); the CLI catches `HahaError` once and turns it into a message
and an exit code, so no user mistake ever reaches the terminal as a traceback.
"""

from __future__ import annotations

from typing import ClassVar


class HahaError(Exception):
    """A failure whose message is for the person who ran the command; `exit_code` is what the CLI exits with."""

    exit_code: ClassVar[int] = 1


class UsageError(HahaError):
    """The command was called wrongly (a missing file, a bad option value): the shell's usage code."""

    exit_code: ClassVar[int] = 2


class StageError(HahaError):
    """A stage failed for this config; `haha run` records it and goes on with the next config."""
