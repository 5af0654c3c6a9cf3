"""The commit job's first step: the results files the matrix jobs uploaded, gathered into train/results.

Each job uploads the files under train/results that its run added or changed: its config's results file and
any base-model reference it made (`base/`). Gathering them is a copy, with two rules. A config's results file
comes from one job only: two different copies mean the plan ran a config twice, which is refused. Base-model
references are made once per base model, eval spec and prompt format, so two jobs on the same base model may
both make one: the first kept wins and the others are reported (they describe the same model). An upload that
holds anything but readable results files is left out whole and named: only its job's configs are lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.errors import HahaError
from pipeline.core.files import write_atomic
from pipeline.core.naming import is_basename
from pipeline.results.model import ResultsError, load_results

BASE_DIR = "base"


class CollectError(HahaError):
    """Two uploads disagree about a config's results file: the plan ran a config twice."""


# A results file is a few MB at most (165 completions and their scores); GitHub warns about files over 50 MB.
MAX_FILE_BYTES = 50 * 1024 * 1024
# What an eval cut off by its time limit keeps beside the results file to resume from: never a results file.
SIDECAR_SUFFIX = ".partial.jsonl"


@dataclass
class Collected:
    copied: list[str] = field(default_factory=list)  # paths relative to the results folder
    duplicate_base: list[str] = field(default_factory=list)  # base references another job had already made
    refused: list[str] = field(default_factory=list)  # uploads left out, each with why: their configs stay pending


def upload_problem(artifact: Path) -> str | None:
    """Why one job's upload cannot be collected, or None: it may hold `<basename>.json` and `base/<name>.json`
    only (a resume sidecar aside), each a readable results file, no link."""
    for path in sorted(artifact.rglob("*")):
        relative = path.relative_to(artifact)
        if path.is_symlink():
            return f"{relative} is a link"
        if not path.is_file() or path.name.endswith(SIDECAR_SUFFIX):
            continue
        top_level = len(relative.parts) == 1 and is_basename(relative.stem) and relative.suffix == ".json"
        base_ref = len(relative.parts) == 2 and relative.parts[0] == BASE_DIR and relative.suffix == ".json"
        if not (top_level or base_ref):
            return f"{relative} is not a results file (<config>.json or base/<name>.json)"
        if path.stat().st_size > MAX_FILE_BYTES:
            return f"{relative} is over {MAX_FILE_BYTES // 2**20} MB"
        try:
            load_results(path)
        except ResultsError as exc:
            return f"{relative} is not a readable results file: {exc}"
    return None


def uploaded_files(artifact: Path) -> list[Path]:
    """The results files of a checked upload, relative to it."""
    return [path.relative_to(artifact) for path in sorted(artifact.rglob("*.json")) if path.is_file()]


def collect_results(artifacts: list[Path], results_dir: Path) -> Collected:
    """Copy every sound upload into `results_dir`. An upload that is not sound is left out and named (its job's
    configs stay pending); two sound uploads of one config with different contents stop everything, before
    anything is copied."""
    chosen: dict[Path, Path] = {}
    collected = Collected()
    for artifact in artifacts:
        if (why := upload_problem(artifact)) is not None:
            collected.refused.append(f"{artifact}: {why}")
            continue
        for relative in uploaded_files(artifact):
            source = artifact / relative
            if (earlier := chosen.get(relative)) is None:
                chosen[relative] = source
            elif earlier.read_bytes() != source.read_bytes():
                if relative.parts[0] != BASE_DIR:
                    raise CollectError(f"{relative} was uploaded by two jobs with different contents ({earlier.parent} "
                                       f"and {source.parent}): a config ran twice; nothing was collected")
                collected.duplicate_base.append(str(relative))
    for relative, source in chosen.items():
        (results_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(results_dir / relative, source.read_text(encoding="utf-8"))
        collected.copied.append(str(relative))
    return collected
