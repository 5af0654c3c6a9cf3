"""Running a child process the way a long training needs: its own process group, output streamed line by line
into a scrubbed log, signals forwarded to the whole group, a wall-clock limit, nothing left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.core.secrets import scrub


def stream_lines(stream: IO[bytes]) -> Iterator[str]:
    """Lines from the child, splitting on carriage returns too so progress bars arrive as they draw."""
    buffer = b""
    while chunk := stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096):
        buffer += chunk
        *lines, buffer = re.split(rb"[\r\n]", buffer)
        for line in lines:
            yield line.decode("utf-8", errors="replace")
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    stopped_by: int | None  # the signal we forwarded (a cancelled job, Ctrl-C), if any
    timed_out: bool  # the wall-clock limit ended it


# After the child exits, how long its output may take to drain, and how long a signalled group gets to exit.
DRAIN_SECONDS = 2.0
GRACE_SECONDS = 10.0


def signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the child's whole process group: Axolotl's dataset workers die with it instead of lingering."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def pump(stream: IO[bytes], log: IO[str], on_line: Callable[[str], None]) -> None:
    """Copy the child's output, scrubbed, to the log and to `on_line`, until the pipe closes or the log does."""
    try:
        for line in stream_lines(stream):
            clean = scrub(line)
            log.write(clean + "\n")
            on_line(clean)
    except (ValueError, OSError):
        pass  # the log was closed under us: the child is gone and its stragglers were killed


def wait_for(child: subprocess.Popen[bytes], time_limit: float | None) -> bool:
    """Wait for the child to exit; at the limit, ask its group to stop, then make it. True when the limit hit."""
    deadline = time.monotonic() + time_limit if time_limit else None
    while True:
        try:
            child.wait(timeout=0.5)
            return False
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() > deadline:
                signal_group(child, signal.SIGTERM)
                try:
                    child.wait(timeout=GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    signal_group(child, signal.SIGKILL)
                    child.wait()
                return True


def run_child(command: list[str], env: dict[str, str], log_path: Path, on_line: Callable[[str], None],
              time_limit: float | None = None) -> ChildResult:
    """Run the child in its own process group, forwarding SIGINT/SIGTERM to the whole group.

    haha stops waiting when the child exits, not when its pipe closes: dataset workers it leaves
    behind holding the pipe are killed with the rest of the group. `time_limit` (seconds) ends a
    run that hangs (a looping chat template, a stuck collective) with its group.
    """
    received: list[int] = []
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                 start_new_session=True)

        def forward(signum: int, _frame: object) -> None:
            received.append(signum)
            signal_group(child, signum)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        assert child.stdout is not None
        reader = threading.Thread(target=pump, args=(child.stdout, log, on_line), daemon=True)
        reader.start()
        try:
            timed_out = wait_for(child, time_limit)
            reader.join(timeout=DRAIN_SECONDS)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal_group(child, signal.SIGKILL)  # whatever of the group outlived the child
            if child.poll() is None:
                child.kill()
                child.wait()
            reader.join(timeout=DRAIN_SECONDS)
        return ChildResult(child.returncode, received[0] if received else None, timed_out)
