"""`haha compare`: two or more results side by side in the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.main import app
from pipeline.core.errors import UsageError
from pipeline.results.compare import resolve_results
from tests.support.sample_results import results_doc, write_doc


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.haha]\n")
    folder = tmp_path / "train" / "results"
    folder.mkdir(parents=True)
    write_doc(folder, "haha-a", results_doc("haha-a", learning_rate=0.0002))
    write_doc(folder, "haha-b", results_doc("haha-b", meta=False, repeat_cold=True))
    (folder / "haha-broken.json").write_text("[]")
    monkeypatch.setenv("HAHA_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "160")
    return tmp_path


def test_compare_shows_the_diff_then_completions_per_prompt(root: Path) -> None:
    result = CliRunner().invoke(app, ["compare", "haha-a", str(root / "train" / "results" / "haha-b.json")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "hyperparameters that differ" in out
    diff = next(line for line in out.splitlines() if "learning_rate" in line)
    assert "0.0002" in diff and "9.5e-05" in diff
    assert "sequence_len" not in out  # equal keys are left out
    assert out.index("It was 100 degrees today.") < out.index("My cat knocked over my coffee.")
    row = next(line for line in out.splitlines() if "haha-a joke 0.0.1" in line)
    assert "t=0.1" in row and "↻ haha-b joke 0.0.1" in row  # haha-b's seeds 1 and 2 repeat themselves
    assert "haha-a joke 1.1.3" in out and "haha-b joke 1.1.3" in out


def test_compare_prompt_filter(root: Path) -> None:
    result = CliRunner().invoke(app, ["compare", "haha-a", "haha-b", "--prompt", "CAT"])
    assert result.exit_code == 0
    assert "My cat knocked over my coffee." in result.stdout and "100 degrees" not in result.stdout


@pytest.mark.parametrize(("args", "code", "message"), [
    (["haha-a"], 2, "two or more"),
    (["haha-a", "haha-zzz"], 2, "haha-zzz: no results file"),
    (["haha-a", "haha-broken"], 1, "haha-broken.json: top level"),
])
def test_compare_errors(root: Path, args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(app, ["compare", *args])
    assert result.exit_code == code
    assert message in result.output


def test_resolve_accepts_basenames_config_paths_and_result_paths(root: Path) -> None:
    results = root / "train" / "results"
    assert resolve_results("haha-a", results) == results / "haha-a.json"
    assert resolve_results("train/config/haha-a.yml", results) == results / "haha-a.json"
    assert resolve_results(str(results / "haha-b.json"), results) == results / "haha-b.json"
    with pytest.raises(UsageError, match="known: haha-a, haha-b, haha-broken"):
        resolve_results("haha-c", results)
