"""Library noise goes to a log, not to the terminal.

Importing the training stack prints on the process's stderr from C and Python alike:
torchao's failed kernel loads, torch's pytree deprecations, bitsandbytes' kernel notes,
transformers' progress bars. None of it is about the user's config, so while models load
the process's file descriptor 2 points at a log file (or nowhere) and the terminal shows
only what haha says.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path


@contextmanager
def quiet_libraries(log_path: Path | None = None) -> Iterator[None]:
    """Send everything written to stderr (fd 2, so C code too) and Python's prints to `log_path`, or discard it.

    Python's `sys.stdout`/`sys.stderr` follow too: an embedding caller (a test's CLI runner, a notebook) may have
    replaced them with objects that are not file descriptor 2.
    """
    sys.stderr.flush()
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    target = open(log_path, "a", encoding="utf-8") if log_path else open(os.devnull, "w")  # noqa: SIM115
    saved = os.dup(2)
    try:
        os.dup2(target.fileno(), 2)
        with redirect_stdout(target), redirect_stderr(target):
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        target.close()


def import_training_stack(log_path: Path | None = None) -> None:
    """Import torch, transformers and peft with their import-time noise sent to `log_path`, once per process.

    Their progress bars and warnings stay off afterwards: loading a model in-process is haha's
    business, and the terminal shows haha's own progress instead.
    """
    with quiet_libraries(log_path):
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
