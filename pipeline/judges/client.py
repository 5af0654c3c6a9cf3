"""The one network call of LLM judging: a chat completion from an OpenAI-compatible endpoint (OpenAI, vLLM,
SGLang, llama.cpp's server and most hosted ones speak it), retried with the project's one backoff.

The API key is read from the variable the settings name, at call time, and is never written anywhere: error
messages pass through `mask`. An endpoint on this machine may need no key; any other needs one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.core.errors import HahaError
from pipeline.core.judge_settings import LlmJudgeSettings
from pipeline.core.retry import Backoff
from pipeline.core.secrets import MASK, scrub

if TYPE_CHECKING:
    import openai

TIMEOUT_S = 120.0
NO_KEY = "no-key"  # what a loopback server is sent when no key is set: the client refuses an empty one


class JudgeError(HahaError):
    """The judge cannot answer: unreachable, refusing, or answering something that is not a chat completion."""


@dataclass
class ChatJudge:
    name: str
    settings: LlmJudgeSettings
    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0  # calls that reached the endpoint, retries included

    def __post_init__(self) -> None:
        import openai  # deferred: only judging needs the client

        self._key = os.environ.get(self.settings.api_key_env, "")
        if not self._key and not self.settings.is_local:
            raise JudgeError(f"judge {self.name}: set {self.settings.api_key_env} (judges.{self.name}.api_key_env) "
                             f"to the key for {self.settings.base_url}")
        self._client = openai.OpenAI(base_url=self.settings.base_url, api_key=self._key or NO_KEY, max_retries=0,
                                     timeout=TIMEOUT_S)

    def mask(self, text: str) -> str:
        return scrub(text.replace(self._key, MASK) if len(self._key) >= 4 else text)

    def ask(self, content: str) -> str:
        """The judge's answer to one user message, at the judge's temperature."""
        import openai

        where = f"judge {self.name} at {self.settings.base_url}"
        for attempt in range(1, self.backoff.tries + 1):
            try:
                self.requests += 1
                reply = self._client.chat.completions.create(
                    model=self.settings.model, messages=[{"role": "user", "content": content}],
                    temperature=self.settings.temperature, max_tokens=self.settings.max_tokens)
            except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
                if attempt == self.backoff.tries:
                    raise JudgeError(self.mask(f"{where}: {_why(exc)} after {attempt} tries")) from None
                self.sleep(self.backoff.delay(attempt))
                continue
            except openai.APIStatusError as exc:
                raise JudgeError(self.mask(f"{where}: refused with HTTP {exc.status_code}: {_why(exc)}")) from None
            except (openai.APIError, ValueError) as exc:
                raise JudgeError(self.mask(f"{where}: the answer is not an OpenAI chat completion: {exc}")) from None
            return _content(reply, where)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _why(exc: openai.APIError) -> str:
    cause = exc.__cause__
    return f"{exc.message} ({cause})" if cause else exc.message


def _content(reply: object, where: str) -> str:
    """The first choice's text; a JudgeError when the server's answer lacks one (a proxy's HTML page, say)."""
    choices = getattr(reply, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise JudgeError(f"{where}: the answer is not an OpenAI chat completion (no choices): {str(reply)[:200]}")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str):
        raise JudgeError(f"{where}: the answer is not an OpenAI chat completion (no message text)")
    return content
