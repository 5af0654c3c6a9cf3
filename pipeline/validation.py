"""`haha validate`: every check a config must pass before GPU time is spent on it.

Judges a config as the GPU runner will run it, on a CPU box with no network: nothing is
downloaded and nothing is loaded onto a device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.configs import ConfigLoadError, LoadedConfig, load_config
from pipeline.datasets import DatasetStats, check_dataset
from pipeline.evalspec import check_eval
from pipeline.naming import check_names, sort_key
from pipeline.problems import Problem, errors
from pipeline.rules import check_haha_rules, check_safety, dataset_file, is_url
from pipeline.schema import check_schema
from pipeline.settings import Settings


@dataclass
class ConfigReport:
    path: Path
    config: LoadedConfig | None
    problems: list[Problem] = field(default_factory=list)
    datasets: list[DatasetStats] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not errors(self.problems)


@dataclass
class Report:
    configs: list[ConfigReport] = field(default_factory=list)
    other: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return self.other + [p for c in self.configs for p in c.problems]

    def to_json(self) -> dict[str, object]:
        problems = self.problems
        return {
            "problems": [p.to_json() for p in problems],
            "datasets": [
                {"config": str(c.path.name), "file": d.file, "rows": d.rows, "duplicates": d.duplicates,
                 "too_long": d.too_long, "length_check": d.length_check}
                for c in self.configs for d in c.datasets
            ],
            "summary": {"configs": len(self.configs), "errors": len(errors(problems)),
                        "warnings": sum(p.severity == "warning" for p in problems)},
        }


def shown(path: Path, settings: Settings) -> str:
    """Paths in messages are repo-relative, so they read the same on every machine."""
    try:
        return str(path.resolve().relative_to(settings.root.resolve()))
    except ValueError:
        return str(path)


def looks_like_config(path: Path) -> bool:
    return any(suffix in (".yml", ".yaml") for suffix in path.suffixes)


def config_files(targets: list[str], settings: Settings) -> tuple[list[Path], list[Problem]]:
    """The config files named by the targets (files or folders), and problems for the unusable targets."""
    files, problems = [], []
    for target in targets:
        path = Path(target)
        if is_url(target):
            problems.append(Problem(target, None, "config", "remote (URL) configs are refused; add the file to "
                                                            "train/config"))
        elif path.is_dir():
            files += [p for p in path.iterdir() if p.is_file() and looks_like_config(p)]
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(target, None, "config", "no such file or folder"))
    return sorted(set(files), key=sort_key), problems


def check_datasets(report: ConfigReport, settings: Settings, display: str, count_lengths: bool) -> None:
    assert report.config is not None
    data = report.config.data
    for index, dataset_cfg in enumerate(data.get("datasets") or []):
        if not isinstance(dataset_cfg, dict) or not isinstance(dataset_cfg.get("path"), str):
            continue
        key = f"datasets[{index}].path"
        path = dataset_file(dataset_cfg["path"], settings)
        if path is None:
            continue  # already refused by the safety rules
        stats = check_dataset(shown(path, settings), path, data, dataset_cfg, count_lengths)
        report.datasets.append(stats)
        if not path.is_file():
            report.problems.append(Problem(display, report.config.line_of(key), key,
                                           f"dataset {stats.file} does not exist"))
            continue
        report.problems += stats.problems
        sequence_len = data.get("sequence_len")
        if stats.too_long and stats.too_long == stats.rows:
            report.problems.append(Problem(
                display, report.config.line_of("sequence_len"), "sequence_len",
                f"all {stats.rows} rows of {stats.file} are longer than sequence_len {sequence_len}: Axolotl "
                "would drop every row and training would die with num_samples=0"))
        elif stats.too_long:
            report.problems.append(Problem(
                display, report.config.line_of("sequence_len"), "sequence_len",
                f"{stats.too_long} of {stats.rows} rows of {stats.file} are longer than sequence_len "
                f"{sequence_len}; Axolotl drops them silently", "warning"))
        elif stats.too_long is None and stats.length_check:
            report.problems.append(Problem(display, report.config.line_of(key), key, stats.length_check, "note"))


def validate_config(path: Path, settings: Settings, count_lengths: bool = True) -> ConfigReport:
    display = shown(path, settings)
    try:
        config = load_config(path)
    except ConfigLoadError as exc:
        return ConfigReport(path, None, [Problem(display, exc.line, "yaml", exc.message)])
    except (OSError, UnicodeDecodeError) as exc:
        return ConfigReport(path, None, [Problem(display, None, "yaml", f"cannot read: {exc}")])
    report = ConfigReport(path, config)
    report.problems += check_schema(config, display)
    report.problems += check_haha_rules(config, settings, display)
    report.problems += check_safety(config, settings, display)
    check_datasets(report, settings, display, count_lengths)
    return report


def validate(targets: list[str], settings: Settings, check_eval_file: bool = True,
             count_lengths: bool = True) -> Report:
    files, target_problems = config_files(targets, settings)
    report = Report(other=target_problems)
    folders = sorted({f.parent for f in files})
    family_files = [p for folder in folders for p in folder.iterdir() if p.is_file() and looks_like_config(p)]
    report.other += check_names(family_files, {p: shown(p, settings) for p in family_files})
    report.configs = [validate_config(path, settings, count_lengths) for path in files]
    if check_eval_file:
        _, eval_problems = check_eval(settings.eval_file, shown(settings.eval_file, settings))
        report.other += eval_problems
    return report
