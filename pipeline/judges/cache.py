"""Every LLM judgment ever made, kept so a re-run asks nothing twice: `<results>/judgments/<judge>/answers.jsonl`.

An answer is keyed by the sha256 of what decides it: the judge's model and the question exactly as asked (the
prompt template filled with the joke's setup and the two punchlines in the order shown). The judge's own text is
kept and read into a verdict on loading, so a better reader (judges/prompt.py) applies to every answer ever
cached. A line is appended and flushed as each answer arrives, so a run killed midway loses at most the answer in
flight, and the next run asks only what is missing. A torn last line (the kill came mid-write) is skipped on
reading; a key is never written twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.judges.prompt import Answer, read_answer

FILE = "answers.jsonl"
KEPT_CHARS = 2000  # of the judge's text: a verdict and its reason come first; a rambling judge is cut


def answer_key(model: str, question: str) -> str:
    return hashlib.sha256(json.dumps([model, question]).encode()).hexdigest()


class CachedAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    text: str  # what the judge answered


class AnswerCache:
    """The answers of one judge, read once and appended to."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE
        self.answers: dict[str, Answer] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                found = CachedAnswer.model_validate_json(line)
            except ValidationError:
                continue  # a torn last line, or a line this code did not write
            self.answers.setdefault(found.key, read_answer(found.text))

    def get(self, key: str) -> Answer | None:
        return self.answers.get(key)

    def add(self, key: str, text: str) -> None:
        """Keep the judge's `text` for `key`, unless an answer is already kept."""
        if key in self.answers:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = CachedAnswer(key=key, text=text[:KEPT_CHARS]).model_dump_json()
        with open(self.path, "a+b") as out:
            out.seek(0, os.SEEK_END)
            if out.tell():
                out.seek(-1, os.SEEK_END)
                if out.read(1) != b"\n":
                    out.write(b"\n")  # close a torn line so this answer starts its own
            out.write(line.encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
        self.answers[key] = read_answer(text[:KEPT_CHARS])
