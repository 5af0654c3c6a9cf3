"""Gathering what the index and `haha compare` read besides the results files: git history and train/config.

- when each results file was last committed (dates old-format files; file dates never count);
- for results files that did not record their whole config, that config as it was at the commit
  that added the results file, else the current file, parsed and flattened like a new file's;
- people's ratings from the ratings folder beside the results folder (named `ratings/<rater>.jsonl`).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.core.git_history import adding_commits, commit_times, files_at
from pipeline.core.yaml_text import parse_yaml
from pipeline.formats.results import hyperparameters_of
from pipeline.ratings.files import read_ratings
from pipeline.ratings.lines import ratings_folder
from pipeline.results.entries import ConfigSnapshot, Sources


def snapshot(text: str, source: str) -> ConfigSnapshot | None:
    try:
        data = parse_yaml(text)[0]
    except yaml.YAMLError:
        return None
    return ConfigSnapshot(hyperparameters_of(data), source) if isinstance(data, dict) else None


def read_sources(root: Path, results_dir: Path, config_dir: Path, data_dir: Path | None = None) -> Sources:
    names = sorted(path.stem for path in results_dir.glob("*.json"))
    added = adding_commits(root, results_dir)
    try:
        config_path = config_dir.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        config_path = ""
    wanted = {name: (added[f"{name}.json"], f"{config_path}/{name}.yml") for name in names
              if f"{name}.json" in added and config_path}
    committed = files_at(root, wanted)
    configs = {}
    for name in names:
        found = None
        if name in committed:
            commit = wanted[name][0][:7]
            where = f"{config_path}/{name}.yml at {commit}"
            found = snapshot(committed[name], f"{where}, the commit that added its results")
        current = config_dir / f"{name}.yml"
        if found is None and current.is_file():
            found = snapshot(current.read_text(encoding="utf-8", errors="replace"),
                             f"{config_path or config_dir}/{name}.yml as it is now (not in git with the results)")
        if found is not None:
            configs[name] = found
    ratings = read_ratings(ratings_folder(results_dir), lambda path: path.relative_to(results_dir.parent).as_posix())
    return Sources(commit_times(root, results_dir), configs, ratings, data_dir)
