"""What the LLM judge is asked and how its answer is read.

The judge sees the joke's setup and two punchlines labelled by neutral letters, A and B, and answers with one of
`A`, `B` or `tie` on the first line and a one-line reason on the next. The letters carry no order meaning beyond
position, and each pair is asked twice with the punchlines swapped (judges/run.py), so a judge that prefers
whatever comes first shows up as position bias instead of as a verdict.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from string import Formatter

from pipeline.core.errors import HahaError

FIELDS = ("setup", "first", "second")

DEFAULT_TEMPLATE = """\
You judge jokes. Here is a joke setup and two punchlines for it.

Setup: {setup}

Punchline A: {first}

Punchline B: {second}

Which punchline is funnier? Answer with exactly one of A, B or tie on the first line, then one short sentence \
saying why on the second line."""

# `[[A]]` (MT-Bench's style), `A`, `A.`, `Answer: A`, `Punchline B`, `Tie`, `The answer is: Pun B`, `The funnier
# one is A`: the verdict at the start of the answer, after at most a short lead-in naming it.
_LEAD_IN = r"(?:the\s+)?(?:answer|verdict|winner|funnier(?:\s+one|\s+punchline)?)(?:\s+(?:is|would\s+be))?\s*:?\s*"
_VERDICT = re.compile(rf"^\W*(?:{_LEAD_IN})?(?:(?:punchline|pun|option)\s*)?\[*\s*(A|B|tie)\b\s*\]*", re.IGNORECASE)


class Verdict(StrEnum):
    """What one call said, by position: the punchline shown first, second, neither, or no readable answer."""

    FIRST = "first"
    SECOND = "second"
    TIE = "tie"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    reason: str


class JudgePromptError(HahaError):
    """A judge's prompt file is missing, changed since it was pinned, or lacks a field."""


@dataclass(frozen=True)
class PromptTemplate:
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def render(self, setup: str, first: str, second: str) -> str:
        return self.text.format(setup=setup, first=first, second=second)


def load_template(root: Path, path: str | None, sha256: str | None) -> PromptTemplate:
    """The default template, or the repo's pinned prompt file: a changed file is refused until its pin is updated
    (a judgment cached under one prompt is never reused for another)."""
    if path is None:
        return PromptTemplate(DEFAULT_TEMPLATE)
    file = root / path
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JudgePromptError(f"{file}: cannot read the judge's prompt: {exc}") from None
    template = PromptTemplate(text)
    if template.sha256 != sha256:
        raise JudgePromptError(f"{file}: its sha256 is {template.sha256}, but prompt_sha256 pins {sha256}; review "
                               "the prompt and update the pin")
    try:
        named = {name for _, name, _, _ in Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise JudgePromptError(f"{file}: not a template: {exc}") from None
    if named != set(FIELDS):
        raise JudgePromptError(f"{file}: the template must use exactly the fields {{setup}}, {{first}} and "
                               f"{{second}}, found {', '.join(sorted(named)) or 'none'}")
    return template


def read_answer(text: str) -> Answer:
    """The verdict on the answer's first line and the reason after it; UNREADABLE when there is no verdict."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines or not (found := _VERDICT.match(lines[0])):
        return Answer(Verdict.UNREADABLE, " ".join(lines)[:300])
    word = found.group(1).lower()
    verdict = {"a": Verdict.FIRST, "b": Verdict.SECOND}.get(word, Verdict.TIE)
    rest = lines[0][found.end():].strip(" .,:;-)")
    reason = " ".join([rest, *lines[1:2]]).strip() if rest else " ".join(lines[1:2])
    return Answer(verdict, reason[:300])
