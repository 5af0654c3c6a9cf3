"""The `pairwise` eval task: does the model prefer the chosen answer to the rejected one?

    {"kind": "pairwise", "pairs": [{"prompt", "chosen", "rejected"}, ...]}    (or "path": a JSONL in train/data)

A reward model scores each (prompt, answer) as one chat turn; a policy scores an answer by the sum of its
tokens' log-probabilities after the prompt formatted as in training. Accuracy is the share of pairs where
chosen scores above rejected; the mean margin is chosen minus rejected. Deterministic: no sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.core.jsonl import read_jsonl_models
from pipeline.core.problems import Problem
from pipeline.core.yaml_text import key_lines, line_of
from pipeline.evaluate.model import ModelHandle
from pipeline.evaluate.tasks import EvalJob, EvalTask, OnProgress, Progress, TaskOutput, register_task
from pipeline.formats.results import ResultsDoc


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1)
    chosen: str = Field(min_length=1)
    rejected: str = Field(min_length=1)


class PairwiseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["pairwise"]
    pairs: list[Pair] | None = Field(default=None, min_length=1)
    path: str | None = None  # a JSONL file in train/data, one pair per line
    configs: list[str] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PairwiseSpec:
        if (self.pairs is None) == (self.path is None):
            raise ValueError('give the pairs inline ("pairs") or as a file in train/data ("path"), one of them')
        return self


def pairs_file(name: str, task_path: Path) -> tuple[Path | None, str]:
    """`train/data/<name>` beside the task file's train/eval, or None and why: a bare file name, and (after
    symlinks) a file inside train/data, so a task file can never make the runner read anything else."""
    if not name or Path(name).name != name or name in (".", ".."):
        return None, f"must be a file name in train/data (no folders), got {name!r}"
    data_dir = (task_path.parent.parent / "data").resolve()
    source = (data_dir / name).resolve()
    if not source.is_relative_to(data_dir):
        return None, f"{name} leads outside train/data (a symlink?)"
    if not source.is_file():
        return None, f"no file {name} in train/data"
    return source, ""


def read_pairs_file(source: Path, display: str) -> tuple[list[Pair], list[Problem]]:
    """Every pair of a JSONL file, or a problem at each bad line."""
    numbered, problems = read_jsonl_models(source, display, Pair, "pairs")
    return [pair for _, pair in numbered], problems


@dataclass(frozen=True)
class PairwiseTaskSpec:
    """A checked task file: its name (results go under `evals.<name>`) and its pairs."""

    name: str
    pairs: list[Pair]


@dataclass
class PairwiseOutput(TaskOutput):
    scoring: str = ""
    scores: list[tuple[float, float]] = field(default_factory=list)


def score_rewards(model: ModelHandle, prompts: Sequence[str], answers: Sequence[str]) -> list[float]:
    """The reward model's score of each (prompt, answer) as one user turn and one assistant turn."""
    import torch

    texts = [model.tokenizer.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": a}],
                                                 tokenize=False) for p, a in zip(prompts, answers, strict=True)]
    batch = model.tokenizer(texts, return_tensors="pt", padding=True).to(model.model.device)
    with torch.no_grad():
        return model.model(**batch).logits[:, 0].float().tolist()


@register_task
class PairwiseTask(EvalTask[PairwiseTaskSpec, int, PairwiseOutput]):
    kind = "pairwise"
    on_scorers = True  # a reward model scores both answers of a pair, as a generator's log-likelihood does

    def check(self, path: Path, display: str) -> tuple[PairwiseTaskSpec | None, list[Problem]]:
        try:
            text = path.read_text(encoding="utf-8")
            spec = PairwiseSpec.model_validate_json(text)
        except (OSError, UnicodeDecodeError) as exc:
            return None, [Problem(display, None, "pairwise", f"cannot read it: {exc}")]
        except ValidationError as exc:
            lines = key_lines(text)
            keys = [(".".join(str(part) for part in e["loc"]) or "pairwise", e["msg"]) for e in exc.errors()]
            return None, list(dict.fromkeys(Problem(display, line_of(lines, key), key, message)
                                            for key, message in keys))
        if spec.pairs is not None:
            return PairwiseTaskSpec(path.stem, spec.pairs), []
        assert spec.path is not None
        source, why = pairs_file(spec.path, path)
        if source is None:
            return None, [Problem(display, line_of(key_lines(text), "path"), "path", why)]
        pairs, problems = read_pairs_file(source, str(Path(display).parent.parent / "data" / source.name))
        return (None, problems) if problems else (PairwiseTaskSpec(path.stem, pairs), [])

    def plan(self, spec: PairwiseTaskSpec) -> list[int]:
        return list(range(len(spec.pairs)))

    def run(self, job: EvalJob, spec: PairwiseTaskSpec, units: Sequence[int], model: ModelHandle,
            on_progress: OnProgress) -> PairwiseOutput:
        pairs = [spec.pairs[index] for index in units]
        prompts = [pair.prompt for pair in pairs]
        if model.scorer:
            chosen = score_rewards(model, prompts, [p.chosen for p in pairs])
            rejected = score_rewards(model, prompts, [p.rejected for p in pairs])
            scoring = "reward"
        else:
            from pipeline.evaluate.loglikelihood import continuation_ids, score_continuations
            from pipeline.evaluate.prompting import encode_prompts

            prompt_ids = encode_prompts(job.config.data, job.template_row, prompts, model.tokenizer)
            chosen = [s.loglikelihood for s in score_continuations(
                model, prompt_ids, continuation_ids(model, [p.chosen for p in pairs]), job.batch_size)]
            rejected = [s.loglikelihood for s in score_continuations(
                model, prompt_ids, continuation_ids(model, [p.rejected for p in pairs]), job.batch_size)]
            scoring = "loglikelihood"
        on_progress(Progress(self.kind, len(pairs), len(pairs), len(pairs), 0.0))
        return PairwiseOutput(computed=len(pairs), scoring=scoring, scores=list(zip(chosen, rejected, strict=True)))

    def assemble(self, job: EvalJob, spec: PairwiseTaskSpec, output: PairwiseOutput,
                 doc: ResultsDoc) -> ResultsDoc:
        n = len(output.scores)
        wins = sum(1 for chosen, rejected in output.scores if chosen > rejected)
        margin = sum(chosen - rejected for chosen, rejected in output.scores) / n if n else 0.0
        result: dict[str, Any] = {
            "kind": self.kind, "scoring": output.scoring,
            "metrics": {"accuracy": round(wins / n, 4) if n else 0.0, "mean_margin": round(margin, 4), "n": n},
            "scores": [{"chosen": round(c, 4), "rejected": round(r, 4)} for c, r in output.scores],
        }
        return doc.model_copy(update={"evals": {**doc.evals, spec.name: result}})
