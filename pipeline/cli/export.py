"""`haha export`: a config's published adapter merged into its base model, for other runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline import api
from pipeline.cli import options as flags
from pipeline.cli.app import app, say, verb
from pipeline.models.smoke import SmokeModelChoice


@app.command()
@verb
def export(config: flags.ConfigArgument,
           dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the merged model.")],
           hub: flags.HubOption = None, smoke: flags.SmokeOption = False,
           smoke_model: flags.SmokeModelOption = SmokeModelChoice.AUTO,
           workspace: flags.WorkspaceOption = None) -> None:
    """Write CONFIG's adapter merged into its base model to DEST: safetensors weights, the tokenizer with its chat
    template, and a model card; the folder transformers, vLLM and llama.cpp's converter (then Ollama) load.

    The adapter is the one CONFIG's results name, fetched from the hub (--hub, as the run published it) at that
    revision: a config whose adapter is not published and evaluated is refused. With --smoke, a smoke run's adapter
    on its stand-in model (same --smoke-model as the run).
    """
    from pipeline.orchestration.export import export_config

    options = flags.run_options(smoke=smoke, smoke_model=smoke_model, hub=hub, workspace=workspace)
    done = export_config(api.context(options), api.existing_config(config), dest)
    say(f"{done.adapter.repo_id} at {done.adapter.revision[:12]} merged into {done.base_model}: {done.folder} "
        f"({', '.join(done.files)})", "green")
