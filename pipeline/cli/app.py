"""The `haha` Typer app, its console, and the one place user errors become messages and exit codes.

Exit codes: 0 success, 1 something checked failed, 2 usage error, 130 stopped by a signal.
Each verb lives in its own module (cli/*.py) and registers itself on `app`; main.py imports them all.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from pipeline.api import existing_config as existing_config  # the verbs' check that a named config exists
from pipeline.core.errors import HahaError

app = typer.Typer(
    help="Validate, train, publish and evaluate the joke fine-tunes in train/config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Docstrings are wrapped at the code's width; markdown joins their lines into paragraphs at the terminal's.
    rich_markup_mode="markdown",
)
console = Console(highlight=False, soft_wrap=True, emoji=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
INTERRUPTED = 130  # the shell's code for a run stopped by a signal

P = ParamSpec("P")
R = TypeVar("R")


def verb(function: Callable[P, R]) -> Callable[P, R]:
    """A command whose HahaErrors print as a red message and exit with the error's code, never as a traceback."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with stdout_for_haha():
                return function(*args, **kwargs)
        except HahaError as exc:
            errors.print(str(exc), style="red", markup=False)
            raise typer.Exit(exc.exit_code) from None

    return run


@contextmanager
def stdout_for_haha() -> Iterator[None]:
    """Standard output carries what haha says and nothing else, so `--json` pipes into `jq`.

    Libraries print on import (transformers announces WANDB_MODE=offline with a bare `print`); while a verb
    runs, Python's `sys.stdout` is stderr and haha's console writes to the stdout the verb was started with.
    """
    out = sys.stdout
    console.file = out
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = out
        console.file = None  # type: ignore[assignment]  # None: rich follows sys.stdout again


def emit(text: str) -> None:
    """Text exactly as given (JSON, markdown) on haha's standard output: no markup, wrapping or emoji."""
    console.file.write(text + "\n")
    console.file.flush()


def say(text: str, style: str = "") -> None:
    """Plain text on the console, never read as rich markup (config names and messages contain brackets)."""
    console.print(text, style=style, markup=False)


@app.callback()
def _root() -> None:
    """Validate, train, publish and evaluate the joke fine-tunes in train/config."""
