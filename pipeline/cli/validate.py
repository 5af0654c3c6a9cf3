"""`haha validate`: every check a config must pass, printed for people or as JSON for the PR job."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline.cli.app import app, console, emit, verb
from pipeline.core.markdown import plural
from pipeline.core.problems import errors, warnings
from pipeline.core.settings import load_settings


@app.command()
@verb
def validate(
    paths: Annotated[list[str] | None, typer.Argument(help="Config files or folders (default: train/config).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
    strict: Annotated[bool, typer.Option(help="Fail on warnings too.")] = False,
) -> None:
    """Check configs, their datasets and eval.json without spending GPU time or touching the network.

    PATHS: config files or folders (default: train/config).
    """
    from pipeline.orchestration.validation import readable_lines
    from pipeline.orchestration.validation import validate as run_validation

    settings = load_settings()
    report = run_validation(paths or [str(settings.config_dir)], settings)
    problems = report.problems
    failed = bool(errors(problems)) or (strict and bool(warnings(problems)))
    if as_json:
        emit(json.dumps(report.to_json(), indent=2))
    else:
        styles = {"error": "red", "warning": "yellow", "note": "dim", "info": ""}
        for line, severity in readable_lines(report):
            console.print(line, style=styles[severity], markup=False)
        summary = report.to_json()["summary"]
        assert isinstance(summary, dict)
        verdict = "[red]FAILED[/red]" if failed else "[green]OK[/green]"
        console.print(f"{verdict}: {plural(summary['configs'], 'config')}, {plural(summary['errors'], 'error')}, "
                      f"{plural(summary['warnings'], 'warning')}")
    raise typer.Exit(1 if failed else 0)
