"""Editing the throwaway repo's config (the `haha_repo` fixture) and reading what validation says about it."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.core.settings import load_settings
from pipeline.orchestration.validation import validate


def set_keys(repo: Path, **keys: object) -> Path:
    """Rewrite `jokes-001.yml` with `keys` set; returns its path."""
    return write_config(repo, "jokes-001", **keys)


def write_config(repo: Path, name: str, **changes: object) -> Path:
    """`train/config/<name>.yml`: `jokes-001.yml` with `changes` set; returns its path."""
    config = yaml.safe_load((repo / "train" / "config" / "jokes-001.yml").read_text())
    config.update(changes)
    path = repo / "train" / "config" / f"{name}.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def errors_and_warnings(repo: Path) -> list[tuple[int | None, str, str, str]]:
    """(line, key, severity, message) of every problem but notes, lengths uncounted."""
    report = validate([str(repo / "train" / "config")], load_settings(repo), check_eval_file=False,
                      count_lengths=False)
    return [(p.line, p.key, p.severity, p.message) for p in report.problems if p.severity != "note"]


def key_line(path: Path, key: str) -> int:
    """The 1-based line of a top-level key."""
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if line.startswith(f"{key}:"))
