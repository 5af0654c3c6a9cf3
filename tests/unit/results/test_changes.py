"""Change detection: what is pending comes from the repo's state; a push's diff is only reported.

The git cases run real git in throwaway repositories made here, the way GitHub delivers pushes:
several quick pushes, a branch's first push, a force push, a push of results only.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.main import app
from pipeline.config.loading import config_sha256
from pipeline.core.naming import discover
from pipeline.formats.results import ConfigBlock, Meta, ResultsDoc, dumps_results, hyperparameters_of
from pipeline.gitops.push_diff import Change, changed_configs, choose_base, parse_name_status, push_diff
from pipeline.results.pending import (
    CONFIG_CHANGED,
    INCOMPLETE,
    NO_RESULTS,
    PREDATES_HASHES,
    Verdict,
    pending,
    verdict_against,
    verdict_for,
)
from tests.support.sample_results import BASE_CONFIG, results_doc

ZEROS = "0" * 40


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repo shaped like haha's: pyproject with [tool.haha], train/config, train/results; one initial commit."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    root = tmp_path / "repo"
    (root / "train" / "config").mkdir(parents=True)
    (root / "train" / "results").mkdir()
    (root / "pyproject.toml").write_text("[tool.haha]\n")
    (root / "train" / "results" / ".gitkeep").write_text("")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    commit(root, "initial")
    return root


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


def write_config(root: Path, name: str, lr: float = 0.0001) -> Path:
    path = root / "train" / "config" / f"{name}.yml"
    path.write_text(f"base_model: tiny\nlearning_rate: {lr}\n")
    return path


def write_results(root: Path, config: Path, meta: dict[str, object] | None = None) -> Path:
    body: dict[str, object] = {"config": {"name": config.stem}, "results": []}
    if meta is not None:
        body["meta"] = meta
    path = root / "train" / "results" / f"{config.stem}.json"
    path.write_text(json.dumps(body))
    return path


def done_meta(config: Path) -> dict[str, object]:
    return {"config_sha256": config_sha256(config), "finished": "2025-01-01T00:00:00Z"}


def reasons(root: Path) -> dict[str, str]:
    config_dir = root / "train" / "config"
    return {p.path.name: p.reason for p in pending(discover(config_dir), root / "train" / "results")}


# --- pure core ------------------------------------------------------------------------------------------------------


def results(meta: Meta | None) -> ResultsDoc:
    """A results file as the eval writes it (meta None: a pre-pipeline haha file)."""
    return ResultsDoc(config=ConfigBlock(name="x"), results=[], meta=meta)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (results(None), None),  # pre-pipeline haha file: no meta, counts as done
        (results(Meta(config_sha256="abc", finished="2025-01-01T00:00:00+00:00")), None),
        (results(Meta(config_sha256="abc")), INCOMPLETE),  # a sweep cut off half way has no `finished`
        (results(Meta(config_sha256="old", finished="2025-01-01T00:00:00+00:00")), CONFIG_CHANGED),
        (results(Meta()), CONFIG_CHANGED),
    ],
)
def test_pending_reason(doc: ResultsDoc, expected: str | None) -> None:
    assert verdict_against("abc", {}, doc).reason == expected


@pytest.mark.parametrize("text", ["{not json", "[]", '{"config": {"name": "x"}, "results": [], "meta": "x"}'])
def test_unreadable_results_are_pending_and_say_so(tmp_path: Path, text: str) -> None:
    config = tmp_path / "config" / "haha-x-001.yml"
    config.parent.mkdir()
    config.write_text("base_model: x\n")
    (tmp_path / "haha-x-001.json").write_text(text)
    reason = verdict_for(config, tmp_path).reason
    assert reason is not None and reason.startswith("results file unreadable")


def test_parse_name_status_covers_every_kind() -> None:
    output = "\0".join([
        "A", "train/config/a-001.yml",
        "M", "train/config/a-002.yml",
        "T", "train/config/a-003.yml",
        "D", "train/config/old-001.yml",
        "R100", "train/config/b-001.yml", "train/config/c-001.yml",
        "C75", "train/config/a-001.yml", "train/config/a-004.yml",
        "A", "train/config/with space-001.yml",
    ]) + "\0"
    assert parse_name_status(output) == [
        Change("added", "train/config/a-001.yml"),
        Change("modified", "train/config/a-002.yml"),
        Change("modified", "train/config/a-003.yml"),
        Change("deleted", "train/config/old-001.yml"),
        Change("renamed", "train/config/c-001.yml", "train/config/b-001.yml"),
        Change("added", "train/config/a-004.yml"),
        Change("added", "train/config/with space-001.yml"),
    ]


def test_parse_name_status_empty_and_unknown() -> None:
    assert parse_name_status("") == []
    with pytest.raises(ValueError, match="unexpected git name-status 'X'"):
        parse_name_status("X\0train/config/a-001.yml\0")


def test_changed_configs_skip_deletions_and_non_configs_and_sort_numerically() -> None:
    changes = [Change("added", "train/config/a-010.yml"), Change("modified", "train/config/a-009.yml"),
               Change("deleted", "train/config/a-001.yml"), Change("added", "train/config/README.md"),
               Change("renamed", "train/config/b-002.yml", "train/config/b-001.yml")]
    assert changed_configs(changes) == ["train/config/a-009.yml", "train/config/a-010.yml", "train/config/b-002.yml"]


def test_choose_base() -> None:
    before, merge_base = "b" * 40, "m" * 40
    assert choose_base(ZEROS, False, False, None)[0] is None
    assert choose_base("0" * 64, False, False, None)[0] is None  # SHA-256 repositories
    assert choose_base(before, True, True, None) == (before, "")
    base, note = choose_base(before, True, False, merge_base)
    assert base == merge_base and note.startswith("force push") and "merge-base" in note
    base, note = choose_base(before, True, False, None)
    assert base is None and "no history" in note
    base, note = choose_base(before, False, False, None)
    assert base is None and "not in this repository" in note


# --- the repository's state -----------------------------------------------------------------------------------------


def test_three_quick_pushes_are_all_pending_though_the_last_diff_names_one(repo: Path, tmp_path: Path) -> None:
    """GitHub cancels the queued runs for pushes 1 and 2; the run for push 3 must still train all three."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    shas = []
    for number in (1, 2, 3):
        write_config(repo, f"fam-{number:03d}")
        shas.append(commit(repo, f"config {number}"))
        git(repo, "push", "-q", "origin", "main")
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "-q", str(remote), str(runner))

    assert reasons(runner) == dict.fromkeys(["fam-001.yml", "fam-002.yml", "fam-003.yml"], NO_RESULTS)
    last_push = push_diff(runner, shas[1], shas[2], runner / "train" / "config")
    assert last_push.changes == [Change("added", "train/config/fam-003.yml")]
    assert last_push.note == ""


def test_pending_order_is_numeric_within_a_family(repo: Path) -> None:
    for name in ("fam-010", "fam-002", "fam-009", "alpha-001"):
        write_config(repo, name)
    assert list(reasons(repo)) == ["alpha-001.yml", "fam-002.yml", "fam-009.yml", "fam-010.yml"]


def test_matching_results_are_done_and_a_changed_config_is_pending_again(repo: Path) -> None:
    config = write_config(repo, "fam-001")
    write_results(repo, config, done_meta(config))
    assert reasons(repo) == {}
    write_config(repo, "fam-001", lr=0.0002)
    assert reasons(repo) == {"fam-001.yml": CONFIG_CHANGED}


def test_old_format_results_count_as_done(repo: Path) -> None:
    config = write_config(repo, "fam-001")
    write_results(repo, config, meta=None)
    assert reasons(repo) == {}


def test_old_format_results_are_judged_on_the_keys_they_recorded() -> None:
    """A results file from before hashes records 14 hyperparameters; the YAML is compared with exactly those."""
    doc = ResultsDoc.model_validate_json(dumps_results(ResultsDoc.model_validate(
        results_doc("haha-llama-017", meta=False, learning_rate=0.000095))))
    config = {**BASE_CONFIG, "learning_rate": 0.0002, "weight_decay": 0.1}  # weight_decay was never recorded
    assert verdict_against("abc", config, doc) == Verdict(f"{CONFIG_CHANGED}: learning_rate 9.5e-05 → 0.0002")
    assert verdict_against("abc", {**config, "learning_rate": "9.5e-5", "lora_r": 8}, doc).reason == \
        f"{CONFIG_CHANGED}: lora_r 32 → 8"  # PyYAML reads 9.5e-5 as a string: it is still the same number
    assert verdict_against("abc", {**BASE_CONFIG, "learning_rate": 0.000095}, doc) == Verdict(None, PREDATES_HASHES)
    assert PREDATES_HASHES == "results predate hashes; matching on the 14 recorded keys"


def test_results_that_cannot_be_decoded_are_pending(repo: Path) -> None:
    config = write_config(repo, "fam-001")
    (repo / "train" / "results" / "fam-001.json").write_bytes(b"\xff\xfe not utf-8")
    assert reasons(repo)[config.name].startswith("results file unreadable")


# --- push diffs -----------------------------------------------------------------------------------------------------


def test_first_push_counts_every_config_as_added(repo: Path) -> None:
    write_config(repo, "fam-001")
    write_config(repo, "fam-002")
    after = commit(repo, "configs")
    diff = push_diff(repo, ZEROS, after, repo / "train" / "config")
    assert diff.base is None and diff.note.startswith("first push")
    assert diff.changes == [Change("added", "train/config/fam-001.yml"), Change("added", "train/config/fam-002.yml")]


def test_force_push_compares_against_the_merge_base(repo: Path) -> None:
    write_config(repo, "fam-001")
    shared = commit(repo, "fam-001")
    write_config(repo, "fam-002")
    before = commit(repo, "fam-002, later rewritten away")
    git(repo, "reset", "-q", "--hard", shared)
    write_config(repo, "fam-003")
    after = commit(repo, "fam-003 instead")

    diff = push_diff(repo, before, after, repo / "train" / "config")
    assert diff.base == shared
    assert "force push" in diff.note
    assert diff.changes == [Change("added", "train/config/fam-003.yml")]


def test_force_push_with_before_unknown_to_the_clone_counts_everything_as_added(repo: Path) -> None:
    write_config(repo, "fam-001")
    after = commit(repo, "fam-001")
    diff = push_diff(repo, "1234567" * 5 + "89abc", after, repo / "train" / "config")
    assert diff.base is None and "not in this repository" in diff.note
    assert diff.changes == [Change("added", "train/config/fam-001.yml")]


def test_results_only_push_touches_no_config(repo: Path) -> None:
    config = write_config(repo, "fam-001")
    before = commit(repo, "config")
    write_results(repo, config, done_meta(config))
    after = commit(repo, "results")
    diff = push_diff(repo, before, after, repo / "train" / "config")
    assert diff.changes == []
    assert diff.to_json()["changed_configs"] == []
    assert reasons(repo) == {}


def test_rename_and_deletion(repo: Path) -> None:
    keep = write_config(repo, "fam-001")
    write_config(repo, "fam-002", lr=0.0003)
    write_config(repo, "old-001")
    write_results(repo, keep, done_meta(keep))
    before = commit(repo, "three configs")
    git(repo, "mv", "train/config/fam-002.yml", "train/config/new-001.yml")
    git(repo, "rm", "-q", "train/config/old-001.yml")
    after = commit(repo, "rename one, delete one")

    diff = push_diff(repo, before, after, repo / "train" / "config")
    assert diff.changes == [Change("renamed", "train/config/new-001.yml", "train/config/fam-002.yml"),
                            Change("deleted", "train/config/old-001.yml")]
    assert changed_configs(diff.changes) == ["train/config/new-001.yml"]
    assert str(diff.changes[1]).endswith("(not run)")
    # A renamed config is a new identity with no results; a deleted one is gone, so never run.
    assert reasons(repo) == {"new-001.yml": NO_RESULTS}


# --- the CLI --------------------------------------------------------------------------------------------------------


def test_cli_pending_with_diff(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAHA_ROOT", str(repo))
    done = write_config(repo, "fam-001")
    write_results(repo, done, done_meta(done))
    before = commit(repo, "fam-001 with results")
    write_config(repo, "fam-002")
    after = commit(repo, "fam-002")

    result = CliRunner().invoke(app, ["pending", "--diff", before, after, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pending"] == [{"config": "train/config/fam-002.yml", "basename": "fam-002", "reason": NO_RESULTS}]
    assert report["diff"]["changed_configs"] == ["train/config/fam-002.yml"]

    text = CliRunner().invoke(app, ["pending", "--diff", before, after])
    assert text.exit_code == 0
    assert "train/config/fam-002.yml: no results" in text.output
    assert "added    train/config/fam-002.yml" in text.output


def test_cli_pending_bad_ref_is_a_usage_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAHA_ROOT", str(repo))
    result = CliRunner().invoke(app, ["pending", "--diff", ZEROS, "no-such-ref"])
    assert result.exit_code == 2


def test_cli_pending_names_what_changed_since_an_old_format_results_file(repo: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAHA_ROOT", str(repo))
    for name, lr in (("fam-001", "9.5e-05"), ("fam-002", "0.0002")):
        (repo / "train" / "config" / f"{name}.yml").write_text(
            "".join(f"{k}: {json.dumps(v)}\n" for k, v in {**BASE_CONFIG, "learning_rate": lr}.items()))
        doc = results_doc(name, meta=False, learning_rate=0.000095)
        (repo / "train" / "results" / f"{name}.json").write_text(json.dumps(doc))
    text = CliRunner().invoke(app, ["pending"])
    assert text.exit_code == 0, text.output
    assert "train/config/fam-002.yml: config changed since results: learning_rate 9.5e-05 → 0.0002" in text.output
    assert f"train/config/fam-001.yml: done ({PREDATES_HASHES})" in text.output
    assert "1 pending" in text.output


def test_a_changed_config_names_the_keys_its_results_recorded_otherwise() -> None:
    recorded = {**BASE_CONFIG, "weight_decay": 0.0}
    doc = ResultsDoc(config=ConfigBlock(name="x"), results=[],
                     meta=Meta(config_sha256="old", finished="2025-01-01T00:00:00+00:00",
                               hyperparameters=hyperparameters_of(recorded)))
    verdict = verdict_against("new", {**recorded, "lora_r": 8, "weight_decay": 0.1}, doc)
    assert verdict.reason == f"{CONFIG_CHANGED}: lora_r 32 → 8; weight_decay 0.0 → 0.1"
