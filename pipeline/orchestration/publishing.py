"""The publish stage: the adapter and its model card pushed to `<org>/<basename>` on the run's hub."""

from __future__ import annotations

from pathlib import Path

from pipeline.config.loading import LoadedConfig
from pipeline.config.rules import dataset_entries, dataset_file, is_hub_dataset
from pipeline.core.errors import StageError
from pipeline.core.files import shown_path, write_atomic
from pipeline.core.naming import hub_repo_id
from pipeline.data.rows import row_count
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.outcome import StageName, StageResult, StageStatus
from pipeline.orchestration.state import ConfigState, Step
from pipeline.publish.hub import Push, publish
from pipeline.publish.modelcard import CardInputs, DatasetFile, render_card
from pipeline.train.merge import merged_from


def dataset_files(ctx: RunContext, config: LoadedConfig) -> list[DatasetFile]:
    files = []
    for dataset in dataset_entries(config.data):
        if is_hub_dataset(dataset.path, ctx.settings):  # named by id and the commit it is pinned to
            files.append(DatasetFile(f"{dataset.path}@{dataset.entry.get('revision')}", None, on_hub=True))
            continue
        path = dataset_file(dataset.path, ctx.settings) if dataset.path else None
        if path is not None and path.is_file():
            files.append(DatasetFile(str(path.relative_to(ctx.settings.root.resolve())), row_count(path)))
    return files


def card_for(ctx: RunContext, state: ConfigState, repo_id: str) -> str:
    run = state.run
    effective = state.trained_config()
    assert effective is not None, "publish runs on a trained config"
    record = run.completion()
    parent = record.parent if record is not None else None
    base_model = merged_from(Path(effective["base_model"])) if parent else None
    return render_card(CardInputs(
        repo_id=repo_id, basename=run.basename, base_model=base_model or str(effective.get("base_model")),
        config_sha256=state.loaded.sha256, effective_config=effective, datasets=dataset_files(ctx, state.loaded),
        wandb=state.wandb_reference(ctx), results_path=shown_path(ctx.results_path(run.basename), ctx.settings.root),
        source_repo_url=ctx.source_repo_url, parent=parent,
    ))


class PublishStage:
    """Push the adapter and its model card to `<org>/<basename>`; a push of the same config and bytes is skipped."""

    name = StageName.PUBLISH

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        state.require_trained(ctx)
        settings, run = ctx.settings, state.run
        try:
            repo_id = hub_repo_id(settings.hub_org, run.basename)
        except ValueError as exc:
            raise StageError(str(exc)) from None
        state.on_status(Step(f"pushing to {ctx.hub}"))
        result = publish(Push(run.adapter_dir, settings.hub_org, run.basename, card_for(ctx, state, repo_id),
                              state.loaded.sha256, settings.hub_private, ctx.force), ctx.hub)
        write_atomic(run.published, result.model_dump_json(indent=2))
        return StageResult(StageStatus.SKIPPED if result.skipped else StageStatus.PUBLISHED, result)
