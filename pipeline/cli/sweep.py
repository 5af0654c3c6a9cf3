"""`haha sweep`: a grid of configs from one config, written as the next numbers of its family."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from pipeline.cli.app import app, console, errors, existing_config, say, verb
from pipeline.core.errors import UsageError
from pipeline.core.settings import load_settings


@app.command()
@verb
def sweep(
    base: Annotated[Path, typer.Argument(help="The config to sweep from (train/config/<family>-NNN.yml).")],
    sets: Annotated[list[str], typer.Option(
        "--set", metavar="KEY=V1,V2",
        help="A key and its values, separated by commas (YAML values: 2e-4, cosine, [q_proj,v_proj]); nested keys "
             "as datasets[0].type.system_prompt. Repeat for more keys: the grid is every combination.")],
    zips: Annotated[list[str] | None, typer.Option(
        "--zip", metavar="KEY,KEY",
        help="Keys whose values move together (the first values together, then the second...), like Axolotl's "
             "dependent sweep variables; each needs a --set with as many values.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the configs and values; write nothing.")] = False,
) -> None:
    """Write the grid as new configs BASE's family numbers next, each BASE's text with its values changed in place
    and a first-line comment naming the sweep.

    Every config is validated as `haha validate` would; if one fails, none is kept. Refused before anything is
    written: numbers past 999, more configs than [tool.haha.budgets] sweep_configs, a key given twice.
    """
    from pipeline.config.sweep import parse_set
    from pipeline.orchestration.sweeping import plan, write

    settings = load_settings()
    variables = [parse_set(option) for option in sets]
    if not variables:
        raise UsageError("--set: name at least one key and its values")
    zipped = [[key.strip() for key in option.split(",")] for option in zips or []]
    if bad := next((option for option in zipped if len(option) < 2 or "" in option), None):
        raise UsageError(f"--zip {','.join(bad)}: name two keys or more, separated by commas")
    planned = plan(existing_config(base), variables, zipped, settings)
    keys = list(planned.configs[0].values)
    # Text cells: a value such as [q_proj,v_proj] is never read as rich markup.
    view = Table(title=Text(f"{'would write' if dry_run else 'writing'} {len(planned.configs)} configs from "
                            f"{base.name}"))
    for header in ("config", *keys):
        view.add_column(Text(header))
    for config in planned.configs:
        view.add_row(f"{config.name.basename}.yml", *(Text(config.values[key]) for key in keys))
    console.print(view)
    if dry_run:
        return
    done = write(planned, settings)
    for problem in done.warnings:
        errors.print(str(problem), style="yellow", markup=False)
    say(f"wrote and validated {len(done.paths)} configs in {base.parent}: {done.paths[0].name} .. "
        f"{done.paths[-1].name}", "green")
