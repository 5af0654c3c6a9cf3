"""The train stage's side of `haha_parent` (config/lineage.py): which published revision a child starts from,
and the parent's adapter fetched and merged into the base model for it (train/merge.py); and of `haha_reward`
(config/grpo.py): the reward config's adapter merged into its base as a sequence classifier, GRPO's reward model,
under `<workspace>/.rewards/<reward>-<revision>/`.

The parent's results file names the adapter revision it published and evaluated; that revision is fetched from
the hub and merged into the base model, and the child trains a new LoRA on the merged model. The merged model
lives under `<workspace>/.parents/<parent>-<revision>/`, shared by every child of that revision.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pipeline.config.effective import ParentModel, RewardModel
from pipeline.config.lineage import parent_of, parent_path, reward_of
from pipeline.config.loading import load_config
from pipeline.core.errors import HahaError, StageError
from pipeline.core.quiet import quiet_libraries
from pipeline.core.runs import AdapterRef
from pipeline.core.settings import results_path
from pipeline.formats.results import ResultsError, load_results
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.state import ConfigState, Step
from pipeline.publish.fetch import fetch_adapter
from pipeline.publish.hub import Hub
from pipeline.results.pending import verdict_for
from pipeline.results.provenance import meta_problems
from pipeline.train.merge import marker_of, merge_into


class ParentError(HahaError):
    """A config needed (a parent, a reward model) has no published, evaluated adapter yet."""


def published_ref(results_dir: Path, basename: str, role: str, command: str, hub_org: str) -> AdapterRef:
    """The adapter revision the config's finished results recorded; `role` says why it is needed (`the parent
    quip-sft-003`), `command` what makes the results. Only `<hub_org>/<basename>` at a pinned revision is
    believed (results/provenance.py): a results file is text a pull request could have written."""
    path = results_path(results_dir, basename)
    try:
        meta = load_results(path).meta
    except ResultsError:
        meta = None
    if meta is None or not meta.finished or not meta.hub_repo or not meta.hub_revision:
        state = "has no finished results" if meta is None or not meta.finished else "recorded no published adapter"
        raise ParentError(f"{role} {basename} {state} in {results_dir}: its adapter is published and evaluated "
                          f"first ({command})")
    if problems := meta_problems(meta, basename, hub_org):
        raise ParentError(f"{role} {basename}: its results in {results_dir} cannot be trusted: "
                          + "; ".join(f"{key} {message}" for key, message in problems))
    return AdapterRef(basename=basename, repo_id=meta.hub_repo, revision=meta.hub_revision)


def merged_dir(workspace: Path, ref: AdapterRef) -> Path:
    return workspace / ".parents" / f"{ref.basename}-{ref.revision[:12]}"


def merged_parent(ref: AdapterRef, hub: Hub, base_model: str, workspace: Path) -> Path:
    """The parent's adapter merged into `base_model`, built once per revision and base model."""
    return merged(ref, hub, base_model, merged_dir(workspace, ref))


def reward_dir(workspace: Path, ref: AdapterRef) -> Path:
    return workspace / ".rewards" / f"{ref.basename}-{ref.revision[:12]}"


def merged(ref: AdapterRef, hub: Hub, base_model: str, dest: Path, scorer: bool = False) -> Path:
    """The adapter at `ref` merged into `base_model` in `dest` (a sequence classifier for a `scorer`), built once
    per revision and base model."""
    identity = {**ref.model_dump(), "base_model": base_model}
    if marker_of(dest) == identity:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as scratch:
        adapter = fetch_adapter(hub, ref.repo_id, ref.revision, Path(scratch) / "adapter")
        staging = Path(scratch) / "merged"
        merge_into(base_model, adapter, staging, identity, scorer)
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
    return dest


def trained_on_problem(ctx: RunContext, basename: str, role: str, base_model: str) -> str | None:
    """Why an adapter cannot be put on `base_model`: its results say it was trained on another one (a judge trained
    on the embedded SmolLM2 loaded onto the tiny stand-in would fail with a size mismatch deep in torch)."""
    try:
        meta = load_results(ctx.results_path(basename)).meta
    except ResultsError:
        return None
    trained_on = meta.base_model if meta is not None else None
    if not trained_on or trained_on == base_model:
        return None
    return (f"{role} {basename} was trained on {trained_on}, and this run puts it on {base_model}: train both on the "
            f"same model (the same --smoke-model), or run {basename} again on this one first")


def needed_ref(ctx: RunContext, state: ConfigState, name: str, role: str, waiting: str) -> AdapterRef:
    """The adapter revision the config `name` beside this one published, which this config needs (`role`: the
    parent, the reward model); ParentError while `name` is pending, since it runs before `waiting`."""
    path = parent_path(state.path, name)
    command = f"haha run {path}{ctx.flags}"
    if (reason := verdict_for(path, ctx.results_dir).reason) is not None:
        raise ParentError(f"{role} {name} is pending ({reason}): it runs before {waiting} ({command})")
    return published_ref(ctx.results_dir, name, role, command, ctx.settings.hub_org)


def parent_ref_for(ctx: RunContext, state: ConfigState) -> AdapterRef | None:
    """The published adapter revision this config starts from, when it names a `haha_parent`."""
    if (parent := parent_of(state.loaded.data)) is None:
        return None
    return needed_ref(ctx, state, parent, "the parent", "its child")


def start_from_parent(ctx: RunContext, state: ConfigState, base_model: str) -> ParentModel | None:
    """The parent's adapter merged into the base model, built when this child still has to train."""
    if (ref := parent_ref_for(ctx, state)) is None:
        return None
    if state.run.trained_from(state.loaded.sha256, ctx.smoke, ref) is not None:
        return ParentModel(ref, merged_dir(ctx.workspace, ref))  # trains nothing: the merge is not needed
    if (mismatch := trained_on_problem(ctx, ref.basename, "the parent", base_model)) is not None:
        raise StageError(mismatch)
    state.on_status(Step(f"merging {ref.basename}'s adapter into {base_model}"))
    with quiet_libraries(ctx.workspace / ".parents" / "merge.log"):
        return ParentModel(ref, merged_parent(ref, ctx.hub, base_model, ctx.workspace.resolve()))


def reward_ref_for(ctx: RunContext, state: ConfigState) -> AdapterRef | None:
    """The published reward adapter a GRPO config learns from, when it names a `haha_reward`."""
    if (name := reward_of(state.loaded.data)) is None:
        return None
    return needed_ref(ctx, state, name, "the reward model", "the GRPO config that learns from it")


def reward_model_for(ctx: RunContext, state: ConfigState, ref: AdapterRef, trained: bool) -> RewardModel:
    """The reward adapter at `ref` merged into the base model it was trained on (the smoke stand-in in smoke runs),
    built when the GRPO config still has to train against it (`trained` False)."""
    dest = reward_dir(ctx.workspace.resolve(), ref)
    if trained:
        return RewardModel(ref, dest)
    base = ctx.training_base(load_config(parent_path(state.path, ref.basename)))
    if (mismatch := trained_on_problem(ctx, ref.basename, "the reward model", base)) is not None:
        raise StageError(mismatch)
    state.on_status(Step(f"merging {ref.basename}'s adapter into {base} (the reward model)"))
    with quiet_libraries(ctx.workspace / ".rewards" / "merge.log"):
        return RewardModel(ref, merged(ref, ctx.hub, base, dest, scorer=True))
