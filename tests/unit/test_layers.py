"""The import-linter contract in pyproject.toml holds, and it catches each cycle the package graph once had.

The cycles are reintroduced in a copy of the package (one added import each) and import-linter, run for real on
the copy, must name every one of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# (importer, imported): each closed a cycle between packages before the layers were drawn (docs/architecture.md).
CYCLES = [
    ("pipeline.formats.results", "pipeline.evaluate.spec"),  # the results format read the eval file's parameters
    ("pipeline.config.rules", "pipeline.train.prompt_loss"),  # the rules read training's modules
    ("pipeline.config.rules", "pipeline.data.rows"),  # full validation lived in config and read rows
    ("pipeline.train.merge", "pipeline.publish.fetch"),  # training fetched its parent from the hub
    ("pipeline.train.merge", "pipeline.results.provenance"),  # …and trusted its results file
    ("pipeline.publish.modelcard", "pipeline.train.tracking"),  # the model card read the tracker's module
    ("pipeline.results.sources", "pipeline.gitops.collect"),  # results read git workflows, which read results
    ("pipeline.evaluate.sweep", "pipeline.results.rank"),  # evaluation wrote through the results readers
]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy's `pipeline` before the installed one
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def copy_package(dest: Path) -> Path:
    shutil.copytree(REPO / "pipeline", dest / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_the_package_keeps_its_layers(tmp_path: Path) -> None:
    done = lint_imports(copy_package(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout


def test_each_former_cycle_breaks_the_contract(tmp_path: Path) -> None:
    root = copy_package(tmp_path)
    for importer, imported in CYCLES:
        module = root / Path(*importer.split(".")).with_suffix(".py")
        module.write_text(module.read_text() + f"\nimport {imported}  # noqa\n")
    done = lint_imports(root)
    assert done.returncode == 1, done.stdout + done.stderr
    missed = [f"{a} -> {b}" for a, b in CYCLES if f"{a} -> {b}" not in done.stdout]
    assert not missed, f"import-linter did not report {missed}:\n{done.stdout}"


def test_an_unlisted_package_is_refused(tmp_path: Path) -> None:
    """`exhaustive = true`: a new package must be given a layer before it can be imported from anywhere."""
    root = copy_package(tmp_path)
    (root / "pipeline" / "newpackage").mkdir()
    (root / "pipeline" / "newpackage" / "__init__.py").write_text("")
    done = lint_imports(root)
    assert done.returncode != 0 and "newpackage" in done.stdout + done.stderr, done.stdout + done.stderr
