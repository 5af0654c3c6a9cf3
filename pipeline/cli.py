"""The `haha` command: thin verbs over the pipeline's stage modules.

Exit codes: 0 success, 1 something checked failed, 2 usage error.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from pipeline.problems import errors, warnings
from pipeline.settings import load_settings

app = typer.Typer(
    help="Validate, train, publish and evaluate the joke fine-tunes in train/config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, soft_wrap=True)


@app.callback()
def _root() -> None:
    """Validate, train, publish and evaluate the joke fine-tunes in train/config."""


@app.command()
def validate(
    paths: Annotated[list[str] | None, typer.Argument(help="Config files or folders (default: train/config).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
    strict: Annotated[bool, typer.Option(help="Fail on warnings too.")] = False,
) -> None:
    """Check configs, their datasets and eval.json without spending GPU time or touching the network."""
    from pipeline.validation import validate as run_validation

    settings = load_settings()
    report = run_validation(paths or [str(settings.config_dir)], settings)
    problems = report.problems
    failed = bool(errors(problems)) or (strict and bool(warnings(problems)))
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for problem in problems:
            style = {"error": "red", "warning": "yellow", "note": "dim"}[problem.severity]
            console.print(str(problem), style=style, markup=False)
        for config in report.configs:
            for stats in config.datasets:
                dropped = "not counted" if stats.too_long is None else f"{stats.too_long} too long"
                console.print(f"{config.path.name}: {stats.file}: {stats.rows} rows, {stats.duplicates} duplicates, "
                              f"{dropped}", markup=False)
        summary = report.to_json()["summary"]
        assert isinstance(summary, dict)
        verdict = "[red]FAILED[/red]" if failed else "[green]OK[/green]"
        console.print(f"{verdict}: {summary['configs']} configs, {summary['errors']} errors, "
                      f"{summary['warnings']} warnings")
    raise typer.Exit(1 if failed else 0)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
