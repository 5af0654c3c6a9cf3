"""The GitHub workflows keep their one rule (docs/security.md): code from a pull request never reaches the GPU box
or a secret.

A workflow mistake is a security hole that no unit test of the pipeline would notice, so the rules
are checked here, on every `make test`, along with zizmor's audits and GitHub's workflow schema.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO
from tests.support.workflows import WORKFLOWS, load

BIN = Path(sys.executable).parent
# Triggers under which someone without write access can choose the code that runs.
PR_TRIGGERS = {"pull_request", "pull_request_target", "workflow_run", "issue_comment"}
SELF_HOSTED_TRIGGERS = {"push", "workflow_dispatch"}
HEAVY_MODULES = ("torch", "axolotl", "transformers", "peft", "trl", "datasets", "huggingface_hub", "wandb",
                 "tokenizers", "accelerate")


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The `on:` table; YAML 1.1 reads a bare `on` key as the boolean True."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on)


def runner_labels(runs_on: object) -> set[str]:
    """The labels a job asks for; one chosen by an expression (a matrix of runners) counts as self-hosted."""
    if isinstance(runs_on, str):
        return {runs_on, "self-hosted"} if "${{" in runs_on else {runs_on}
    if isinstance(runs_on, list):
        return set(runs_on)
    if isinstance(runs_on, dict):
        return runner_labels(runs_on.get("labels", [])) | {"group:" + str(runs_on.get("group"))}
    return set()


def all_workflows() -> list[str]:
    return sorted(p.name for p in WORKFLOWS.glob("*.yml"))


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def test_both_workflows_exist() -> None:
    assert {"pr.yml", "train.yml"} <= set(all_workflows())


@pytest.mark.parametrize("name", all_workflows())
def test_top_level_permissions_are_empty(name: str) -> None:
    workflow = load(name)
    assert "permissions" in workflow, f"{name}: no top-level permissions: every job would get the default token"
    assert workflow["permissions"] == {}, f"{name}: top-level permissions must be {{}}; grant per job"


@pytest.mark.parametrize("name", all_workflows())
def test_self_hosted_jobs_never_run_for_pull_requests(name: str) -> None:
    workflow = load(name)
    on = triggers(workflow)
    for job_id, job in workflow["jobs"].items():
        if "self-hosted" not in runner_labels(job.get("runs-on")):
            continue
        assert not PR_TRIGGERS & set(on), f"{name}:{job_id}: self-hosted job triggered by {PR_TRIGGERS & set(on)}"
        assert set(on) <= SELF_HOSTED_TRIGGERS, f"{name}:{job_id}: self-hosted job triggered by {set(on)}"
        if "push" in on:
            assert (on["push"] or {}).get("branches") == ["main"], f"{name}: self-hosted push runs only on main"


@pytest.mark.parametrize("name", all_workflows())
def test_no_workflow_uses_pull_request_target(name: str) -> None:
    assert "pull_request_target" not in triggers(load(name))


def test_pr_workflow_uses_no_secrets_and_reads_only() -> None:
    text = (WORKFLOWS / "pr.yml").read_text()
    workflow = load("pr.yml")
    assert "pull_request" in triggers(workflow)
    assert not re.search(r"secrets\s*[.\[]", text, re.IGNORECASE), "pr.yml must not reference secrets"
    for job_id, job in workflow["jobs"].items():
        assert job.get("permissions") == {"contents": "read"}, f"pr.yml:{job_id}: read-only token only"
        assert "self-hosted" not in runner_labels(job.get("runs-on"))


@pytest.mark.parametrize("name", all_workflows())
def test_only_the_commit_job_may_write(name: str) -> None:
    for job_id, job in load(name)["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{name}:{job_id}: give every job explicit permissions"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        if not writes:
            continue
        runs = " ".join(step.get("run", "") for step in job.get("steps", []))
        if writes == {"pages", "id-token"}:  # the Pages job: deploy-pages alone, nothing checked out or run
            assert [step["uses"].split("@")[0] for step in job["steps"]] == ["actions/deploy-pages"] and not runs
            continue
        assert "haha commit-results" in runs, f"{name}:{job_id}: only the job committing results may write"
        assert writes == {"contents", "pull-requests"}, f"{name}:{job_id}: writes {writes}"
        assert "self-hosted" not in runner_labels(job.get("runs-on")), "the write token stays off the GPU box"


@pytest.mark.parametrize("name", all_workflows())
def test_actions_are_pinned_to_commit_shas(name: str) -> None:
    for job_id, step in steps(load(name)):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), f"{name}:{job_id}: {step['uses']}"


@pytest.mark.parametrize("name", all_workflows())
def test_checkouts_do_not_persist_credentials(name: str) -> None:
    for job_id, step in steps(load(name)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{name}:{job_id}"


@pytest.mark.parametrize("name", all_workflows())
def test_run_scripts_take_github_context_through_env(name: str) -> None:
    """`${{ }}` inside a script is pasted in before bash parses it: a branch name could become a command."""
    for job_id, step in steps(load(name)):
        assert "${{" not in step.get("run", ""), f"{name}:{job_id}: {step.get('name')}: pass it through env"


WAVES = ("wave-0", "wave-1", "wave-2")


def test_train_workflow_plans_then_fans_out_then_commits_once() -> None:
    workflow = load("train.yml")
    jobs = workflow["jobs"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert set(jobs) == {"plan", *WAVES, "rescore", "commit-results", "pages"}
    plan = jobs["plan"]
    assert runner_labels(plan["runs-on"]) == {"ubuntu-latest"}  # GitHub-hosted: no GPU, no secrets
    assert "haha plan --github-output" in " ".join(step.get("run", "") for step in plan["steps"])
    assert "secrets." not in str(plan)
    for number, name in enumerate(WAVES):
        job = jobs[name]
        # The matrix is the planning job's output, one wave at a time, and one config failing stops no other.
        assert job["strategy"]["matrix"] == {"include": f"${{{{ fromJSON(needs.plan.outputs.wave{number}) }}}}"}
        assert job["strategy"]["fail-fast"] is False
        assert job["strategy"]["max-parallel"] == "${{ fromJSON(needs.plan.outputs.max_parallel) }}"
        assert job["runs-on"] == "${{ matrix.runs_on }}" and job["timeout-minutes"] > 0
        assert job["needs"] == ("plan" if number == 0 else ["plan", WAVES[number - 1]])
        runs = "\n".join(step.get("run", "") for step in job["steps"])
        assert "haha run --hub hf --report report.json --alone" in runs
        secret_steps = [step for step in job["steps"] if "secrets." in str(step)]
        assert [sorted(k for k in s["env"] if "secrets." in str(s["env"][k])) for s in secret_steps] == \
            [["HF_TOKEN", "WANDB_API_KEY"]], "secrets go to the one step that trains, as env"
        uploads = [step["with"]["name"] for step in job["steps"] if step.get("uses", "").startswith(
            "actions/upload-artifact@")]
        assert uploads == ["results-${{ matrix.config }}", "logs-${{ matrix.config }}"]
    commit = jobs["commit-results"]
    assert commit["needs"] == ["plan", *WAVES, "rescore"]
    assert commit["if"].startswith("${{ !cancelled()")
    runs = "\n".join(step.get("run", "") for step in commit["steps"])
    assert runs.count("haha commit-results") == 1 and "--collect" in runs and "haha results" not in runs


def test_the_plan_always_asks_for_a_self_hosted_runner(haha_repo: Path) -> None:
    """The wave jobs take `runs-on` from the plan; it must never send a GPU job to a GitHub-hosted machine."""
    import json

    from pipeline.core.settings import load_settings
    from pipeline.orchestration.planning import plan_pending

    plan = plan_pending(load_settings(haha_repo))
    assert plan.entries and all(entry.runs_on[0] == "self-hosted" for entry in plan.entries)
    assert json.loads(plan.github_outputs()["wave0"])[0]["runs_on"] == ["self-hosted", "gpu"]


def test_zizmor_finds_nothing() -> None:
    result = subprocess.run([str(BIN / "zizmor"), "--offline", str(WORKFLOWS)], capture_output=True, text=True,
                            cwd=REPO, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout, result.stdout


def test_workflows_match_githubs_schema() -> None:
    files = [str(WORKFLOWS / name) for name in all_workflows()]
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
                            capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_commit_job_cli_works_without_the_training_stack() -> None:
    """The commit job installs only pyyaml, pydantic, typer and rich; the CLI must start without the rest."""
    block = "; ".join(f"sys.modules[{m!r}] = None" for m in HEAVY_MODULES)
    code = (f"import sys; {block}; import pipeline.gitops.commit, pipeline.gitops.push_diff, pipeline.gitops.collect, "
            "pipeline.results.pending, pipeline.results.rebuild; from pipeline.cli.main import app; "
            "app(['commit-results', '--help'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "commit-results" in result.stdout


def test_the_plan_runs_without_the_training_stack() -> None:
    """The planning job installs only pyyaml, pydantic, typer and rich, and plans the real repo with them."""
    block = "; ".join(f"sys.modules[{m!r}] = None" for m in HEAVY_MODULES)
    code = f"import sys; {block}; from pipeline.cli.main import app; app(['plan'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False,
                            env={**os.environ, "HAHA_ROOT": str(REPO)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"waves"' in result.stdout


def _run_step(script: str, repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-c", script], cwd=repo, env={**os.environ, **env}, capture_output=True,
                          text=True)


def test_a_pull_request_that_touches_train_results_fails(tmp_path: Path) -> None:
    """The PR workflow's own step, run by bash against real git: only the commit job writes results."""
    [script] = [step["run"] for _, step in steps(load("pr.yml")) if step.get("name") == "Results come only from "
                "the commit job"]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    (tmp_path / "train" / "results").mkdir(parents=True)
    (tmp_path / "train" / "results" / "jokes-001.json").write_text("{}\n")
    (tmp_path / "train" / "config").mkdir()
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    base = git("rev-parse", "HEAD")
    (tmp_path / "train" / "config" / "jokes-002.yml").write_text("learning_rate: 0.1\n")
    git("add", "-A")
    git("commit", "-q", "-m", "a config")
    assert _run_step(script, tmp_path, {"BASE_SHA": base, "HEAD_SHA": git("rev-parse", "HEAD")}).returncode == 0
    for change in ("add", "edit", "move"):
        target = tmp_path / "train" / "results" / "jokes-001.json"
        if change == "add":
            (tmp_path / "train" / "results" / "jokes-002.json").write_text("{}\n")
        elif change == "edit":
            target.write_text('{"forged": true}\n')
        else:
            git("mv", "train/results/jokes-001.json", "train/jokes-001.json")
        git("add", "-A")
        git("commit", "-q", "-m", change)
        ran = _run_step(script, tmp_path, {"BASE_SHA": base, "HEAD_SHA": git("rev-parse", "HEAD")})
        assert ran.returncode == 1, change
        assert "Only the commit job writes results" in ran.stdout and "train/results/jokes-00" in ran.stdout


def test_cut_off_work_is_kept_between_runs_of_the_gpu_job() -> None:
    """An eval stopped at eval_timeout_s, or a training at train_timeout_s, started from zero on every run: its
    progress never left the runner."""
    import fnmatch

    from pipeline.evaluate.resume import sidecar_path

    named = {step.get("name"): step for _, step in steps(load("train.yml"))}
    restore, save = named["Restore a cut-off run's progress"], named["Keep a cut-off run's progress for the next run"]
    assert restore["uses"].startswith("actions/cache/restore@") and save["uses"].startswith("actions/cache/save@")
    assert restore["with"]["path"] == save["with"]["path"] and restore["with"]["key"] == save["with"]["key"]
    assert restore["with"]["restore-keys"] == "progress-${{ matrix.config }}-"
    order = list(named)
    assert order.index(restore["name"]) < order.index("Train, publish, evaluate") < order.index(save["name"])
    paths = [line.strip().replace("${{ matrix.config }}", "jokes-001") for line in restore["with"]["path"].splitlines()]
    assert "workspace/runs/jokes-001" in paths
    results = Path("train/results/jokes-001.json")
    for task in ("sweep", "best-of-4", "matching"):
        assert any(fnmatch.fnmatch(str(sidecar_path(results, task)), pattern) for pattern in paths)
    assert not any(fnmatch.fnmatch(str(sidecar_path(Path("train/results/jokes-0010.json"))), p) for p in paths)


def test_the_time_limits_leave_the_gpu_job_time_to_keep_what_a_stopped_run_made() -> None:
    """train_timeout_s was the job's own 24 h: a training that ran that long was killed with the job, uploading
    nothing, and repeated forever."""
    from pipeline.core.settings import Settings

    gpu_jobs = [job for job in load("train.yml")["jobs"].values() if "matrix" in job.get("strategy", {})]
    assert gpu_jobs
    for job in gpu_jobs:  # one per wave, each the same steps
        assert Settings.train_timeout_s + Settings.eval_timeout_s <= job["timeout-minutes"] * 60 - 3600


def test_a_retrained_judge_rescores_every_results_file_after_the_waves() -> None:
    """A retrained judge scored only the configs of its own run's later jobs; the rest stayed on its old revision."""
    jobs = load("train.yml")["jobs"]
    rescore = jobs["rescore"]
    assert rescore["needs"] == ["plan", *WAVES] and "needs.plan.outputs.rescore != ''" in rescore["if"]
    assert rescore["runs-on"] == "${{ fromJSON(needs.plan.outputs.rescore).runs_on }}"
    runs = [step.get("run", "") for step in rescore["steps"]]
    assert ".venv/bin/haha judge --hub hf" in runs
    [secret_step] = [step for step in rescore["steps"] if "secrets." in str(step)]
    assert list(secret_step["env"]) == ["HF_TOKEN"] and secret_step["run"] == ".venv/bin/haha judge --hub hf"
    [upload] = [step for step in rescore["steps"] if step.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["name"] == "rescored"
    commit_runs = "\n".join(step.get("run", "") for step in jobs["commit-results"]["steps"])
    assert "--rescored rescored" in commit_runs
    assert jobs["plan"]["outputs"]["rescore"] == "${{ steps.plan.outputs.rescore }}"
