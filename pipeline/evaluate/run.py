"""The eval driver: load the model once, run each task that applies, write one results file atomically.

The results file holds the sweep's `config` and `results` (the haha format outside readers
parse), `meta` (where the numbers came from) and, for other tasks, `evals.<name>`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.core.files import write_atomic
from pipeline.core.runs import adapter_sha256
from pipeline.evaluate.model import EvalError, ModelHandle, backend_name, load_model
from pipeline.evaluate.prompting import prompt_example
from pipeline.evaluate.tasks import EvalJob, OnProgress, TaskFile, registered
from pipeline.formats.results import (
    ConfigBlock,
    LossCurve,
    Meta,
    ResultsDoc,
    config_block,
    dumps_results,
    hyperparameters_of,
)
from pipeline.models.vision_twin import is_vision_config


@dataclass(frozen=True)
class EvalReport:
    """What an eval did: the results file, and units done now, resumed from disk, and in all."""

    path: Path
    units: int
    computed: int
    resumed: int
    seconds: float


def load_specs(files: Sequence[TaskFile]) -> list[tuple[TaskFile, Any]]:
    """Each task file's spec, checked by its kind; a broken file stops the eval before the model loads."""
    tasks = registered()
    specs = []
    for file in files:
        spec, problems = tasks[file.kind].check(file.path, str(file.path))
        if spec is None:
            raise EvalError("\n".join(str(p) for p in problems))
        specs.append((file, spec))
    return specs


def first_doc(job: EvalJob, model: ModelHandle, load_seconds: float, first_prompt: str | None = None) -> ResultsDoc:
    """The results document before any task: the config block, where the numbers will come from, and how prompts
    are made, with the exact text of the first one (a scorer is never prompted)."""
    if first_prompt is not None and not job.scorer:
        method, example = prompt_example(job.config.data, job.template_row, first_prompt, model.tokenizer)
    else:
        method = example = None
    trained = job.reference is None  # a base-model reference trained nothing: no hyperparameters to record
    provenance = job.provenance
    meta = Meta(
        config_sha256=job.config.sha256, base_model=provenance.base_model or job.base_model,
        hub_repo=provenance.hub_repo,
        hub_revision=provenance.hub_revision,
        adapter_source=provenance.adapter_source or (str(job.adapter_dir) if job.adapter_dir else None),
        adapter_sha256=adapter_sha256(job.adapter_dir) if job.adapter_dir else None,
        wandb_run=provenance.wandb_run, backend=backend_name(), device=model.describe(),
        started=datetime.now(UTC).isoformat(timespec="seconds"), timings={"load_s": round(load_seconds, 3)},
        pipeline_version=__version__, hyperparameters=hyperparameters_of(job.config.data) if trained else None,
        training_loss=LossCurve(steps=list(provenance.loss_steps), loss=list(provenance.losses),
                                reward=list(provenance.rewards) or None)
        if provenance.losses else None, reference=job.reference, parent=provenance.parent,
        reward_model=provenance.reward_model,
        prompt_format=method, prompt_example=example,
        trained_with=dict(provenance.trained_with) if provenance.trained_with else None)
    block = ConfigBlock(**config_block(job.basename, job.config.data if trained else {}))
    doc = ResultsDoc(config=block, results=[], meta=meta)
    return doc


def evaluate(job: EvalJob, files: Sequence[TaskFile], on_progress: OnProgress = lambda _p: None) -> EvalReport:
    """Run (or resume) every task in `files` for one config and write its results file."""
    clock = time.monotonic()
    specs = load_specs(files)
    model = load_model(job.base_model, job.adapter_dir, job.scorer, job.load, vision=is_vision_config(job.config.data))
    loaded = time.monotonic() - clock
    # A vision model's prompts are made by its processor: the sweep records their format itself.
    first_prompt = next((spec.texts[0] for file, spec in specs if file.kind == "sweep" and spec.prompts
                         and model.processor is None), None)
    doc = first_doc(job, model, loaded, first_prompt)
    tasks = registered()
    units = computed = resumed = 0
    for file, spec in specs:
        task = tasks[file.kind]
        planned = task.plan(spec)
        output = task.run(job, spec, planned, model, on_progress)
        doc = task.assemble(job, spec, output, doc)
        units, computed, resumed = units + len(planned), computed + output.computed, resumed + output.resumed
    assert doc.meta is not None
    cost = job.provenance.cost
    doc = doc.model_copy(update={"meta": doc.meta.model_copy(update={
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "eval_batch_size": model.batch_limit[-1] if model.batch_limit else job.batch_size,
        "cost": cost.model_copy(update={"eval_seconds": round(time.monotonic() - clock, 1)}) if cost else None})})
    write_atomic(job.out_path, dumps_results(doc))
    for file, _spec in specs:
        tasks[file.kind].finish(job)
    return EvalReport(job.out_path, units, computed, resumed, time.monotonic() - clock)
