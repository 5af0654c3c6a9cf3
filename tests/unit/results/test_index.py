"""The results index: README and index.html from new-format, old-format and broken results files."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.main import app
from pipeline.formats.results import ResultsDoc
from pipeline.results.entries import (
    DatedBy,
    Sources,
    differing,
    hyperparameter_rows,
    hyperparameters_of_entry,
    parse_time,
)
from pipeline.results.page import index_payload, render_html, script_json
from pipeline.results.readme import render_readme
from pipeline.results.rebuild import write_index
from pipeline.results.scan import scan_results
from pipeline.results.sources import read_sources
from pipeline.results.values import Link, exact_value, hub_link, loss_change, rounded_value, setting_label, wandb_link
from tests.support.sample_results import BASE_CONFIG, results_doc, write_doc

OLD_COMMIT = "2020-09-13T12:26:40+00:00"  # when the old-format file was committed: before every meta.finished


def git(root: Path, *args: str, **env: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                   env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", **env})


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """A repo with two new-format files that differ in learning rate, one old-format file committed in 2020 whose
    config names its base model, and one broken file."""
    folder = tmp_path / "train" / "results"
    folder.mkdir(parents=True)
    (tmp_path / "train" / "config").mkdir()
    (tmp_path / "train" / "config" / "haha-old-003.yml").write_text("base_model: NousResearch/Llama-2-7b-hf\n")
    old = write_doc(folder, "haha-old-003", results_doc("haha-old-003", meta=False, repeat_cold=True))
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", str(old))
    git(tmp_path, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "old results",
        GIT_COMMITTER_DATE=OLD_COMMIT, GIT_AUTHOR_DATE=OLD_COMMIT)
    write_doc(folder, "haha-llama-017", results_doc("haha-llama-017", repeat_cold=True,
                                                    finished="2025-03-02T10:00:00+00:00"))
    write_doc(folder, "haha-llama-016", results_doc("haha-llama-016", learning_rate=0.0002,
                                                    finished="2025-03-01T10:00:00+00:00"))
    (folder / "haha-broken-001.json").write_text('{"config": {"name": "haha-broken-001"}, "results": [{"prompt": 1')
    return folder


def sources(results_dir: Path) -> Sources:
    """What `haha results` reads besides the files: git's commit times and the configs."""
    root = results_dir.parent.parent
    return read_sources(root, results_dir, root / "train" / "config")


def test_scan_reads_old_and_new_in_config_order_and_sets_broken_apart(results_dir: Path) -> None:
    scan = scan_results(results_dir, sources(results_dir))
    assert [e.name for e in scan.entries] == ["haha-llama-016", "haha-llama-017", "haha-old-003"]
    assert [e.dated_by for e in scan.entries] == [DatedBy.META, DatedBy.META, DatedBy.COMMIT]
    assert scan.entries[2].finished == datetime.fromisoformat(OLD_COMMIT)
    assert scan_results(results_dir).entries[2].dated_by is DatedBy.UNKNOWN  # no git: unknown, never a file date
    assert [b.file for b in scan.broken] == ["haha-broken-001.json"]
    assert "not JSON" in scan.broken[0].reason and str(results_dir) not in scan.broken[0].reason


def test_readme_lists_every_file_with_only_differing_hyperparameters(results_dir: Path) -> None:
    readme = render_readme(scan_results(results_dir, sources(results_dir)))
    header = next(line for line in readme.splitlines() if line.startswith("| config"))
    assert header.split(" | ")[1:4] == ["base model", "learning_rate", "W&B"]  # sequence_len etc. are all equal
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    assert [row.split(" | ")[0] for row in rows] == ["| `haha-llama-016`", "| `haha-llama-017`", "| `haha-old-003`"]
    newest = rows[1]
    assert "[haha-llama-017-id](https://wandb.ai/haha-lab/haha/runs/haha-llama-017-id)" in newest
    assert "[haha-lab/haha-llama-017](https://huggingface.co/haha-lab/haha-llama-017)" in newest
    assert "2025-03-02 10:00" in newest and newest.endswith("| 67% | 0% |")  # seeds 1 and 2 of 3 agree: 2 of 3 repeat
    old = rows[2]
    assert "2020-09-13 12:26 †" in old and "last commit" in readme
    assert "| NousResearch/Llama-2-7b-hf |" in old  # no meta: the base model its config names
    assert old.endswith("| 67% | 0% |")  # old files: the share is computed from their completions
    assert "| 9.5e-05 |" in old and "| 0.0002 |" in rows[0]
    assert "- `haha-broken-001.json`: top level: not JSON" in readme


def test_readme_is_stable_and_says_when_empty(results_dir: Path, tmp_path: Path) -> None:
    assert render_readme(scan_results(results_dir)) == render_readme(scan_results(results_dir))
    write_index(results_dir, sources(results_dir))
    built = {name: (results_dir / name).read_bytes() for name in ("README.md", "index.html")}
    for path in results_dir.iterdir():  # a fresh checkout: every file date is new
        os.utime(path, (1_900_000_000, 1_900_000_000))
    write_index(results_dir, sources(results_dir))
    assert {name: (results_dir / name).read_bytes() for name in built} == built
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "No results yet" in render_readme(scan_results(empty))


def test_readme_cells_cannot_break_the_table(tmp_path: Path) -> None:
    write_doc(tmp_path, "a", results_doc("a", default_system_message="Be | <b>funny</b>\nplease " + "x" * 60))
    write_doc(tmp_path, "b", results_doc("b"))
    row = render_readme(scan_results(tmp_path)).splitlines()[6]
    cell = row.split(" | ")[2]
    assert cell.startswith("Be \\| &lt;b>funny&lt;/b> please") and cell.endswith("…") and "\n" not in row


def test_hyperparameter_rows_and_differences() -> None:
    docs = [ResultsDoc.model_validate(doc) for doc in (
        results_doc("a", lora_r=32), results_doc("b", lora_r=64), results_doc("c", meta=False, lora_r=32.0))]
    docs[2].config.base_model = "an/old-model"  # type: ignore[attr-defined]  # an extra key some old files have
    rows = hyperparameter_rows([hyperparameters_of_entry(doc, None)[0] for doc in docs])
    assert list(rows)[:2] == ["base_model", "default_system_message"]
    assert rows["base_model"] == ["meta-llama/Meta-Llama-3-8B", "meta-llama/Meta-Llama-3-8B", "an/old-model"]
    assert list(rows).count("base_model") == 1
    assert rows["lora_r"] == [32, 64, 32.0]
    assert differing(rows) == ["base_model", "lora_r"]  # 32 and 32.0 read the same: no difference


@pytest.mark.parametrize(("value", "text"), [(None, "—"), ("", "—"), (True, "true"), (0.000095, "9.5e-05"), (32, "32"),
                                             ("1e-5", "1e-05"), (0.05, "0.05"), (0.1 + 0.2, "0.3"), ("adamw", "adamw")])
def test_a_table_rounds_a_value_and_reads_yamls_number_strings_as_numbers(value: object, text: str) -> None:
    assert rounded_value(value) == text  # `1e-5` (PyYAML's string) and 1e-05 are no difference in a table


def test_a_sentence_about_a_change_shows_every_digit() -> None:
    assert [exact_value(v) for v in (None, 0.0001, 0.00010000001, "1e-5", False)] == \
        ["unset", "0.0001", "0.00010000001", "1e-05", "false"]


def test_a_loss_reads_first_to_last_and_is_absent_when_nothing_was_logged() -> None:
    assert loss_change([3.96214, 3.5, 3.1]) == "3.962 → 3.100"
    assert loss_change([]) is None


def test_setting_label_puts_temperature_first() -> None:
    assert setting_label({"top_p": 0.95, "temperature": 0.9}) == "t=0.9 top_p=0.95"


@pytest.mark.parametrize(("run", "link"), [
    ("haha-lab/haha/3x9z", Link("3x9z", "https://wandb.ai/haha-lab/haha/runs/3x9z")),
    ("https://wandb.ai/e/p/runs/3x9z", Link("3x9z", "https://wandb.ai/e/p/runs/3x9z")),
    ("haha-llama-017", Link("haha-llama-017", None)),
    (None, None),
])
def test_wandb_links_only_when_the_run_path_is_known(run: str | None, link: Link | None) -> None:
    assert wandb_link(run) == link


@pytest.mark.parametrize(("repo", "link"), [
    ("haha-lab/haha-017", Link("haha-lab/haha-017", "https://huggingface.co/haha-lab/haha-017")),
    ("https://huggingface.co/haha-lab/x", Link("haha-lab/x", "https://huggingface.co/haha-lab/x")),
    ("local:/tmp/hub/haha-lab/x", Link("local:/tmp/hub/haha-lab/x", None)),
    ("", None),
])
def test_hub_links(repo: str, link: Link | None) -> None:
    assert hub_link(repo) == link


def test_parse_time_takes_naive_as_utc_and_rejects_junk() -> None:
    assert parse_time("2025-03-02T10:00:00").tzinfo is not None  # type: ignore[union-attr]
    assert parse_time("2025-03-02T10:00:00Z") == parse_time("2025-03-02T10:00:00+00:00")
    assert parse_time("yesterday") is None and parse_time(None) is None


def test_html_embeds_all_data_and_cannot_be_closed_by_a_completion(tmp_path: Path) -> None:
    doc = results_doc("haha-x")
    doc["results"][0]["settingsResults"][0]["completions"][0] = "</script><script>alert(1)</script> <!-- & é"
    write_doc(tmp_path, "haha-x", doc)
    write_doc(tmp_path, "haha-y", results_doc("haha-y", meta=False))
    scan = scan_results(tmp_path)
    html = render_html(scan)
    match = re.search(r'<script type="application/json" id="haha-data">(.*?)</script>', html, re.S)
    assert match is not None
    assert json.loads(match.group(1)) == json.loads(json.dumps(index_payload(scan)))
    assert html.count("</script>") == 2 and "<!--" not in match.group(1)
    first = next(c for c in json.loads(match.group(1))["configs"] if c["name"] == "haha-x")
    assert first["results"][0]["settings"]["t=0.1"][0] == [1, "</script><script>alert(1)</script> <!-- & é"]
    assert first["values"]["learning_rate"] == "9.5e-05"
    assert first["repeated"] == {"t=0.1": 0.0, "t=0.9 top_p=0.95": 0.0}
    # Nothing is fetched: the only addresses are links out and SVG's namespace name (an identifier, never loaded).
    assert "http" not in html.replace("https://huggingface.co/", "").replace("https://wandb.ai/", "").replace(
        '"http://www.w3.org/2000/svg"', "")


def test_script_json_escapes_markup_characters() -> None:
    assert script_json({"a": "</script>&"}) == '{"a":"\\u003c/script\\u003e\\u0026"}'


def test_write_index_writes_both_files(results_dir: Path) -> None:
    scan = write_index(results_dir, sources(results_dir))
    assert len(scan.entries) == 3
    assert (results_dir / "README.md").read_text().startswith("# Results")
    assert (results_dir / "index.html").read_text().startswith("<!doctype html>")
    assert sorted(p.name for p in results_dir.iterdir() if p.name.startswith(".")) == []


def test_cli_results_reports_broken_files_and_fails_only_when_strict(results_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAHA_ROOT", str(results_dir.parent.parent))
    (results_dir.parent.parent / "pyproject.toml").write_text("[tool.haha]\n")
    result = CliRunner().invoke(app, ["results"])
    assert result.exit_code == 0, result.output
    assert "indexed 3 results files (1 unreadable)" in result.stdout
    assert "haha-broken-001.json" in result.stderr
    assert "haha-old-003" in (results_dir / "README.md").read_text()
    assert CliRunner().invoke(app, ["results", "--strict"]).exit_code == 1


def test_old_results_are_compared_on_their_whole_config_as_committed(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two old-format files whose 14 recorded keys agree; their YAMLs differ in weight_decay and warmup_steps."""
    results, configs = tmp_path / "train" / "results", tmp_path / "train" / "config"
    results.mkdir(parents=True)
    configs.mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.haha]\n")
    for name, decay, warmup in (("haha-old-001", 0.0, 10), ("haha-old-002", 0.1, 100)):
        yaml_text = "".join(f"{key}: {json.dumps(value)}\n" for key, value in {
            "base_model": "NousResearch/Llama-2-7b-hf", **BASE_CONFIG, "weight_decay": decay,
            "warmup_steps": warmup}.items())
        (configs / f"{name}.yml").write_text(yaml_text)
        write_doc(results, name, results_doc(name, meta=False))
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "results",
        GIT_COMMITTER_DATE=OLD_COMMIT, GIT_AUTHOR_DATE=OLD_COMMIT)
    # Edited since: the comparison is of what ran, the config as it was committed with its results.
    (configs / "haha-old-002.yml").write_text((configs / "haha-old-001.yml").read_text())

    scan = scan_results(results, sources(results))
    assert all(entry.hyperparameters_from.endswith("the commit that added its results") for entry in scan.entries)
    readme = render_readme(scan)
    header = next(line for line in readme.splitlines() if line.startswith("| config"))
    assert header.split(" | ")[1:4] == ["base model", "warmup_steps", "weight_decay"]
    payload = index_payload(scan)
    assert [c["values"]["weight_decay"] for c in payload["configs"]] == ["0", "0.1"]
    monkeypatch.setenv("HAHA_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "160")
    compared = CliRunner().invoke(app, ["compare", "haha-old-001", "haha-old-002"])
    assert compared.exit_code == 0, compared.output
    assert "hyperparameters that differ" in compared.stdout
    row = next(line for line in compared.stdout.splitlines() if "warmup_steps" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == ["warmup_steps", "10", "100"]
