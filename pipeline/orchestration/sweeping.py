"""`haha sweep`'s side effects: the grid (config/sweep.py) written as the next numbered configs beside BASE, each
validated as `haha validate` would, and every one removed again when any fails.

Writes train/config. The configs are written before they are validated because validation reads them where they
will live (their family's numbering, a `haha_parent` beside them, the task files whose globs reach them); a refusal
removes every file this sweep wrote, on an exception or a signal too, so a refused sweep leaves the folder as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config.loading import ConfigLoadError, load_config
from pipeline.config.sweep import PlannedConfig, SweepError, Variable, plan_sweep
from pipeline.core.files import write_atomic
from pipeline.core.naming import discover, parse_config_name
from pipeline.core.problems import Problem, errors
from pipeline.core.settings import Settings
from pipeline.orchestration.validation import shown, validate


class SweepRefused(SweepError):
    """Validation refused at least one config of the grid; none was kept. `problems` are the errors, by file."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"the sweep is refused and nothing was written; validation found:\n{lines}")


@dataclass(frozen=True)
class Sweep:
    base: Path
    configs: list[PlannedConfig]
    paths: list[Path]
    warnings: list[Problem] = field(default_factory=list)  # what validation warned about in the written configs


def plan(base_path: Path, variables: Sequence[Variable], zips: Sequence[Sequence[str]],
         settings: Settings) -> Sweep:
    """The configs a sweep of `base_path` would write, named after the highest number its family has beside it."""
    base = parse_config_name(base_path.name)
    if base is None:
        raise SweepError(f"filename: {base_path.name} is not <family>-NNN.yml, so the sweep cannot number its configs")
    try:
        loaded = load_config(base_path)
    except ConfigLoadError as exc:
        where = f"{shown(base_path, settings)}:{exc.line}" if exc.line else shown(base_path, settings)
        raise SweepError(f"{where}: yaml: {exc.message}") from None
    taken = [parsed.number for path in discover(base_path.parent)
             if (parsed := parse_config_name(path.name)) is not None and parsed.family == base.family]
    text = loaded.path.read_text(encoding="utf-8")
    configs = plan_sweep(text, base, taken, variables, zips, settings.budgets.sweep_configs)
    return Sweep(base_path, configs, [base_path.parent / f"{config.name.basename}.yml" for config in configs])


def write(sweep: Sweep, settings: Settings) -> Sweep:
    """Every config written and validated, or none: a SweepRefused lists each error in the new configs."""
    if taken := [path for path in sweep.paths if path.exists()]:
        raise SweepError(f"filename: {taken[0].name} exists already (another sweep wrote it meanwhile?); run again")
    written: list[Path] = []
    try:
        for path, config in zip(sweep.paths, sweep.configs, strict=True):
            written.append(path)
            write_atomic(path, config.text)
        report = validate([str(path) for path in sweep.paths], settings)
        ours = {shown(path, settings) for path in sweep.paths}
        if refused := [problem for problem in errors(report.problems) if problem.file in ours]:
            raise SweepRefused(refused)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    warned = [problem for problem in report.problems if problem.file in ours and problem.severity == "warning"]
    return Sweep(sweep.base, sweep.configs, sweep.paths, warned)
