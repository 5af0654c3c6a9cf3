"""The pull request's job summary of what will run: for each config the PR adds or changes, what differs from the
previous config of its family, its smoke run's loss, its GPU estimate on the runner class it was planned onto, and
the wave of the training workflow it lands in.

A reviewer merging a sweep of twelve configs should see, on the PR's checks page, that they differ only in
`learning_rate`, that each smoke run's loss fell, that they fit the 80 GB class and take half an hour each, and
that they train in wave 0, without opening a log. The summary is made from what the PR job's own steps wrote:

    haha pending --diff BASE HEAD --json > pending.json      which configs the PR added or changed
    haha validate --json > validate.json                     each config's estimate on its runner class
    haha plan > plan.json                                    each pending config's runner class and wave
    haha run --smoke --report scratch/report.json ...        each smoke run's losses

    python -m pipeline.gitops.pr_summary pending.json validate.json plan.json scratch/report.json \\
        >> "$GITHUB_STEP_SUMMARY"

Everything in it is PR-controlled text (config names, keys, values, error messages), so every cell goes through
core/markdown.py; the summary stops adding configs before GitHub's 1 MiB step-summary limit and says how many it
left out. `render` is pure; `gather` reads the files.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config.loading import ConfigLoadError, load_config
from pipeline.core.markdown import cell, plural, table
from pipeline.core.naming import basename_of, discover, parse_config_name
from pipeline.formats.results import Scalar, hyperparameters_of
from pipeline.results.pending import same_value
from pipeline.results.values import exact_value, loss_change

# GitHub refuses a step's summary over 1 MiB; this leaves room for the validation summary's own step to differ.
STEP_SUMMARY_LIMIT = 1024 * 1024 - 16 * 1024
SHOWN_DIFFERENCES = 8  # per config; the rest are counted


@dataclass(frozen=True)
class PlannedRow:
    """One config the pull request adds or changes, as the summary shows it."""

    config: str  # basename (or the file name, when it is not a config name)
    change: str  # added, modified, renamed
    previous: str | None  # the previous config of its family in the PR, None for the first
    differences: tuple[str, ...]  # `key: old → new`
    smoke: str  # `3.962 → 3.104`, `failed: …`, or `not smoke-run`
    estimate: str  # GPU memory and GPU-hours on its runner class, or why there is none
    runner: str  # the runner class haha plan put it on, or ""
    wave: str  # `0`, `deferred: why`, or `not pending`


def differences(previous: Mapping[str, Scalar], current: Mapping[str, Scalar]) -> list[str]:
    """`key: old → new` for each flattened key the two configs set differently (unset on one side reads `unset`)."""
    keys = list(dict.fromkeys([*previous, *current]))
    return [f"{key}: {exact_value(previous.get(key))} → {exact_value(current.get(key))}" for key in keys
            if not same_value(previous.get(key), current.get(key))]


def _difference_cell(row: PlannedRow) -> str:
    if row.previous is None:
        return "first of its family"
    if not row.differences:
        return f"same as {row.previous}"
    shown = "; ".join(row.differences[:SHOWN_DIFFERENCES])
    more = len(row.differences) - SHOWN_DIFFERENCES
    return f"vs {row.previous}: {shown}" + (f"; and {more} more" if more > 0 else "")


HEADER = ["config", "change", "differs from the previous config", "smoke loss first → last",
          "estimate (runner class)", "runner class", "wave"]


def render(rows: Sequence[PlannedRow], deleted: Sequence[str] = (), limit: int = STEP_SUMMARY_LIMIT) -> str:
    """The summary section; rows past `limit` bytes are left out and counted."""
    lines = ["## What this pull request will train", ""]
    if not rows and not deleted:
        return "\n".join([*lines, "No config added or changed.", ""])
    lines += [f"{plural(len(rows), 'config')} added or changed. Estimates are haha's own (docs/operators.md) on "
              "the runner class `haha plan` chose; the training workflow runs wave 0 first, then each later wave "
              "after the one before.", ""]
    head = table(HEADER, [])
    footer = [""] + [f"- deleted: {cell(name)} (never run)" for name in deleted]
    budget = limit - len("\n".join([*lines, *head, *footer, "", ""]).encode()) - 200  # room for the "left out" line
    body: list[str] = []
    for index, row in enumerate(rows):
        [line] = table(HEADER, [[row.config, row.change, _difference_cell(row), row.smoke, row.estimate, row.runner,
                                 row.wave]])[2:]
        if len("\n".join([*body, line]).encode()) > budget:
            left = len(rows) - index
            body.append("")
            body.append(f"… and {plural(left, 'more config')}, left out to stay within GitHub's summary limit: "
                        "pending.json and plan.json in the run's artifacts list them all.")
            break
        body.append(line)
    return "\n".join([*lines, *head, *body, *footer]) + "\n"


# -- reading what the PR job wrote ------------------------------------------------------------------------------------

def previous_config(siblings: Sequence[Path], basename: str) -> Path | None:
    """The highest-numbered config of the same family below `basename` among `siblings` (its folder's configs)."""
    name = parse_config_name(f"{basename}.yml")
    if name is None:
        return None
    earlier = [(parsed.number, path) for path in siblings
               if (parsed := parse_config_name(path.name)) and parsed.family == name.family
               and parsed.number < name.number]
    return max(earlier)[1] if earlier else None


def _flat(path: Path) -> dict[str, Scalar] | None:
    try:
        return hyperparameters_of(load_config(path).data)
    except (ConfigLoadError, OSError):
        return None


def _smoke(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return "not smoke-run"
    if entry.get("error"):
        return f"failed: {str(entry['error']).strip().splitlines()[0]}"
    losses = (entry.get("train") or {}).get("losses") or []
    return loss_change(losses) or "no loss logged"


def gather(root: Path, pending: Mapping[str, Any], validated: Mapping[str, Any], planned: Mapping[str, Any],
           report: Mapping[str, Any] | None) -> tuple[list[PlannedRow], list[str]]:
    """The rows for the PR's added and changed configs, and its deleted ones, from the four JSON documents."""
    diff = pending.get("diff") or {}
    kinds = {change["path"]: change["kind"] for change in diff.get("changes", [])}
    deleted = [Path(path).name for path, kind in kinds.items() if kind == "deleted"]
    smoked = {entry["config"]: entry for entry in (report or {}).get("configs", [])}
    estimates = validated.get("estimates", {})
    errors = {problem["file"] for problem in validated.get("problems", []) if problem.get("severity") == "error"}
    waves = {entry["config"]: entry for wave in planned.get("waves", []) for entry in wave}
    deferred = {str(item["config"]).removesuffix(".yml"): item["why"] for item in planned.get("deferred", [])}
    rows = []
    folders: dict[Path, list[Path]] = {}
    flat: dict[Path, dict[str, Scalar] | None] = {}  # read once: a sweep's configs are each other's previous

    def flat_of(path: Path) -> dict[str, Scalar] | None:
        if path not in flat:
            flat[path] = _flat(path)
        return flat[path]

    for relative in diff.get("changed_configs", []):
        path = root / relative
        basename = basename_of(path)
        if path.parent not in folders:
            folders[path.parent] = discover(path.parent)
        before = previous_config(folders[path.parent], basename)
        now, then = flat_of(path), flat_of(before) if before else None
        if before is None:
            changed: tuple[str, ...] = ()
        elif now is None or then is None:
            changed = (f"{before.name if then is None else path.name} cannot be read",)
        else:
            changed = tuple(differences(then, now))
        estimate = estimates.get(path.name, "")
        if not estimate:
            estimate = "none: validation failed" if relative in errors else "none"
        entry = waves.get(basename)
        wave = str(entry["wave"]) if entry else (f"deferred: {deferred[basename]}" if basename in deferred
                                                  else "not pending")
        rows.append(PlannedRow(basename, kinds.get(relative, "changed"), basename_of(before) if before else None,
                               changed, _smoke(smoked.get(basename)), estimate.removeprefix("estimate: "),
                               entry["runner"] if entry else "", wave))
    return rows, deleted


def _read_json(path: str) -> Any:
    """A JSON file a step wrote, or None when the step did not get that far (the summary says what is missing)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def main(argv: Sequence[str]) -> int:
    if len(argv) != 4:
        print("usage: python -m pipeline.gitops.pr_summary PENDING_JSON VALIDATE_JSON PLAN_JSON REPORT_JSON",
              file=sys.stderr)
        return 2
    from pipeline.core.settings import find_root

    pending, validated, planned, report = (_read_json(path) for path in argv)
    if pending is None:
        sys.stdout.write("## What this pull request will train\n\nNo pending.json: the diff step did not run.\n")
        return 0
    rows, deleted = gather(find_root(), pending, validated or {}, planned or {}, report)
    sys.stdout.write(render(rows, deleted))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
