"""The evaluate stage, and `haha evaluate --base`'s base-model reference: which tasks apply, the job for the eval
driver, and the samples the run's closing table shows beside the base model's.

The one stage that loads models in this process (the adapter for every task, then the base model for the
before/after samples); the reward models that score a task are other configs' published adapters.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from pipeline.config.kinds import kind_of
from pipeline.config.loading import ConfigLoadError, load_config
from pipeline.core.errors import StageError
from pipeline.core.naming import is_basename
from pipeline.core.quiet import import_training_stack
from pipeline.core.runs import adapter_problem, adapter_sha256
from pipeline.data.rows import first_row
from pipeline.evaluate.before_after import base_completions
from pipeline.evaluate.images import prompt_images
from pipeline.evaluate.model import EvalError, eval_load, gpu_memory_gb
from pipeline.evaluate.run import evaluate
from pipeline.evaluate.spec import Cell, EvalSpec, load_eval, sample_cells
from pipeline.evaluate.sweep import spec_sha256
from pipeline.evaluate.tasks import EvalJob, Progress, Provenance, Scorer, TaskFile, task_files, tasks_for
from pipeline.formats.results import ResultsError, load_results, trained_settings
from pipeline.models.vision_twin import is_vision_config
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.outcome import EvalOutcome, Sample, StageName, StageResult, StageStatus
from pipeline.orchestration.parents import published_ref, trained_on_problem
from pipeline.orchestration.state import ConfigState, Step
from pipeline.publish.fetch import fetch_adapter
from pipeline.train.merge import merged_from


def already_evaluated(results_path: Path, config_sha256: str, eval_sha256: str | None,
                      adapter: str | None = None) -> bool:
    """Finished for this config, and (when the file recorded them) for this sweep spec and this adapter: an adapter
    retrained on another stand-in model is evaluated anew."""
    try:
        meta = load_results(results_path).meta
    except ResultsError:
        return False
    return (meta is not None and meta.config_sha256 == config_sha256 and bool(meta.finished)
            and (meta.eval_sha256 is None or eval_sha256 is None or meta.eval_sha256 == eval_sha256)
            and (meta.adapter_sha256 is None or adapter is None or meta.adapter_sha256 == adapter))


def applicable_tasks(ctx: RunContext, state: ConfigState) -> list[TaskFile]:
    """`--eval FILE` alone, else every task file in train/eval that applies to this config."""
    if ctx.eval.eval_file is not None:
        return [TaskFile("eval", ctx.eval.eval_file, "sweep")]
    kind = kind_of(state.loaded.data)
    files = []
    for path, task, why in task_files(ctx.settings.eval_dir):
        if task is None:
            raise StageError(f"{path}: {why}")
        files.append(task)
    # The other default tasks ask text questions (joke pairs, matching punchlines) a captioner was not trained on;
    # a task file that names the config in "configs" still applies.
    defaults = ("sweep",) if is_vision_config(state.loaded.data) else kind.default_tasks
    selected = tasks_for(state.run.basename, defaults, files)
    if not selected:
        raise StageError(f"no eval task in {ctx.settings.eval_dir} applies to {state.run.basename}")
    sweeps = [task.path.name for task in selected if task.kind == "sweep"]
    if len(sweeps) > 1:  # a results file has one `results` array: the sweep's
        raise StageError(f"{state.run.basename}: {', '.join(sweeps)} are all sweeps for it; a config gets one "
                         "sweep (limit the others with \"configs\")")
    return selected


def scorer_for(ctx: RunContext, path: Path, role: str) -> Scorer:
    """A reward config's published adapter (fetched once per revision) on the base model it was trained on (a
    smoke run's stand-in in smoke runs); `role` says who needs it, for the error."""
    name = path.stem
    if not is_basename(name) or path.resolve().parent != ctx.settings.config_dir.resolve():
        raise StageError(f"{role} must be the basename of a config in train/config, got {path}")
    try:
        config = load_config(path)
    except (ConfigLoadError, OSError) as exc:
        raise StageError(f"{role} {name}: cannot read {path}: {exc}") from None
    ref = published_ref(ctx.results_dir, name, role, f"haha run {path}{ctx.flags}", ctx.settings.hub_org)
    base = ctx.training_base(config)
    if (mismatch := trained_on_problem(ctx, name, role, base)) is not None:
        raise StageError(mismatch)
    adapter = ctx.workspace / ".scorers" / f"{name}-{ref.revision[:12]}"
    if adapter_problem(adapter) is not None:
        fetch_adapter(ctx.hub, ref.repo_id, ref.revision, adapter)
    return Scorer(ref, base, adapter)


def scorers_for(ctx: RunContext, tasks: list[TaskFile]) -> dict[str, Scorer]:
    """The reward models the tasks score with."""
    names = sorted({task.reward_model for task in tasks if task.reward_model})
    return {name: scorer_for(ctx, ctx.settings.config_dir / f"{name}.yml", "the reward model") for name in names}


def job_for(ctx: RunContext, state: ConfigState, results_path: Path, tasks: list[TaskFile]) -> EvalJob:
    adapter = ctx.eval.adapter_dir
    if adapter is None:
        state.require_trained(ctx)
        adapter = state.run.adapter_dir
    published = state.published_for(adapter_sha256(adapter)) if adapter.is_dir() else None
    wandb = state.wandb_reference(ctx) if ctx.eval.adapter_dir is None else None
    record = state.run.completion() if ctx.eval.adapter_dir is None else None
    base = state.eval_base_model(ctx)
    trained = state.trained_config() if record else None
    provenance = Provenance(
        hub_repo=published.repo_id if published else None, hub_revision=published.revision if published else None,
        adapter_source=published.url if published else None, wandb_run=wandb.recorded_as if wandb else None,
        loss_steps=tuple(record.loss_steps) if record else (), losses=tuple(record.losses) if record else (),
        parent=record.parent if record else None, reward_model=record.reward_model if record else None,
        rewards=tuple(record.rewards) if record and record.reward_steps == record.loss_steps else (),
        base_model=merged_from(Path(base)) if record and record.parent else None,
        cost=record.cost() if record else None,
        trained_with=trained_settings(state.loaded.data, trained) if trained is not None else None)
    return EvalJob(state.loaded, state.run.basename, base, adapter, results_path,
                   ctx.eval.batch_size, ctx.eval.max_new_tokens, provenance, ctx.settings.eval_timeout_s,
                   scorer=kind_of(state.loaded.data).scorer, scorers=scorers_for(ctx, tasks),
                   template_row=first_row(state.loaded.data, ctx.settings), data_dir=ctx.settings.data_dir,
                   load=eval_load(state.loaded.data, gpu_memory_gb()))


def eval_step(progress: Progress) -> Step:
    """An eval task's progress as a counted step: its cells (prompt x setting x seed) or items."""
    return Step(f"eval {progress.task}", progress.done, progress.total)


def sweep_spec(tasks: list[TaskFile]) -> EvalSpec | None:
    sweep = next((task for task in tasks if task.kind == "sweep"), None)
    return load_eval(sweep.path) if sweep else None


def sweep_sha256(tasks: list[TaskFile], data_dir: Path) -> str | None:
    """The sweep's fingerprint, its pictures' bytes included (a changed picture makes the results stale)."""
    try:
        spec = sweep_spec(tasks)
        return spec_sha256(spec, prompt_images(spec, data_dir)) if spec else None
    except (ValueError, EvalError) as exc:
        raise StageError(str(exc)) from None


def samples_from(ctx: RunContext, results_path: Path, tasks: list[TaskFile],
                 base: dict[Cell, str] | None = None) -> tuple[Sample, ...]:
    """The sweep's sample cells for the closing table, with the base model's completions beside them when given."""
    try:
        doc = load_results(results_path)
        spec = sweep_spec(tasks)
    except ValueError:  # ResultsError too: samples are a view, never a reason to fail
        return ()
    if spec is None:
        return ()
    if not doc.results:
        return ()
    samples = []
    for cell in sample_cells(spec):
        setting = doc.results[cell.prompt].settingsResults[cell.setting]
        samples.append(Sample(doc.results[cell.prompt].label, setting.temperature,
                              setting.completions[cell.seed - 1] if setting.completions else "",
                              base[cell] if base is not None else None))
    return tuple(samples)


# The config keys that shape an eval prompt (evaluate/prompting.py): base references differ when these do.
PROMPT_KEYS = ("chat_template", "default_system_message", "rl")


def base_reference_path(ctx: RunContext, state: ConfigState, base_model: str) -> Path:
    """`<results_dir>/base/<model>-<key>.json`: one reference per base model, eval spec and prompt format.

    The key hashes the config's sweep spec (eval.json, or the sweep file that names the config), its pictures'
    bytes when it has any, and what formats the prompts (the first dataset entry but its path, the row its
    prompts are shaped like, the chat template, the default system message, the `rl` transform), so configs that
    prompt alike share one reference.
    """
    data = state.loaded.data
    datasets = data.get("datasets") or [{}]
    entry = {k: v for k, v in datasets[0].items() if k != "path"} if isinstance(datasets[0], dict) else None
    sweep = reference_sweep(ctx, state)
    shape = {"eval": sweep.read_text(encoding="utf-8"), "entry": entry,
             "row": first_row(data, ctx.settings), **{key: data.get(key) for key in PROMPT_KEYS}}
    if any(load_eval(sweep).images):  # a changed picture is another reference; text sweeps keep their keys
        shape["pictures"] = sweep_sha256([TaskFile("eval", sweep, "sweep")], ctx.settings.data_dir)
    key = hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", base_model.strip("/")).strip("-.")[-80:] or "model"
    return ctx.results_dir / "base" / f"{slug}-{key}.json"


def reference_sweep(ctx: RunContext, state: ConfigState) -> Path:
    """The sweep spec a config's base reference runs: `--eval`'s, else the config's own sweep."""
    if ctx.eval.eval_file is not None:
        return ctx.eval.eval_file
    return next((task.path for task in applicable_tasks(ctx, state) if task.kind == "sweep"), ctx.settings.eval_file)


def reference_done(path: Path, base_model: str) -> bool:
    try:
        meta = load_results(path).meta
    except ResultsError:
        return False
    return meta is not None and meta.base_model == base_model and bool(meta.finished)


def evaluate_base(ctx: RunContext, state: ConfigState) -> tuple[bool, EvalOutcome]:
    """The sweep on the base model without an adapter, unless this reference exists; (ran, outcome)."""
    base = state.eval_base_model(ctx)
    path = base_reference_path(ctx, state, base)
    if not ctx.force and reference_done(path, base):
        return False, EvalOutcome(path, None)
    spec_file = reference_sweep(ctx, state)
    job = EvalJob(state.loaded, path.stem, base, None, path, ctx.eval.batch_size, ctx.eval.max_new_tokens,
                  Provenance(), ctx.settings.eval_timeout_s, reference="base",
                  template_row=first_row(state.loaded.data, ctx.settings), data_dir=ctx.settings.data_dir)
    try:
        state.on_status(Step("eval sweep"))  # the model loads first: its time is the sweep's
        report = evaluate(job, [TaskFile("eval", spec_file, "sweep")],
                          lambda progress: state.on_status(eval_step(progress)))
    except (EvalError, ValueError) as exc:
        raise StageError(str(exc)) from None
    return True, EvalOutcome(path, report)


def evaluate_config(ctx: RunContext, state: ConfigState, results_path: Path, tasks: list[TaskFile]) -> EvalOutcome:
    job = job_for(ctx, state, results_path, tasks)
    log = state.run.run_dir / "eval.log" if state.run.run_dir.is_dir() else None
    try:
        state.on_status(Step(f"eval {tasks[0].kind}"))  # the model loads first: its time is the first task's
        report = evaluate(job, tasks, lambda progress: state.on_status(eval_step(progress)))
        base = None
        parent = job.provenance.parent
        before = f"{parent.basename} (haha_parent)" if parent else "base model"
        if (spec := sweep_spec(tasks)) is not None and not is_vision_config(state.loaded.data):  # text models only
            state.on_status(Step(f"{before}: the same sample prompts without the adapter"))
            base = base_completions(state.loaded.data, job.template_row, job.base_model, spec, sample_cells(spec), log,
                                    ctx.eval.max_new_tokens)
    except (EvalError, ValueError) as exc:
        raise StageError(str(exc)) from None
    return EvalOutcome(results_path, report, samples_from(ctx, results_path, tasks, base), before)


class EvaluateStage:
    """Every eval task that applies into `<results_dir>/<basename>.json`; skipped when done for this config hash."""

    name = StageName.EVALUATE

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        path = ctx.results_path(state.run.basename)
        tasks = applicable_tasks(ctx, state)  # a broken task file stops here, skipped or not
        adapter = ctx.eval.adapter_dir or state.run.adapter_dir
        made_from = adapter_sha256(adapter) if adapter_problem(adapter) is None else None
        if not ctx.force and already_evaluated(path, state.loaded.sha256, sweep_sha256(tasks, ctx.settings.data_dir),
                                               made_from):
            return StageResult(StageStatus.SKIPPED, EvalOutcome(path, None, samples_from(ctx, path, tasks)))
        import_training_stack(state.run.run_dir / "eval.log" if state.run.run_dir.is_dir() else None)
        return StageResult(StageStatus.EVALUATED, evaluate_config(ctx, state, path, tasks))


class BaseReferenceStage:
    """The sweep on the config's base model without the adapter (`haha evaluate --base`), once per base model,
    eval spec and prompt format: the reference that says what fine-tuning changed."""

    name = StageName.EVALUATE

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        import_training_stack(None)
        ran, outcome = evaluate_base(ctx, state)
        return StageResult(StageStatus.EVALUATED if ran else StageStatus.SKIPPED, outcome)
