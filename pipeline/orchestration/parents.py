"""The train stage's side of `haha_parent` (config/lineage.py): which published revision a child starts from,
and the parent's adapter merged into the base model for it (train/parent.py)."""

from __future__ import annotations

from pipeline.config.effective import ParentModel
from pipeline.config.lineage import parent_of, parent_path
from pipeline.core.errors import StageError
from pipeline.core.quiet import quiet_libraries
from pipeline.core.runs import AdapterRef
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.outcome import ConfigState


def trained_on_problem(ctx: RunContext, basename: str, role: str, base_model: str) -> str | None:
    """Why an adapter cannot be put on `base_model`: its results say it was trained on another one (a judge trained
    on the embedded SmolLM2 loaded onto the tiny stand-in would fail with a size mismatch deep in torch)."""
    from pipeline.results.model import ResultsError, load_results

    try:
        meta = load_results(ctx.results_path(basename)).meta
    except ResultsError:
        return None
    trained_on = meta.base_model if meta is not None else None
    if not trained_on or trained_on == base_model:
        return None
    return (f"{role} {basename} was trained on {trained_on}, and this run puts it on {base_model}: train both on the "
            f"same model (the same --smoke-model), or run {basename} again on this one first")


def parent_ref_for(ctx: RunContext, state: ConfigState) -> AdapterRef | None:
    """The published adapter revision this config starts from, when it names a `haha_parent`."""
    from pipeline.gitops.changes import verdict_for
    from pipeline.train.parent import ParentError, published_ref

    if (parent := parent_of(state.loaded.data)) is None:
        return None
    command = f"haha run {parent_path(state.path, parent)}{ctx.flags}"
    reason = verdict_for(parent_path(state.path, parent), ctx.results_dir).reason
    if reason is not None:
        raise ParentError(f"the parent {parent} is pending ({reason}): it runs before its child ({command})")
    return published_ref(ctx.results_dir, parent, "the parent", command, ctx.settings.hub_org)


def start_from_parent(ctx: RunContext, state: ConfigState, base_model: str) -> ParentModel | None:
    """The parent's adapter merged into the base model, built when this child still has to train."""
    from pipeline.train.parent import merged_dir, merged_parent

    if (ref := parent_ref_for(ctx, state)) is None:
        return None
    if state.run.trained_from(state.loaded.sha256, ctx.smoke, ref) is not None:
        return ParentModel(ref, merged_dir(ctx.workspace, ref))  # trains nothing: the merge is not needed
    if (mismatch := trained_on_problem(ctx, ref.basename, "the parent", base_model)) is not None:
        raise StageError(mismatch)
    state.on_status(f"merging {ref.basename}'s adapter into {base_model}")
    with quiet_libraries(ctx.workspace / ".parents" / "merge.log"):
        return ParentModel(ref, merged_parent(ref, ctx.hub, base_model, ctx.workspace.resolve()))
