"""The haha sweep (`train/eval/eval.json`): every prompt x every settings object x seeds 1..seedVariants.

The sweep's cells are independent (each has its own seed stream, see sampling.py), so they
are batched freely, checkpointed per batch to a sidecar (resume.py), and an interrupted
sweep resumes with exactly the cells it lacks.

Prompts with pictures (a vision config's) go through its processor (evaluate/prompting.py `vision_format`); each
cell carries its picture's inputs into the batch beside its ids, and the results record each picture's path and
sha256, which are part of the eval's fingerprint: a changed picture re-runs the sweep.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pipeline.core.problems import Problem
from pipeline.core.runs import adapter_sha256
from pipeline.data.images import ImageRef
from pipeline.evaluate.images import decode_image, has_images, image_problems, prompt_images
from pipeline.evaluate.model import EvalError, ModelHandle
from pipeline.evaluate.quality import quality
from pipeline.evaluate.resume import append_progress, read_progress, sidecar_path, start_progress
from pipeline.evaluate.spec import Cell, EvalSpec, check_eval, sweep_cells, sweep_cost
from pipeline.evaluate.tasks import EvalCost, EvalJob, EvalTask, OnProgress, Progress, TaskOutput, register_task
from pipeline.formats.results import PromptResult, ResultsDoc, SettingResult, diversity
from pipeline.formats.sampling import Request
from pipeline.models.vision_twin import is_vision_config

if TYPE_CHECKING:
    from pipeline.evaluate.sampling import ImageInputs


class PromptTooLongError(EvalError):
    pass


# -- pure planning ---------------------------------------------------------------------------------------------------

def first_words(text: str, count: int = 6) -> str:
    words = text.split()
    return " ".join(words[:count]) + ("…" if len(words) > count else "")


def check_context(spec: EvalSpec, prompt_ids: Sequence[Sequence[int]], context: int, cap: int | None) -> None:
    """Refuse, before any generation, a prompt that cannot fit the model's context with its completion."""
    longest = max(s.new_tokens(cap) for s in spec.settings)
    room = context - longest
    for index, ids in enumerate(prompt_ids):
        if len(ids) > room:
            raise PromptTooLongError(
                f'prompts[{index}] ("{first_words(spec.texts[index])}") is {len(ids)} tokens once formatted, '
                f"but the model's context of {context} tokens leaves {max(room, 0)} for the prompt when "
                f"generating up to {longest} new tokens; shorten the prompt in eval.json or lower max_new_tokens"
            )


def request_for(cell: Cell, spec: EvalSpec, prompt_ids: Sequence[Sequence[int]], cap: int | None) -> Request:
    setting = spec.settings[cell.setting]
    return Request(tuple(prompt_ids[cell.prompt]), cell.seed, setting.params(), setting.new_tokens(cap))


def plan_batches(cells: Sequence[Cell], requests: Mapping[Cell, Request], size: int) -> list[list[Cell]]:
    """Cells of similar prompt and completion length share a batch, so little compute goes to padding."""
    ordered = sorted(cells, key=lambda c: (len(requests[c].prompt_ids), requests[c].max_new_tokens, c))
    return [ordered[start:start + size] for start in range(0, len(ordered), size)]


def assemble(spec: EvalSpec, completions: Mapping[Cell, str],
             images: Sequence[ImageRef | None] = ()) -> list[PromptResult]:
    """The `results` array: prompts in eval.json order, settings in order, completions in seed order; a prompt's
    picture by its path under train/data and its sha256."""
    pictures = list(images) or [None] * len(spec.prompts)
    return [
        PromptResult(prompt=prompt, **({"image": ref.relative, "image_sha256": ref.sha256} if ref else {}),
                     settingsResults=[
            SettingResult(**setting.as_dict(), completions=[completions[Cell(p, s, seed)] for seed in spec.seeds])
            for s, setting in enumerate(spec.settings)
        ])
        for p, (prompt, ref) in enumerate(zip(spec.texts, pictures, strict=True))
    ]


# A special token repeated: a picture's placeholder, one per patch (576 for LLaVA-1.5's 336 px pictures).
REPEATED_TOKEN = re.compile(r"(<[^<>\s]{1,40}>)\1{3,}")


def runs_counted(text: str) -> str:
    """A prompt's text for the results file with each run of one special token written once with its count
    ("<image>(x576)"), so the example stays readable; the method beside it says how the prompt was made."""
    return REPEATED_TOKEN.sub(lambda run: f"{run.group(1)}(x{len(run.group(0)) // len(run.group(1))})", text)


def spec_sha256(spec: EvalSpec, images: Sequence[ImageRef | None] = ()) -> str:
    """What the completions depend on: prompts, settings, seeds, and each picture's bytes (not which file holds
    them or whom it is for). A spec without pictures hashes as it always has."""
    text = spec.model_dump_json(exclude={"kind", "configs"})
    if has_images(images):
        text += json.dumps([ref.sha256 if ref else None for ref in images])
    return hashlib.sha256(text.encode()).hexdigest()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- running ---------------------------------------------------------------------------------------------------------

TEXT_MODEL = ("a prompt with a picture, for a config that trains on text only (no processor_type): its model "
              "cannot see the picture; narrow \"configs\" to the configs that train on images")


def sweep_images(job: EvalJob, spec: EvalSpec, model: ModelHandle) -> list[ImageRef | None]:
    """Each prompt's checked picture; EvalError when there are pictures and the model cannot see them."""
    if not any(spec.images):
        return [None] * len(spec.prompts)
    index = next(i for i, image in enumerate(spec.images) if image)
    if model.processor is None:
        raise EvalError(f"prompts[{index}].image: {TEXT_MODEL}")
    if job.data_dir is None:
        raise EvalError(f"prompts[{index}].image: no data folder to read pictures from")
    return prompt_images(spec, job.data_dir)


class Encoded(NamedTuple):
    ids: list[list[int]]  # per prompt
    pictures: list[ImageInputs] | None  # per prompt, on a vision model
    method: str | None  # how a vision model's prompts were made (a text model's are recorded by run.py)


def encode_sweep(job: EvalJob, spec: EvalSpec, model: ModelHandle, images: Sequence[ImageRef | None]) -> Encoded:
    """Each prompt's ids as training formatted them, and on a vision model its picture's processor inputs."""
    from pipeline.evaluate.prompting import encode_prompts, vision_format

    if model.processor is None:
        return Encoded(encode_prompts(job.config.data, job.template_row, spec.texts, model.tokenizer), None, None)
    made = vision_format(job.config.data, job.template_row, model.processor, model.model.config.model_type)
    encoded = [made.encode_one(text, decode_image(ref, job.data_dir) if ref and job.data_dir else None)
               for text, ref in zip(spec.texts, images, strict=True)]
    return Encoded([ids for ids, _ in encoded], [inputs for _, inputs in encoded], made.method)


class Completion(NamedTuple):
    text: str
    hit_limit: bool  # ran to max_new_tokens without an end-of-turn token


def generate_cells(model: ModelHandle, batches: Sequence[Sequence[Cell]],
                   requests: Mapping[Cell, Request],
                   pictures: Mapping[Cell, ImageInputs] | None = None) -> Iterator[dict[Cell, Completion]]:
    """Completions batch by batch, so the caller can checkpoint each before the next starts.

    The sampler leaves the stop token out, so a row that stopped has fewer than max_new_tokens ids. A batch that
    runs out of GPU memory is retried in halves (the same cells: each row's random stream is its own), and every
    later batch keeps to the smaller size (`model.batch_limit`). `pictures` are a vision prompt's processor inputs.
    """
    for batch in batches:
        yield from _within_memory(model, list(batch), requests, pictures)


def _within_memory(model: ModelHandle, batch: list[Cell], requests: Mapping[Cell, Request],
                   pictures: Mapping[Cell, ImageInputs] | None) -> Iterator[dict[Cell, Completion]]:
    import torch

    from pipeline.evaluate.sampling import generate

    start = 0
    while start < len(batch):
        size = min(len(batch), model.batch_limit[-1]) if model.batch_limit else len(batch)
        chunk = batch[start:start + size]
        try:
            outputs = generate(model.model, [requests[c] for c in chunk], stop_ids=model.stop_ids,
                               pad_id=model.pad_id, images=[pictures[c] for c in chunk] if pictures else None)
        except torch.OutOfMemoryError:
            if len(chunk) == 1:
                raise EvalError("out of GPU memory generating for one prompt alone: lower the settings' "
                                "max_new_tokens, or run the eval on a class with more GPU memory") from None
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            model.batch_limit.append(len(chunk) // 2)
            continue  # the same cells again, in the smaller size
        start += len(chunk)
        texts = model.decode_all(outputs)
        yield {cell: Completion(text, len(ids) >= requests[cell].max_new_tokens)
               for cell, text, ids in zip(chunk, texts, outputs, strict=True)}


def resume_key(job: EvalJob, spec: EvalSpec, model: ModelHandle,
               images: Sequence[ImageRef | None] = ()) -> dict[str, object]:
    """What progress on disk must have been made under to be reused."""
    from pipeline.evaluate.sampling import SAMPLER_VERSION

    return {"config_sha256": job.config.sha256,
            "adapter_sha256": adapter_sha256(job.adapter_dir) if job.adapter_dir else None,
            "base_model": job.base_model, "eval_sha256": spec_sha256(spec, images),
            "max_new_tokens": job.max_new_tokens,
            "sampler": SAMPLER_VERSION, "device": model.describe(), "batch_size": job.batch_size,
            "records": RECORD_VERSION}


# The sidecar's line format, part of the resume key: version 2 records whether each cell hit its token limit.
RECORD_VERSION = 2


def cell_records(finished: Mapping[Cell, Completion]) -> list[dict[str, object]]:
    """Finished cells as sidecar lines."""
    return [{"prompt": c.prompt, "setting": c.setting, "seed": c.seed, "completion": done.text,
             "hit_limit": done.hit_limit} for c, done in finished.items()]


def cells_from(records: Sequence[Mapping[str, Any]]) -> dict[Cell, Completion]:
    return {Cell(r["prompt"], r["setting"], r["seed"]): Completion(r["completion"], bool(r.get("hit_limit")))
            for r in records}


@dataclass
class SweepOutput(TaskOutput):
    completions: dict[Cell, Completion] = field(default_factory=dict)
    started: str = ""
    seconds: float = 0.0
    images: list[ImageRef | None] = field(default_factory=list)  # each prompt's checked picture
    prompt_format: tuple[str, str] | None = None  # a vision model's: (method, the first prompt as the model saw it)


@register_task
class SweepTask(EvalTask[EvalSpec, Cell, SweepOutput]):
    kind = "sweep"

    def check(self, path: Path, display: str) -> tuple[EvalSpec | None, list[Problem]]:
        return check_eval(path, display)

    def check_files(self, spec: EvalSpec, path: Path, display: str, data_dir: Path) -> list[Problem]:
        return image_problems(spec, path, display, data_dir)

    def refusals(self, spec: EvalSpec, config: Mapping[str, Any]) -> list[tuple[str, str]]:
        if is_vision_config(config):
            return []
        return [(f"prompts[{index}].image", TEXT_MODEL) for index, image in enumerate(spec.images) if image]

    def plan(self, spec: EvalSpec) -> list[Cell]:
        return sweep_cells(spec)

    def cost(self, spec: EvalSpec) -> EvalCost:
        cells, new_tokens = sweep_cost(spec)
        return EvalCost(cells=cells, new_tokens=new_tokens)

    def run(self, job: EvalJob, spec: EvalSpec, units: Sequence[Cell], model: ModelHandle,
            on_progress: OnProgress) -> SweepOutput:
        clock = time.monotonic()
        images = sweep_images(job, spec, model)
        prompt_ids, inputs, method = encode_sweep(job, spec, model, images)
        check_context(spec, prompt_ids, model.context, job.max_new_tokens)
        key = resume_key(job, spec, model, images)
        sidecar = sidecar_path(job.out_path)
        records, started = read_progress(sidecar, key)
        if started is None:
            started = now()
            start_progress(sidecar, key, started)
        completions = cells_from(records)
        requests = {cell: request_for(cell, spec, prompt_ids, job.max_new_tokens) for cell in units}
        todo = [cell for cell in units if cell not in completions]
        output = SweepOutput(resumed=len(units) - len(todo), completions=completions, started=started, images=images,
                             prompt_format=(method, runs_counted(model.tokenizer.decode(prompt_ids[0],
                                                                                         skip_special_tokens=False)))
                             if method else None)
        pictures = {cell: inputs[cell.prompt] for cell in units} if inputs is not None else None
        for finished in generate_cells(model, plan_batches(todo, requests, job.batch_size), requests, pictures):
            append_progress(sidecar, cell_records(finished))
            completions.update(finished)
            output.computed += len(finished)
            output.seconds = time.monotonic() - clock
            on_progress(Progress(self.kind, len(completions), len(units), output.computed, output.seconds))
            if job.time_limit is not None and output.seconds > job.time_limit and len(completions) < len(units):
                raise EvalError(f"evaluation ran past its limit of {job.time_limit:.0f} s with {len(completions)} of "
                                f"{len(units)} cells done; they are kept, so running it again resumes (raise "
                                "[tool.haha] eval_timeout_s or HAHA_EVAL_TIMEOUT_S if it needs longer)")
        output.seconds = time.monotonic() - clock
        return output

    def assemble(self, job: EvalJob, spec: EvalSpec, output: SweepOutput, doc: ResultsDoc) -> ResultsDoc:
        results = assemble(spec, {cell: done.text for cell, done in output.completions.items()}, output.images)
        hit_limit = {(c.prompt, c.setting, c.seed - 1): done.hit_limit for c, done in output.completions.items()}
        meta = (doc.meta.model_copy(update={
            "seeds": spec.seeds, "started": output.started, "diversity": diversity(results),
            "eval_sha256": spec_sha256(spec, output.images),
            **(dict(zip(("prompt_format", "prompt_example"), output.prompt_format, strict=True))
               if output.prompt_format else {}),
            "quality": quality(results, hit_limit),
            "timings": {**doc.meta.timings, "sweep_s": round(output.seconds, 3),
                        "completions_per_s": round(output.computed / output.seconds, 2)
                        if output.seconds > 0 and output.computed else 0.0,
                        "cells_computed": output.computed, "cells_resumed": output.resumed},
        }) if doc.meta else None)
        return doc.model_copy(update={"results": results, "meta": meta})

    def finish(self, job: EvalJob) -> None:
        sidecar_path(job.out_path).unlink(missing_ok=True)
