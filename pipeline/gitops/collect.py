"""The commit job's first step: the results files the matrix jobs uploaded, gathered into train/results.

Each job uploads, as the artifact `results-<config>`, the files under train/results that its run added or
changed: its config's results file and any base-model reference it made (`base/`). Gathering them is a copy,
with rules, because an upload is only as trustworthy as the job that made it:

- an upload holds `<its config>.json` (whose `config.name` is that config), its failure record
  `<its config>.failed.json` (results/failures.py), and `base/<name>.json`, at most
  MAX_FILES_PER_UPLOAD files, each strict JSON readable as results; anything else leaves the whole upload out,
  named (only its job's configs are lost);
- a config's results file comes from one job only: two different copies mean the plan ran a config twice,
  which stops everything before anything is copied;
- base-model references are made once per base model, eval spec and prompt format, so two jobs on the same
  base model may both make one: the first kept wins and the others are reported. A reference already
  committed is never replaced: a changed copy is reported and left out;
- the rescoring job's upload (`--rescored`, after a retrained judge) changes only the `judge` block of results
  files that are already here: any other difference leaves that file out, named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.errors import HahaError
from pipeline.core.files import write_atomic
from pipeline.core.naming import is_basename
from pipeline.evaluate.resume import SIDECAR_SUFFIX
from pipeline.formats.results import ResultsError, dumps_results, load_results
from pipeline.results.failures import FAILED_SUFFIX, clear_failure, failure_path, parse_failure
from pipeline.results.scan import results_files

BASE_DIR = "base"
# The artifact name train.yml gives a job's upload: `results-<config>`.
UPLOAD_PREFIX = "results-"
# One config's file and a reference per base model it was compared with: a handful. Far more is not a run.
MAX_FILES_PER_UPLOAD = 32


class CollectError(HahaError):
    """Two uploads disagree about a config's results file: the plan ran a config twice."""


# A results file is a few MB at most (165 completions and their scores); GitHub warns about files over 50 MB.
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class Collected:
    copied: list[str] = field(default_factory=list)  # paths relative to the results folder
    duplicate_base: list[str] = field(default_factory=list)  # base references another job had already made
    refused: list[str] = field(default_factory=list)  # uploads left out, each with why: their configs stay pending
    kept_committed: list[str] = field(default_factory=list)  # changed copies of a committed reference, left out


def upload_config(artifact: Path) -> str | None:
    """The config an upload belongs to, from its artifact name (`results-<config>`), or None."""
    name = artifact.name.removeprefix(UPLOAD_PREFIX)
    return name if artifact.name.startswith(UPLOAD_PREFIX) and is_basename(name) else None


def upload_problem(artifact: Path) -> str | None:
    """Why one job's upload cannot be collected, or None: it may hold `<its config>.json` and `base/<name>.json`
    only (a resume sidecar aside), each a readable results file, no link."""
    config = upload_config(artifact)
    if config is None:
        return f"the upload is not named {UPLOAD_PREFIX}<config>"
    files = [path for path in sorted(artifact.rglob("*")) if path.is_symlink() or path.is_file()]
    if len(files) > MAX_FILES_PER_UPLOAD:
        return f"it holds {len(files)} files; a job uploads at most {MAX_FILES_PER_UPLOAD}"
    for path in files:
        relative = path.relative_to(artifact)
        if path.is_symlink():
            return f"{relative} is a link"
        if path.name.endswith(SIDECAR_SUFFIX):
            continue
        if relative == failure_path(Path(), config):
            try:
                parse_failure(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                return f"{relative} is not a readable failure record: {exc}"
            continue
        own = relative == Path(f"{config}.json")
        base_ref = len(relative.parts) == 2 and relative.parts[0] == BASE_DIR and relative.suffix == ".json"
        if not (own or base_ref):
            return (f"{relative} is not this job's results ({config}.json, {config}{FAILED_SUFFIX} or "
                    f"{BASE_DIR}/<name>.json)")
        if path.stat().st_size > MAX_FILE_BYTES:
            return f"{relative} is over {MAX_FILE_BYTES // 2**20} MB"
        try:
            doc = load_results(path, display=str(relative))
        except ResultsError as exc:
            return f"{relative} is not a readable results file: {exc}"
        if own and doc.config.name != config:
            return f"{relative} holds the results of {doc.config.name!r}, not {config!r}"
    return None


def apply_rescored(upload: Path, results_dir: Path) -> tuple[list[str], list[str]]:
    """The judge's new scores from the rescoring job, written into the results files they score; (rescored,
    refused with why). Only the `judge` block may differ from the file here, so the job that holds a GPU and a
    token can change nothing else."""
    rescored: list[str] = []
    refused: list[str] = []
    configs, references = results_files(upload)
    for path in [*configs, *references]:
        relative = path.relative_to(upload)
        target = results_dir / relative
        if path.is_symlink() or not target.is_file():
            refused.append(f"{relative}: no such results file here to rescore")
            continue
        try:
            scored, here = load_results(path, display=str(relative)), load_results(target, display=str(relative))
        except ResultsError as exc:
            refused.append(f"{relative}: {exc}")
            continue
        updated = dumps_results(here.model_copy(update={"judge": scored.judge}))
        if scored.judge is None or updated != dumps_results(scored):
            refused.append(f"{relative}: differs in more than its judge scores")
            continue
        if updated != target.read_text(encoding="utf-8"):
            write_atomic(target, updated)
            rescored.append(str(relative))
    return rescored, refused


def uploaded_files(artifact: Path) -> list[Path]:
    """The results files of a checked upload, relative to it (its progress sidecars are not results)."""
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
            committed = results_dir / relative
            if relative.parts[0] == BASE_DIR and committed.is_file():
                if committed.read_bytes() != source.read_bytes():
                    collected.kept_committed.append(f"{relative} (from {artifact})")
                continue
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
        own = len(relative.parts) == 1 and not relative.name.endswith(FAILED_SUFFIX)
        if own and failure_path(Path(), relative.stem) not in chosen:
            clear_failure(results_dir, relative.stem)  # its job kept no failure record: the config ran through
    return collected
