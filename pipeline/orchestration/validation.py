"""`haha validate`: every check a config must pass before GPU time is spent on it.

Judges a config as the GPU runner will run it, on a CPU box with no network: nothing is
downloaded and nothing is loaded onto a device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.grpo import grpo_checked
from pipeline.config.kinds import find_kind
from pipeline.config.load_checks import AxolotlTokenizer, check_model_load, stand_in_tokenizer
from pipeline.config.loading import ConfigLoadError, LoadedConfig, load_config
from pipeline.config.plugins import plugin_arg_models
from pipeline.config.policy import SchemaKeys, check_policy, importable_files
from pipeline.config.rules import (
    DatasetEntry,
    check_haha_rules,
    dataset_entries,
    dataset_file,
    is_hub_dataset,
    is_url,
)
from pipeline.config.schema import check_schema, schema_keys
from pipeline.config.sizing import size_config, sizing_problems
from pipeline.core.budgets import over_budget
from pipeline.core.files import shown_path
from pipeline.core.naming import (
    basename_of,
    check_names,
    discover,
    family_of,
    is_basename,
    looks_like_config,
    sort_key,
)
from pipeline.core.problems import Problem, errors
from pipeline.core.quiet import quiet_libraries
from pipeline.core.settings import Settings
from pipeline.core.yaml_text import key_lines, line_of
from pipeline.data.packing import estimate_packing
from pipeline.data.rows import DatasetStats, check_dataset, effective_sequence_len, image_problems
from pipeline.evaluate.tasks import registered, task_files
from pipeline.models.source import dataset_files
from pipeline.models.vision_twin import is_vision_config
from pipeline.orchestration.guards import guard_problems
from pipeline.ratings.files import check_ratings
from pipeline.ratings.lines import ratings_folder


@dataclass
class ConfigReport:
    path: Path
    config: LoadedConfig | None
    problems: list[Problem] = field(default_factory=list)
    datasets: list[DatasetStats] = field(default_factory=list)
    estimate: str = ""  # its GPU memory and GPU-hours on its runner class (config/sizing.py), when it can be told

    @property
    def ok(self) -> bool:
        return not errors(self.problems)


@dataclass
class Report:
    configs: list[ConfigReport] = field(default_factory=list)
    other: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        """Every problem once: a broken row in a dataset that 50 configs share is one problem, not 50."""
        return list(dict.fromkeys(self.other + [p for c in self.configs for p in c.problems]))

    def to_json(self) -> dict[str, object]:
        problems = self.problems
        return {
            "problems": [p.to_json() for p in problems],
            "datasets": [
                {"config": str(c.path.name), "file": d.file, "rows": d.rows, "duplicates": d.duplicates,
                 "too_long": d.too_long, "length_check": d.length_check}
                for c in self.configs for d in c.datasets
            ],
            "estimates": {str(c.path.name): c.estimate for c in self.configs if c.estimate},
            "summary": {"configs": len(self.configs), "errors": len(errors(problems)),
                        "warnings": sum(p.severity == "warning" for p in problems)},
        }


def shown(path: Path, settings: Settings) -> str:
    """Paths in messages are repo-relative, so they read the same on every machine."""
    return shown_path(path, settings.root)


def config_files(targets: list[str], settings: Settings) -> tuple[list[Path], list[Problem]]:
    """The config files named by the targets (files or folders), and problems for the unusable targets."""
    files, problems = [], []
    for target in targets:
        path = Path(target)
        if is_url(target):
            problems.append(Problem(target, None, "config", "remote (URL) configs are refused; add the file to "
                                                            "train/config"))
        elif path.is_dir():
            files += discover(path)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(target, None, "config", "no such file or folder"))
    return sorted(set(files), key=sort_key), problems


def _length_problem(config: LoadedConfig, display: str, stats: DatasetStats) -> Problem | None:
    """What the rows longer than sequence_len will do, given Axolotl's `excess_length_strategy`.

    Dropping a few rows is a note, more than half a warning, every row an error (training dies).
    """
    lengths = stats.lengths
    if lengths is None or not lengths.too_long:
        return None
    line = config.line_of("sequence_len")
    sequence_len = effective_sequence_len(config.data)
    counted = (f"{lengths.too_long:,} of {lengths.counted:,} rows ({round(lengths.share * 100)} %) of {stats.file} "
               f"are longer than sequence_len {sequence_len}")
    advice = f"sequence_len {lengths.keeps_99} keeps 99 % of rows ({stats.length_check})"
    strategy = config.data.get("excess_length_strategy") or "drop"
    if strategy == "truncate":
        return Problem(display, line, "sequence_len", f"{counted}; Axolotl will truncate them; {advice}", "note")
    if strategy == "raise":
        return Problem(display, line, "sequence_len", f"{counted}; excess_length_strategy: raise stops training; "
                                                      f"{advice}")
    if lengths.too_long == lengths.counted:
        return Problem(display, line, "sequence_len", f"{counted}: Axolotl would drop every row and training would "
                                                      f"die with num_samples=0; {advice}")
    severity = "warning" if lengths.share > 0.5 else "note"
    return Problem(display, line, "sequence_len", f"{counted} and will be dropped; {advice}", severity)


def naming_peers(files: list[Path]) -> list[Path]:
    """The files to check names across: the targets plus their families' other members beside them.

    Duplicates and gaps need the whole family; a misnamed file nobody asked about is not this run's problem.
    """
    families = {family_of(f.name) for f in files} - {None}
    peers = {p for folder in {f.parent for f in files} for p in folder.iterdir()
             if p.is_file() and looks_like_config(p) and family_of(p.name) in families}
    return sorted(peers | set(files), key=sort_key)


def check_datasets(report: ConfigReport, settings: Settings, display: str, tokenizer: AxolotlTokenizer | None,
                   count_lengths: bool, no_tokenizer: str) -> None:
    """Rows (through Axolotl's strategy), duplicates and, with the config's own tokenizer, lengths of every dataset
    the config trains or evaluates on."""
    config = report.config
    assert config is not None
    if find_kind(config.data) is None:
        return  # a training kind haha does not run yet: the rules said so
    for dataset in dataset_entries(config.data):
        if dataset.path is None:
            continue
        key = f"{dataset.where}.path"
        path = dataset_file(dataset.path, settings)
        if path is None:
            if is_hub_dataset(dataset.path, settings) and not errors(report.problems):
                check_hub_dataset(report, dataset, display, tokenizer, count_lengths, no_tokenizer)
            continue  # otherwise refused by the safety rules
        stats = check_dataset(shown(path, settings), path, config.data, dataset.list_key, dataset.index, tokenizer,
                              count_lengths, no_tokenizer)
        report.datasets.append(stats)
        if not path.is_file():
            report.problems.append(Problem(display, config.line_of(key), key,
                                           f"dataset {stats.file} does not exist"))
            continue
        report.problems += stats.problems
        if is_vision_config(config.data):
            report.problems += image_problems(stats.file, path, dataset.entry, settings.data_dir)
        if stats.entry_problem:
            type_key = f"{dataset.where}.type"
            report.problems.append(Problem(display, config.line_of(type_key), type_key, stats.entry_problem))
        elif (length := _length_problem(config, display, stats)) is not None:
            report.problems.append(length)
        elif stats.too_long is None and stats.length_check:
            report.problems.append(Problem(display, config.line_of(key), key, stats.length_check, "note"))
    if config.data.get("sample_packing") and (packing := _packing_note(config, display, report.datasets)):
        report.problems.append(packing)


def hub_data_files(folder: Path, entry: dict[str, Any]) -> list[Path]:
    """The files of a Hub dataset snapshot that training reads: `data_files` when named, else every data file
    (those named for the entry's `split`, when some are)."""
    named = entry.get("data_files")
    if named:
        names = [named] if isinstance(named, str) else list(named)
        return [folder / name for name in names]
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json", ".csv", ".parquet"))
    split = str(entry.get("split") or "train")
    of_split = [p for p in files if split in p.relative_to(folder).as_posix()]
    return of_split or files


def check_hub_dataset(report: ConfigReport, dataset: DatasetEntry, display: str, tokenizer: AxolotlTokenizer | None,
                      count_lengths: bool, no_tokenizer: str) -> None:
    """A pinned Hub dataset's rows, when its files are at hand (the HF cache, or the Hub when online); a note when
    not. A loading script is refused: datasets 4.x does not run it, and the runner never would."""
    config = report.config
    assert config is not None
    revision = str(dataset.entry.get("revision"))
    key = f"{dataset.where}.path"
    line = config.line_of(key)
    files = dataset_files(str(dataset.path), revision)
    if files.folder is None:
        report.problems.append(Problem(display, line, key, f"rows not checked: {files.reason}", "note"))
        return
    scripts = sorted(p.name for p in files.folder.glob("*.py"))
    if scripts:
        report.problems.append(Problem(display, line, key, f"the Hub dataset '{dataset.path}' has a loading script "
                                                           f"({', '.join(scripts)}); scripts are refused: use a "
                                                           "revision with data files only"))
        return
    for path in hub_data_files(files.folder, dataset.entry):
        shown_as = f"{dataset.path}@{revision[:8]}/{path.relative_to(files.folder).as_posix()}"
        stats = check_dataset(shown_as, path, config.data, dataset.list_key, dataset.index, tokenizer, count_lengths,
                              no_tokenizer)
        report.datasets.append(stats)
        report.problems += stats.problems
        if (length := _length_problem(config, display, stats)) is not None:
            report.problems.append(length)


def _packing_note(config: LoadedConfig, display: str, datasets: list[DatasetStats]) -> Problem | None:
    """With sample_packing on, how full the packed micro-batches will be, from the rows' counted lengths."""
    sequence_len = effective_sequence_len(config.data)
    if sequence_len is None or not datasets or any(d.lengths is None for d in datasets):
        return None  # the length check said why it did not count
    kept = [length for d in datasets if d.lengths is not None for length in d.lengths.kept]
    if (estimate := estimate_packing(kept, config.data, sequence_len)) is None:
        return None
    return Problem(display, config.line_of("sample_packing"), "sample_packing", estimate.describe(), "note")


def validate_config(path: Path, settings: Settings, count_lengths: bool = True) -> ConfigReport:
    """All checks on one config; a config that cannot be read gets that one problem and no others."""
    display = shown(path, settings)
    try:
        config = load_config(path)
    except ConfigLoadError as exc:
        return ConfigReport(path, None, [Problem(display, exc.line, "yaml", exc.message)])
    except (OSError, UnicodeDecodeError) as exc:
        return ConfigReport(path, None, [Problem(display, None, "yaml", f"cannot read: {exc}")])
    report = ConfigReport(path, config)
    report.problems += [Problem(display, line, key, "written twice; YAML silently keeps only the last value")
                        for key, line in config.repeated]
    plugin_args = plugin_arg_models(config.data, settings)
    report.problems += grpo_checked(check_schema(config, display, plugin_args), config, display)
    report.problems += check_haha_rules(config, settings, display)
    report.problems += check_policy(config, settings, display,
                                    SchemaKeys(*schema_keys(config.data), frozenset(plugin_args)))
    if errors(report.problems):
        check_datasets(report, settings, display, None, False, "rows not checked: fix the config first")
        return report
    with quiet_libraries():
        loaded = check_model_load(config, display)
        tokenizer, note = loaded.tokenizer, ""
        if tokenizer is None:
            skipped = ("length check skipped" if loaded.model_checked
                       else "length check and Axolotl's model-load checks skipped")
            tokenizer, why = stand_in_tokenizer(config.data, loaded.settings)
            note = f"{skipped}: {loaded.skipped}; {why}" if count_lengths else ""
        check_datasets(report, settings, display, tokenizer, count_lengths and loaded.tokenizer is not None, note)
    report.problems += loaded.problems
    counted = [d.lengths.kept for d in report.datasets if d.lengths is not None]
    exact = bool(counted) and len(counted) == len(report.datasets)
    bound = (effective_sequence_len(config.data) or 0) * sum(d.rows for d in report.datasets)
    sizing = size_config(basename_of(path), config.data, settings, sum(map(sum, counted)) if exact else bound or None,
                         tokens_bound=not exact)
    report.problems += sizing_problems(config, settings, display, sizing)
    hours = sizing.estimate.gpu_hours if sizing.estimate is not None else None
    if hours is not None and (message := over_budget("estimated GPU-hours", round(hours, 1),
                                                     settings.budgets.gpu_hours, "gpu_hours")) is not None:
        # Counted rows are refused; rows x sequence_len is only a ceiling, so it warns.
        severity = "warning" if sizing.estimate is not None and sizing.estimate.hours_bound else "error"
        report.problems.append(Problem(display, config.line_of("num_epochs"), "num_epochs", message, severity))
    if sizing.estimate is not None:
        report.estimate = sizing.estimate.summary(sizing.assignment.name, sizing.assignment.runner)
    return report


def same_after_parsing(configs: list[ConfigReport], settings: Settings) -> list[Problem]:
    """A config equal to an earlier one once parsed (only comments, order or spelling differ) trains nothing new."""
    first_of: dict[str, ConfigReport] = {}
    found = []
    for report in configs:
        if report.config is None:
            continue
        parsed = json.dumps(report.config.data, sort_keys=True, default=str)
        if (first := first_of.setdefault(parsed, report)) is not report:
            found.append(Problem(shown(report.path, settings), None, "config",
                                 f"the same experiment as {shown(first.path, settings)} once parsed (only comments "
                                 "or formatting differ): it would train the same model twice", "warning"))
    return found


def validate(targets: list[str], settings: Settings, check_eval_file: bool = True,
             count_lengths: bool = True) -> Report:
    """`haha validate`: the targets' configs, their names across each family, their datasets, and eval.json."""
    files, target_problems = config_files(targets, settings)
    report = Report(other=target_problems)
    family_files = naming_peers(files)
    report.other += check_names(family_files, {p: shown(p, settings) for p in family_files})
    report.configs = [validate_config(path, settings, count_lengths) for path in files]
    report.other += same_after_parsing(report.configs, settings)
    report.other += importable_files(settings, lambda path: shown(path, settings))
    if check_eval_file:
        report.other += check_eval_tasks(settings)
        report.other += check_ratings(ratings_folder(settings.results_dir), settings.results_dir,
                                      lambda path: f"{shown(path.parent, settings)}/{path.name}")
    if settings.judge:
        report.other += [Problem("pyproject.toml", None, "tool.haha.judge", message)
                         for message in reward_model_problems(settings.judge, settings)]
    report.other += guard_problems([c.config for c in report.configs if c.config], settings,
                                   lambda path: shown(path, settings), check_eval_file)
    return report


def check_eval_tasks(settings: Settings) -> list[Problem]:
    """eval.json (which must exist) and every other task file in train/eval, each checked by its kind."""
    if not settings.eval_file.is_file():
        return [Problem(shown(settings.eval_file, settings), None, "eval.json", "file does not exist")]
    tasks = registered()
    problems = []
    for path, task, why in task_files(settings.eval_dir):
        display = shown(path, settings)
        if task is None:
            problems.append(Problem(display, None, "kind", why))
            continue
        spec, found = tasks[task.kind].check(path, display)
        problems += found + (tasks[task.kind].check_files(spec, path, display, settings.data_dir) if spec else [])
        if task.reward_model is not None:
            line = line_of(key_lines(path.read_text(encoding="utf-8")), "rewardModel")
            problems += [Problem(display, line, "rewardModel", message)
                         for message in reward_model_problems(task.reward_model, settings)]
    return problems


def reward_model_problems(basename: str, settings: Settings) -> list[str]:
    """A task that scores with a reward model names a config in train/config that trains one."""
    if not is_basename(basename):
        return [f"must be the basename of a reward config in train/config (like haha-llama-3-8b-reward-001), got "
                f"{basename!r}"]
    path = settings.config_dir / f"{basename}.yml"
    try:
        kind = find_kind(load_config(path).data)
    except (ConfigLoadError, OSError, UnicodeDecodeError):
        return [f"no readable config {basename}.yml in {shown(settings.config_dir, settings)}"]
    if kind is None or not kind.scorer:
        return [f"{basename} does not train a reward model (it needs reward_model: true)"]
    return []


def readable_lines(report: Report) -> list[tuple[str, str]]:
    """What `haha validate` prints, as (line, severity): errors and warnings one per line; identical notes and
    dataset statistics folded into one line with a count, so hundreds of configs sharing a base model and a
    dataset stay readable."""
    lines: list[tuple[str, str]] = []
    notes: dict[str, list[Problem]] = {}
    for problem in report.problems:
        if problem.severity == "note":
            notes.setdefault(f"{problem.key.split('[')[0]}: {problem.message}", []).append(problem)
        else:
            lines.append((str(problem), problem.severity))
    for same in notes.values():
        first = same[0]
        more = f" (and {len(same) - 1} more configs)" if len(same) > 1 else ""
        lines.append((f"{first}{more}", "note"))
    stats: dict[str, list[str]] = {}
    for config in report.configs:
        for d in config.datasets:
            dropped = "too long: not counted" if d.too_long is None else f"{d.too_long} too long"
            stats.setdefault(f"{d.file}: {d.rows} rows, {d.duplicates} duplicates, {dropped}", []).append(
                config.path.name)
    for summary, configs in stats.items():
        used_by = configs[0] if len(configs) == 1 else f"{len(configs)} configs"
        lines.append((f"{summary} ({used_by})", "info"))
    estimates: dict[str, list[str]] = {}
    for config in report.configs:
        if config.estimate:
            estimates.setdefault(config.estimate, []).append(config.path.name)
    for summary, configs in estimates.items():
        named = configs[0] if len(configs) == 1 else f"{len(configs)} configs"
        lines.append((f"{named}: {summary}", "info"))
    return lines
