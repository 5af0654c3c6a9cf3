"""`haha pending` and `haha commit-results`: what needs a run, and committing what the runs made.

These run in the workflows' light jobs, which install only pyyaml, pydantic, typer and rich.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.app import app, console, emit, errors, verb
from pipeline.core.errors import UsageError
from pipeline.core.settings import load_settings


@app.command()
@verb
def pending(
    diff: Annotated[tuple[str, str] | None, typer.Option(
        "--diff", metavar="BEFORE AFTER",
        help="Also report what the push BEFORE..AFTER touched under train/config (added, modified, renamed, "
             "deleted); first and force pushes are handled.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List configs that still need a run, in the order a run takes them.

    Pending: no results yet, results made from a different config, a haha_parent or haha_reward that is pending or
    published another adapter, or (for results older than config hashes) a recorded hyperparameter the YAML now
    sets otherwise. A config comes after its haha_parent, after the reward model a GRPO config learns from
    (haha_reward) and after the reward model its best-of-N eval scores with.
    """
    from pipeline.core.git import GitError
    from pipeline.core.naming import discover
    from pipeline.gitops.push_diff import push_diff
    from pipeline.orchestration.needs import needs_of
    from pipeline.results.pending import Pending, verdicts

    settings = load_settings()
    judged = verdicts(discover(settings.config_dir), settings.results_dir, needs_of(settings.eval_dir))
    found = [Pending(path, verdict.reason) for path, verdict in judged if verdict.reason is not None]
    notes = [(path, verdict.note) for path, verdict in judged if verdict.reason is None and verdict.note]
    try:
        pushed = push_diff(settings.root, diff[0], diff[1], settings.config_dir) if diff else None
    except GitError as exc:
        raise UsageError(f"--diff: {exc}") from None
    if as_json:
        emit(json.dumps({"pending": [{**p.to_json(), "config": _shown(p.path, settings.root)} for p in found],
                          "done_with_notes": [{"config": _shown(path, settings.root), "note": note}
                                              for path, note in notes],
                          "diff": pushed.to_json() if pushed else None}, indent=2))
        raise typer.Exit(0)
    for item in found:
        console.print(f"{_shown(item.path, settings.root)}: {item.reason}", markup=False)
    for path, note in notes:
        console.print(f"{_shown(path, settings.root)}: done ({note})", style="dim", markup=False)
    console.print(f"{len(found)} pending" if found else
                  "nothing pending: every config has results for its current config")
    if pushed:
        console.print(f"push {pushed.before[:12]}..{pushed.after[:12]} under train/config:", markup=False)
        if pushed.note:
            console.print(f"  note: {pushed.note}", markup=False)
        for change in pushed.changes:
            console.print(f"  {change}", markup=False)
        if not pushed.changes:
            console.print("  nothing changed", markup=False)


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


@app.command("commit-results")
@verb
def commit_results(
    message: Annotated[str | None, typer.Option(help="Commit message (default: names the configs).")] = None,
    remote: Annotated[str, typer.Option(help="Remote to push to.")] = "origin",
    branch: Annotated[str, typer.Option(help="Branch to push to.")] = "main",
    attempts: Annotated[int, typer.Option(min=1, help="Pushes to try; each rejection rebases first.")] = 5,
    collect: Annotated[list[Path] | None, typer.Option(
        "--collect", metavar="DIR",
        help="First gather the results files a matrix job uploaded (one DIR per job; repeat the option) into "
             "train/results and rebuild the index once.")] = None,
    rescored: Annotated[Path | None, typer.Option(
        "--rescored", metavar="DIR",
        help="Then take the judge's new scores from the rescoring job's upload: only the judge block of results "
             "files already in train/results may change.")] = None,
) -> None:
    """Commit train/results (nothing else) and push it, rebasing and retrying when the branch moved; never forces."""
    from pipeline.gitops.commit import commit_results as commit_and_push

    settings = load_settings()
    if collect or rescored:
        _collect(collect or [], settings.results_dir, rescored)
    outcome = commit_and_push(settings.root, _shown(settings.results_dir, settings.root), message, remote, branch,
                              attempts)
    if not outcome.committed:
        console.print("nothing to commit under train/results")
        raise typer.Exit(0)
    console.print(f"pushed {outcome.sha[:12]} to {remote}/{branch} ({len(outcome.files)} files, "
                  f"{outcome.attempts} attempt{'s' if outcome.attempts > 1 else ''})", markup=False)


def _collect(artifacts: list[Path], results_dir: Path, rescored: Path | None) -> None:
    from pipeline.gitops.collect import apply_rescored, collect_results
    from pipeline.results.rebuild import write_index

    if missing := [str(path) for path in [*artifacts, *([rescored] if rescored else [])] if not path.is_dir()]:
        raise UsageError(f"--collect/--rescored: no such folder: {', '.join(missing)}")
    collected = collect_results(artifacts, results_dir)
    if rescored is not None:
        scored, refused = apply_rescored(rescored, results_dir)
        for why in refused:
            errors.print(f"left out the judge's scores for {why}", style="yellow", markup=False)
        console.print(f"the judge rescored {len(scored)} results files", markup=False)
    for why in collected.refused:
        errors.print(f"left out the upload {why}; its configs stay pending", style="yellow", markup=False)
    for path in collected.kept_committed:
        errors.print(f"kept the committed {path}: a reference already committed is never replaced", style="yellow",
                     markup=False)
    for path in collected.duplicate_base:
        console.print(f"kept the first of several uploads of {path} (the same base model's reference)", markup=False)
    scan = write_index(results_dir)
    console.print(f"collected {len(collected.copied)} files from {len(artifacts)} uploads; index rebuilt over "
                  f"{len(scan.entries)} results files", markup=False)
