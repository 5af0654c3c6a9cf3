"""`[tool.haha.judges.<name>]`: the judges a repo declares, one kind each, parsed once into typed settings.

    [tool.haha.judges.smollm]
    kind = "llm"                      # a chat model behind any OpenAI-compatible endpoint
    model = "SmolLM2-135M-Instruct"
    base_url = "http://127.0.0.1:8080/v1"   # https, or a loopback address: never from a config
    api_key_env = "OPENAI_API_KEY"    # the variable's name; its value is read at call time and never written
    max_requests = 2000               # per run: a run stops before it spends more
    prompt = "train/eval/judge-prompt.txt"  # optional, pinned by its sha256 like a custom chat template
    prompt_sha256 = "…"

    [tool.haha.judges.reward]
    kind = "reward"                   # a reward config's published adapter scores each completion
    config = "haha-reward-001"

The endpoint lives here, in the repo's pyproject.toml that only reviewed commits change, and never in a config: a
pull request cannot point the runner's key at a server of its choosing.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.core.registry import Registry

SHA256_HEX = r"^[0-9a-f]{64}$"


class JudgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str


class RewardJudgeSettings(JudgeSettings):
    """A reward config of the repo: its published adapter scores every sweep completion (`haha judge`)."""

    kind: Literal["reward"] = "reward"
    config: str = Field(min_length=1)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LlmJudgeSettings(JudgeSettings):
    """A chat model that reads two punchlines and says which is funnier, through the OpenAI API."""

    kind: Literal["llm"] = "llm"
    model: str = Field(min_length=1)
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = Field(default="OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    max_requests: int = Field(default=1000, gt=0)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=64, gt=0, le=4096)
    prompt: str | None = None  # a template file, relative to the repo root
    prompt_sha256: str | None = Field(default=None, pattern=SHA256_HEX)

    @field_validator("base_url")
    @classmethod
    def _https_or_loopback(cls, url: str) -> str:
        """The key travels to this URL: only over TLS, or to this machine."""
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url.rstrip("/")
        if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
            return url.rstrip("/")
        raise ValueError(f"{url!r} is neither https nor a loopback address (http://127.0.0.1:PORT/v1)")

    @model_validator(mode="after")
    def _prompt_is_pinned(self) -> LlmJudgeSettings:
        if (self.prompt is None) != (self.prompt_sha256 is None):
            raise ValueError("prompt and prompt_sha256 go together: a prompt file is pinned by its sha256")
        return self

    @property
    def is_local(self) -> bool:
        return is_loopback(urlsplit(self.base_url).hostname or "")


JUDGE_KINDS: Registry[type[JudgeSettings]] = Registry("judge kind")
JUDGE_KINDS.register("reward", RewardJudgeSettings, __name__)
JUDGE_KINDS.register("llm", LlmJudgeSettings, __name__)

