"""The `best_of_n` eval task: N sampled candidates per sweep cell, each scored by a reward model; keep the best.

    {"kind": "best_of_n", "prompts": [...], "settings": [...], "seedVariants": k, "n": N,
     "rewardModel": "<reward config basename>"}

Candidate i of the cell with seed s samples with its own seed (s itself for i = 0, so candidate 0
is the sweep's completion for that cell), and the sampler draws each row's random numbers from its
seed alone: a cell's candidates are the same whether the cell runs alone or in the full task.
The reward model is the reward config's published adapter (the driver resolves it before the run),
loaded as a sequence classifier next to the policy. Candidates and rewards are checkpointed per
batch, so a cut-off task resumes with the cells it lacks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from pipeline.core.problems import Problem
from pipeline.evaluate.model import EvalError, ModelHandle, load_model
from pipeline.evaluate.resume import SIDECAR_SUFFIX, append_progress, read_progress, sidecar_path, start_progress
from pipeline.evaluate.spec import Cell, EvalSpec, PromptText, check_eval, sweep_cells, sweep_cost
from pipeline.evaluate.sweep import check_context, generate_cells, plan_batches, request_for, resume_key
from pipeline.evaluate.tasks import EvalCost, EvalJob, EvalTask, OnProgress, Progress, Scorer, TaskOutput, register_task
from pipeline.formats.results import ResultsDoc
from pipeline.formats.sampling import Request

MAX_CANDIDATES = 64
# Candidate i > 0 of seed s samples with s + i * SEED_STRIDE: never another cell's seed (seeds stop at 1,000).
SEED_STRIDE = 1 << 20


class BestOfNSpec(EvalSpec):
    kind: Literal["best_of_n"]  # type: ignore[assignment]
    n: int = Field(ge=1, le=MAX_CANDIDATES, strict=True)
    rewardModel: str = Field(min_length=1)
    # Text prompts only: the reward model that picks the best candidate reads text, never the picture.
    prompts: list[PromptText] = Field(min_length=1)  # type: ignore[assignment]


@dataclass(frozen=True)
class BestOfNTaskSpec:
    name: str
    spec: BestOfNSpec


@dataclass(frozen=True, order=True)
class Candidate:
    cell: Cell
    index: int


def candidate_seed(seed: int, index: int) -> int:
    return seed + index * SEED_STRIDE


@dataclass(frozen=True)
class Scored:
    text: str
    reward: float


@dataclass
class BestOfNOutput(TaskOutput):
    scored: dict[Candidate, Scored] = field(default_factory=dict)
    scorer: Scorer | None = None
    seconds: float = 0.0


def candidates_of(spec: BestOfNSpec, cells: Sequence[Cell]) -> list[Candidate]:
    return [Candidate(cell, index) for cell in cells for index in range(spec.n)]


def candidate_request(candidate: Candidate, spec: BestOfNSpec, prompt_ids: Sequence[Sequence[int]],
                      cap: int | None) -> Request:
    base = request_for(candidate.cell, spec, prompt_ids, cap)
    return Request(base.prompt_ids, candidate_seed(candidate.cell.seed, candidate.index), base.params,
                   base.max_new_tokens)


def score_batched(scorer: ModelHandle, prompts: Sequence[str], answers: Sequence[str], size: int) -> list[float]:
    from pipeline.evaluate.pairwise import score_rewards

    found: list[float] = []
    for start in range(0, len(answers), size):
        found += score_rewards(scorer, prompts[start:start + size], answers[start:start + size])
    return found


def records_of(scored: Mapping[Candidate, Scored]) -> list[dict[str, object]]:
    return [{"prompt": c.cell.prompt, "setting": c.cell.setting, "seed": c.cell.seed, "index": c.index,
             "completion": s.text, "reward": s.reward} for c, s in scored.items()]


def scored_from(records: Sequence[Mapping[str, Any]]) -> dict[Candidate, Scored]:
    return {Candidate(Cell(r["prompt"], r["setting"], r["seed"]), r["index"]): Scored(r["completion"], r["reward"])
            for r in records}


@register_task
class BestOfNTask(EvalTask[BestOfNTaskSpec, Cell, BestOfNOutput]):
    kind = "best_of_n"

    def check(self, path: Path, display: str) -> tuple[BestOfNTaskSpec | None, list[Problem]]:
        spec, problems = check_eval(path, display, BestOfNSpec)
        return (BestOfNTaskSpec(path.stem, spec) if spec is not None else None), problems

    def plan(self, spec: BestOfNTaskSpec) -> list[Cell]:
        return sweep_cells(spec.spec)

    def cost(self, spec: BestOfNTaskSpec) -> EvalCost:
        cells, new_tokens = sweep_cost(spec.spec, spec.spec.n)
        return EvalCost(cells=cells, new_tokens=new_tokens, candidates=cells * spec.spec.n)

    def run(self, job: EvalJob, spec: BestOfNTaskSpec, units: Sequence[Cell], model: ModelHandle,
            on_progress: OnProgress) -> BestOfNOutput:
        from pipeline.evaluate.prompting import encode_prompts

        clock = time.monotonic()
        task = spec.spec
        scorer_ref = job.scorers.get(task.rewardModel)
        if scorer_ref is None:
            raise EvalError(f"{spec.name}: the reward model {task.rewardModel} has no published adapter to score "
                            "with: run that config first")
        prompt_ids = encode_prompts(job.config.data, job.template_row, task.texts, model.tokenizer)
        check_context(task, prompt_ids, model.context, job.max_new_tokens)
        key = {**resume_key(job, task, model), "n": task.n, "reward_revision": scorer_ref.ref.revision}
        sidecar = sidecar_path(job.out_path, spec.name)
        records, started = read_progress(sidecar, key)
        if started is None:
            start_progress(sidecar, key, "")
        scored = scored_from(records)
        todo_cells = [cell for cell in units
                      if any(Candidate(cell, i) not in scored for i in range(task.n))]
        output = BestOfNOutput(resumed=len(units) - len(todo_cells), scored=scored, scorer=scorer_ref)
        if todo_cells:
            scorer = load_model(scorer_ref.base_model, scorer_ref.adapter_dir, scorer=True)
            candidates = candidates_of(task, todo_cells)
            requests = {c: candidate_request(c, task, prompt_ids, job.max_new_tokens) for c in candidates}
            for finished in generate_cells(model, plan_batches(candidates, requests, job.batch_size), requests):
                ordered = sorted(finished)
                rewards = score_batched(scorer, [task.texts[c.cell.prompt] for c in ordered],
                                        [finished[c].text for c in ordered], job.batch_size)
                batch = {c: Scored(finished[c].text, round(r, 4)) for c, r in zip(ordered, rewards, strict=True)}
                append_progress(sidecar, records_of(batch))
                scored.update(batch)
                output.computed += len(batch)
                output.seconds = time.monotonic() - clock
                done = len({c.cell for c in scored})
                on_progress(Progress(self.kind, done, len(units), output.computed, output.seconds))
        output.seconds = time.monotonic() - clock
        return output

    def assemble(self, job: EvalJob, spec: BestOfNTaskSpec, output: BestOfNOutput, doc: ResultsDoc) -> ResultsDoc:
        task = spec.spec
        cells = []
        best_rewards, first_rewards, all_rewards = [], [], []
        for cell in sweep_cells(task):
            candidates = [output.scored[Candidate(cell, i)] for i in range(task.n)]
            chosen = max(range(task.n), key=lambda i: (candidates[i].reward, -i))
            best_rewards.append(candidates[chosen].reward)
            first_rewards.append(candidates[0].reward)
            all_rewards += [c.reward for c in candidates]
            cells.append({"prompt": task.texts[cell.prompt], "setting": cell.setting, "seed": cell.seed,
                          "chosen": chosen,
                          "candidates": [{"text": c.text, "reward": c.reward} for c in candidates]})
        scorer = output.scorer
        result: dict[str, Any] = {
            "kind": self.kind, "n": task.n,
            "rewardModel": {"config": task.rewardModel, "repo": scorer.ref.repo_id if scorer else None,
                            "revision": scorer.ref.revision if scorer else None},
            "settings": [setting.as_dict() for setting in task.settings],
            "metrics": {"mean_best_reward": rounded_mean(best_rewards),
                        "mean_first_reward": rounded_mean(first_rewards), "mean_reward": rounded_mean(all_rewards),
                        "gain": round(rounded_mean(best_rewards) - rounded_mean(first_rewards), 4),
                        "cells": len(cells), "candidates": len(all_rewards)},
            "cells": cells,
        }
        return doc.model_copy(update={"evals": {**doc.evals, spec.name: result}})

    def finish(self, job: EvalJob) -> None:
        for sidecar in job.out_path.parent.glob(f"{job.out_path.name}.*{SIDECAR_SUFFIX}"):
            if sidecar.name != sidecar_path(job.out_path).name:
                sidecar.unlink(missing_ok=True)


def rounded_mean(values: Sequence[float]) -> float:
    """The mean to 4 decimals, as results files write rewards (0 for none)."""
    return round(sum(values) / len(values), 4) if values else 0.0
