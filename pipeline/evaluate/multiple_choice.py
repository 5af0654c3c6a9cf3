"""The `multiple_choice` eval task: accuracy on items with one right choice, as the caption-contest tasks score it.

    {"kind": "multiple_choice", "scoring": "loglikelihood" | "letter",
     "items": [{"id", "prompt", "choices": [...], "answer": index}, ...]}      (or "path": a JSONL in train/data)

`loglikelihood` scores each choice as the continuation of the prompt (formatted as in training),
as lm-evaluation-harness does: `accuracy` is the share of items whose right choice has the highest
summed log-likelihood, `accuracy_norm` the same per character of the choice. `letter` lists the
choices as `A) ... B) ...` under the prompt and takes the model's preference among the letters'
first tokens as the answer's first token (what a model fine-tuned to answer with a letter
outputs). Results: `evals.<name>` with `metrics` (and a 95 % bootstrap interval over items) and
`predictions` `{id: "B"}`. Batched and deterministic.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.core.files import write_atomic
from pipeline.core.jsonl import read_jsonl_models
from pipeline.core.problems import Problem
from pipeline.core.stats import bootstrap_interval
from pipeline.core.yaml_text import key_lines, line_of
from pipeline.evaluate.model import ModelHandle
from pipeline.evaluate.pairwise import pairs_file
from pipeline.evaluate.tasks import EvalCost, EvalJob, EvalTask, OnProgress, Progress, TaskOutput, register_task
from pipeline.formats.results import ResultsDoc, load_results

KIND = "multiple_choice"
LETTERS = string.ascii_uppercase
BOOTSTRAP_RESAMPLES = 1000


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    choices: list[str] = Field(min_length=2, max_length=len(LETTERS))
    answer: int = Field(ge=0, strict=True)

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> Item:
        if self.answer >= len(self.choices):
            raise ValueError(f"answer {self.answer} is not one of the {len(self.choices)} choices (0-based)")
        if any(not choice.strip() for choice in self.choices):
            raise ValueError("a choice is blank")
        return self


class MultipleChoiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["multiple_choice"]
    scoring: Literal["loglikelihood", "letter"] = "loglikelihood"
    items: list[Item] | None = Field(default=None, min_length=1)
    path: str | None = None
    configs: list[str] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MultipleChoiceSpec:
        if (self.items is None) == (self.path is None):
            raise ValueError('give the items inline ("items") or as a file in train/data ("path"), one of them')
        ids = [item.id for item in self.items or []]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids repeat: each item needs its own id")
        return self


@dataclass(frozen=True)
class MultipleChoiceTaskSpec:
    name: str
    scoring: str
    items: list[Item]


def read_items(source: Path, display: str) -> tuple[list[Item], list[Problem]]:
    """Every item of a JSONL file, or a problem at each bad line (ids must not repeat)."""
    numbered, problems = read_jsonl_models(source, display, Item, "items")
    first_line: dict[str, int] = {}
    for number, item in numbered:
        if (first := first_line.setdefault(item.id, number)) != number:
            problems.append(Problem(display, number, "id", f"id {item.id!r} was already used on line {first}"))
    return [item for _, item in numbered], problems


def letter_prompt(item: Item) -> str:
    listed = "\n".join(f"{LETTERS[i]}) {choice}" for i, choice in enumerate(item.choices))
    return f"{item.prompt}\n{listed}\nAnswer with the letter."


class ChoiceMetrics(BaseModel):
    accuracy: float
    accuracy_interval: tuple[float, float]  # 95 % bootstrap interval over items
    n: int
    accuracy_norm: float | None = None  # loglikelihood scoring only: per character of the choice


class ChoiceResult(BaseModel):
    """`evals.<name>` of a multiple_choice task in a results file."""

    kind: Literal["multiple_choice"] = "multiple_choice"
    scoring: str
    metrics: ChoiceMetrics
    predictions: dict[str, str]  # item id -> the chosen letter: the caption-contest tools' predictions file
    scores: list[list[float]]


def predictions_of(doc: ResultsDoc) -> dict[str, dict[str, str]]:
    """Each multiple_choice task's predictions in a results file, by task name."""
    return {name: ChoiceResult.model_validate(result).predictions for name, result in doc.evals.items()
            if isinstance(result, dict) and result.get("kind") == KIND}


def write_predictions(results_path: Path, folder: Path) -> list[Path]:
    """`folder/<task>.json` for each multiple_choice task of a results file: the bare `{id: letter}` mapping."""
    written = []
    for name, mapping in predictions_of(load_results(results_path)).items():
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path := folder / f"{name}.json", json.dumps(mapping, indent=2) + "\n")
        written.append(path)
    return written


@dataclass
class ChoiceScores(TaskOutput):
    """Per item, each choice's score (summed log-likelihood) and its length in characters."""

    scores: list[list[float]] = field(default_factory=list)
    lengths: list[list[int]] = field(default_factory=list)


def share_true(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags)


def argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


@register_task
class MultipleChoiceTask(EvalTask[MultipleChoiceTaskSpec, int, ChoiceScores]):
    kind = KIND

    def check(self, path: Path, display: str) -> tuple[MultipleChoiceTaskSpec | None, list[Problem]]:
        try:
            text = path.read_text(encoding="utf-8")
            spec = MultipleChoiceSpec.model_validate_json(text)
        except (OSError, UnicodeDecodeError) as exc:
            return None, [Problem(display, None, KIND, f"cannot read it: {exc}")]
        except ValidationError as exc:
            lines = key_lines(text)
            keys = [(".".join(str(part) for part in e["loc"]) or KIND, e["msg"]) for e in exc.errors()]
            return None, list(dict.fromkeys(Problem(display, line_of(lines, key), key, message)
                                            for key, message in keys))
        if spec.items is not None:
            return MultipleChoiceTaskSpec(path.stem, spec.scoring, spec.items), []
        assert spec.path is not None
        source, why = pairs_file(spec.path, path)
        if source is None:
            return None, [Problem(display, line_of(key_lines(text), "path"), "path", why)]
        items, problems = read_items(source, str(Path(display).parent.parent / "data" / source.name))
        return (None, problems) if problems else (MultipleChoiceTaskSpec(path.stem, spec.scoring, items), [])

    def plan(self, spec: MultipleChoiceTaskSpec) -> list[int]:
        return list(range(len(spec.items)))

    def cost(self, spec: MultipleChoiceTaskSpec) -> EvalCost:
        return EvalCost(items=len(spec.items))

    def run(self, job: EvalJob, spec: MultipleChoiceTaskSpec, units: Sequence[int], model: ModelHandle,
            on_progress: OnProgress) -> ChoiceScores:
        from pipeline.evaluate.loglikelihood import continuation_ids, score_continuations
        from pipeline.evaluate.prompting import encode_prompts

        items = [spec.items[index] for index in units]
        letter = spec.scoring == "letter"
        texts = [letter_prompt(i) if letter else i.prompt for i in items]
        prompts = encode_prompts(job.config.data, job.template_row, texts, model.tokenizer)
        answers = [list(LETTERS[: len(i.choices)]) if letter else i.choices for i in items]
        contexts = [prompts[n] for n, options in enumerate(answers) for _ in options]
        continuations = continuation_ids(model, [option for options in answers for option in options])
        if letter:  # the letter's first token is the answer's first token
            continuations = [ids[:1] for ids in continuations]
        flat = score_continuations(model, contexts, continuations, job.batch_size)
        output = ChoiceScores(computed=len(items))
        position = 0
        for options in answers:
            output.scores.append([s.loglikelihood for s in flat[position:position + len(options)]])
            output.lengths.append([len(option) for option in options])
            position += len(options)
        on_progress(Progress(self.kind, len(items), len(items), len(items), 0.0))
        return output

    def assemble(self, job: EvalJob, spec: MultipleChoiceTaskSpec, output: ChoiceScores,
                 doc: ResultsDoc) -> ResultsDoc:
        chosen = [argmax(scores) for scores in output.scores]
        correct = [pick == item.answer for pick, item in zip(chosen, spec.items, strict=True)]
        n = len(correct)
        low, high = bootstrap_interval(correct, share_true, BOOTSTRAP_RESAMPLES)
        normed = None
        if spec.scoring == "loglikelihood":
            normed = [argmax([s / max(length, 1) for s, length in zip(scores, lengths, strict=True)])
                      for scores, lengths in zip(output.scores, output.lengths, strict=True)]
        metrics = ChoiceMetrics(
            accuracy=round(sum(correct) / n, 4) if n else 0.0, accuracy_interval=(round(low, 4), round(high, 4)), n=n,
            accuracy_norm=None if normed is None or not n else
            round(sum(p == i.answer for p, i in zip(normed, spec.items, strict=True)) / n, 4))
        result = ChoiceResult(
            scoring=spec.scoring, metrics=metrics,
            predictions={item.id: LETTERS[pick] for item, pick in zip(spec.items, chosen, strict=True)},
            scores=[[round(s, 4) for s in scores] for scores in output.scores]).model_dump(exclude_none=True)
        return doc.model_copy(update={"evals": {**doc.evals, spec.name: result}})
