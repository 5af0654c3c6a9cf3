"""`haha doctor`: the GPU runner's preflight, run first by every train job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.app import app, console, emit, existing_config, verb
from pipeline.core.settings import load_settings


@app.command()
@verb
def doctor(
    configs: Annotated[list[Path] | None, typer.Argument(
        help="The configs to judge (default: every pending config).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check this machine against what the configs need, before any download: exit 0 when every one is ready.

    Probes torch and CUDA, each GPU's free memory, a real 4-bit bitsandbytes matmul, flash-attn, DeepSpeed (when
    a config needs it), free disk for the base model, what HF_TOKEN may read and write (the token itself is
    never printed) and whether a W&B key is set. Each config gets "ready" or the list of what it lacks, with its
    memory and GPU-hour estimate on its runner class. Without a CUDA device it says so and exits 1.
    """
    from pipeline.core.naming import discover
    from pipeline.orchestration.doctor import run_doctor
    from pipeline.orchestration.needs import needs_of
    from pipeline.results.pending import pending

    settings = load_settings()
    if configs:
        paths = [existing_config(path) for path in configs]
    else:
        paths = [item.path for item in pending(discover(settings.config_dir), settings.results_dir,
                                               needs_of(settings.eval_dir))]
    report = run_doctor(settings, paths)
    if as_json:
        emit(json.dumps(report.to_json(), indent=2))
        raise typer.Exit(0 if report.ok else 1)
    checks = Table(title="this machine", show_lines=False)
    for column in ("check", "status", "detail"):
        checks.add_column(column)
    for check in report.machine.checks:
        checks.add_row(check.name, check.status.value, check.detail,
                       style=None if check.status == "ok" else "yellow" if check.status == "skipped" else "red")
    console.print(checks)
    table = Table(title="configs")
    for column in ("config", "verdict", "estimate"):
        table.add_column(column)
    for verdict in report.verdicts:
        table.add_row(verdict.config, "ready" if verdict.ready else "lacks: " + "; ".join(verdict.lacks),
                      report.estimates.get(verdict.config, ""), style=None if verdict.ready else "red")
    console.print(table)
    if report.machine.cuda is None:
        console.print(f"no CUDA device: {len(report.verdicts)} config(s) cannot run for real here "
                      "(haha run --smoke trains a CPU stand-in)", style="red", markup=False)
    raise typer.Exit(0 if report.ok else 1)
