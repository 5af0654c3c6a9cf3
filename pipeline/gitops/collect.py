"""The commit job's first step: the results files the matrix jobs uploaded, gathered into train/results.

Each job uploads the files under train/results that its run added or changed: its config's results file and
any base-model reference it made (`base/`). Gathering them is a copy, with two rules. A config's results file
comes from one job only: two different copies mean the plan ran a config twice, which is refused. Base-model
references are made once per base model, eval spec and prompt format, so two jobs on the same base model may
both make one: the first kept wins and the others are reported (they describe the same model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.errors import HahaError
from pipeline.core.files import write_atomic
from pipeline.core.naming import is_basename

BASE_DIR = "base"


class CollectError(HahaError):
    """Two uploads disagree about a config's results file, or an upload holds something that is no results file."""


@dataclass
class Collected:
    copied: list[str] = field(default_factory=list)  # paths relative to the results folder
    duplicate_base: list[str] = field(default_factory=list)  # base references another job had already made


def uploaded_files(artifact: Path) -> list[Path]:
    """The results files of one job's upload, relative to it: `<basename>.json` and `base/<name>.json`."""
    found = []
    for path in sorted(artifact.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(artifact)
        top_level = len(relative.parts) == 1 and is_basename(relative.stem) and relative.suffix == ".json"
        base_ref = len(relative.parts) == 2 and relative.parts[0] == BASE_DIR and relative.suffix == ".json"
        if not (top_level or base_ref) or path.is_symlink():
            raise CollectError(f"{path}: not a results file (<config>.json or base/<name>.json); the upload is "
                               "refused")
        found.append(relative)
    return found


def collect_results(artifacts: list[Path], results_dir: Path) -> Collected:
    """Copy every upload into `results_dir`; refuses (before copying anything) two uploads of one config."""
    chosen: dict[Path, Path] = {}
    collected = Collected()
    for artifact in artifacts:
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
