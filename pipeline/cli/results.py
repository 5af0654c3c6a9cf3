"""`haha results` (the index) and `haha compare` (completions side by side)."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.app import app, console, errors, verb
from pipeline.cli.options import ResultsDirOption, results_folder
from pipeline.core.errors import UsageError
from pipeline.core.settings import load_settings


@app.command()
@verb
def results(
    strict: Annotated[bool, typer.Option(help="Exit 1 when a results file cannot be read.")] = False,
    results_dir: ResultsDirOption = None,
) -> None:
    """Rebuild train/results/README.md and index.html from the results files.

    The same files give the same bytes on any checkout: rows in config order, old files dated by their last commit.
    """
    from pipeline.results.rebuild import write_index
    from pipeline.results.sources import read_sources

    settings = load_settings()
    results_dir = results_folder(results_dir)
    scan = write_index(results_dir, read_sources(settings.root, results_dir, settings.config_dir, settings.data_dir))
    for broken in scan.broken:
        errors.print(f"unreadable: {broken}", style="red", markup=False)
    console.print(f"indexed {len(scan.entries)} results files ({len(scan.broken)} unreadable): "
                  f"{results_dir / 'README.md'}, {results_dir / 'index.html'}", markup=False)
    raise typer.Exit(1 if strict and scan.broken else 0)


@app.command()
@verb
def compare(
    refs: Annotated[list[str], typer.Argument(help="Two or more results: basenames (haha-017) or paths.")],
    prompt: Annotated[str, typer.Option(help="Only prompts containing this text.")] = "",
    results_dir: ResultsDirOption = None,
) -> None:
    """Show configs' completions side by side, per prompt, seed and temperature, after their hyperparameter diff.

    The diff is over every hyperparameter: what new results recorded, and for older ones their config as it was
    committed with the results.
    """
    from pipeline.formats.results import ResultsError
    from pipeline.results.compare import caveats, compare_renderables, resolve_results
    from pipeline.results.entries import Entry
    from pipeline.results.scan import read_entry
    from pipeline.results.sources import read_sources

    if len(refs) < 2:
        raise UsageError("compare needs two or more results files")
    settings = load_settings()
    folder = results_folder(results_dir)
    paths = [resolve_results(ref, folder) for ref in refs]
    sources = read_sources(settings.root, folder, settings.config_dir, settings.data_dir)
    entries = [read_entry(path, sources) for path in paths]
    if broken := [str(entry) for entry in entries if not isinstance(entry, Entry)]:
        raise ResultsError("\n".join(broken))
    readable = [e for e in entries if isinstance(e, Entry)]
    for caveat in caveats(readable):
        console.print(caveat, style="yellow", markup=False)
    renderables = compare_renderables(readable, prompt)
    for renderable in renderables:
        console.print(renderable, soft_wrap=False)
    if prompt and len(renderables) == 1:  # the hyperparameter table alone
        console.print(f"no prompt contains {prompt!r}", style="yellow", markup=False)
