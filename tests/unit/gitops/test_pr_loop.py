"""The loop around a pull request: the job summary of what it will train (made from the PR job's own files, by the
pipeline's own writers), and the comment the training workflow leaves on it afterwards (through haha's GitHub
client, against a local server speaking GitHub's API). Hostile strings stay inert and 200 configs stay within
GitHub's limits."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.config.loading import load_config
from pipeline.config.sizing import size_config
from pipeline.config.sweep import Variable, plan_sweep
from pipeline.core.naming import basename_of, parse_config_name
from pipeline.core.retry import Backoff
from pipeline.core.runs import AdapterRef, TrainRecord
from pipeline.core.settings import load_settings
from pipeline.formats.results import JudgeScores, LossCurve, PairwiseJudgment, ResultsDoc
from pipeline.gitops.github import GitHub, GitHubError
from pipeline.gitops.pr_comment import COMMENT_LIMIT, MARKER, RunSection, comment_body, sections_of
from pipeline.gitops.pr_summary import STEP_SUMMARY_LIMIT, gather, render
from pipeline.gitops.push_diff import push_diff
from pipeline.judges.pairs import JudgedPair, matched_pairs
from pipeline.judges.prompt import Answer, Verdict
from pipeline.judges.run import summarize
from pipeline.orchestration.outcome import Outcome, StageName, StageResult, StageStatus
from pipeline.orchestration.planning import plan_pending
from pipeline.orchestration.pr_results import result_row
from pipeline.orchestration.report import RunReport
from pipeline.orchestration.runner import Chosen
from pipeline.orchestration.validation import ConfigReport, Report
from pipeline.results.failures import record_failure
from pipeline.train.axolotl import TrainResult
from tests.support.github_server import BOT, FakeGitHub
from tests.support.haha_cli import copy_repo
from tests.support.hostile import PIECES, assert_inert, strings
from tests.support.sample_results import results_doc, write_doc
from tests.support.workflows import load

BASE = "haha-llama-3-8b-lora-001"
TOKEN = "ghs_" + "t0ken" * 8
HEAVY = ("torch", "axolotl", "transformers", "peft", "trl", "datasets", "huggingface_hub", "wandb", "tokenizers",
         "accelerate", "openai")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root,
                          check=True, capture_output=True, text=True).stdout.strip()


# -- the job summary ------------------------------------------------------------------------------------------------

def pr_files(root: Path, variable: Variable, errors: Callable[[int], str | None], delete: str | None = None
             ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A pull request that sweeps BASE over `variable` (and deletes `delete`), and the four files its job writes,
    each by the code that writes it: `haha pending --diff`'s diff, `haha validate --json`'s report (its estimates),
    `haha plan`, and the smoke run's report.json (config i failing with `errors(i)`, else its loss falling)."""
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "main")
    before = git(root, "rev-parse", "HEAD")
    config_dir = root / "train" / "config"
    base = parse_config_name(f"{BASE}.yml")
    assert base is not None
    made = plan_sweep((config_dir / f"{BASE}.yml").read_text(), base, [1], [variable], [], cap=1000)
    paths = [config_dir / f"{config.name.basename}.yml" for config in made]
    for path, config in zip(paths, made, strict=True):
        path.write_text(config.text)
    if delete:
        (config_dir / delete).unlink()
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the pull request")
    settings = load_settings(root)
    pending = {"diff": push_diff(root, before, git(root, "rev-parse", "HEAD"), config_dir).to_json()}
    reports = []
    for path in paths:
        sizing = size_config(basename_of(path), load_config(path).data, settings, tokens=2_000_000, read_files=False)
        assert sizing.estimate is not None
        reports.append(ConfigReport(path, None, estimate=sizing.estimate.summary(sizing.assignment.name,
                                                                                 sizing.assignment.runner)))
    outcomes = []
    for index, path in enumerate(paths):
        outcome = Outcome(basename_of(path), error=errors(index) or "")
        if not outcome.error:
            record = TrainRecord(config_sha256="a" * 64, finished="2026-12-05T10:00:00+00:00", seconds=3.0, steps=10,
                                 losses=[2.5 + index, 1.25], loss_steps=[1, 10], smoke=True)
            outcome.record(StageName.TRAIN, StageResult(StageStatus.TRAINED, TrainResult(record, False, (), path)))
        outcomes.append(outcome)
    report = RunReport(tuple(outcomes), Chosen(tuple(paths), (), False), "2026-12-05T10:00:00Z").to_json()
    return pending, Report(configs=reports).to_json(), plan_pending(settings).model_dump(), report


def test_the_summary_shows_each_added_config_against_the_one_before_with_its_loss_estimate_and_wave(
        tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    files = pr_files(root, Variable("learning_rate", ("0.0002", "0.0001")), lambda i: "boom\ntraceback" if i else None,
                     delete="trivia-qwen2-7b-001.yml")
    rows, deleted = gather(root, *files)
    assert deleted == ["trivia-qwen2-7b-001.yml"]
    # Wave 1: the best-of-4 eval scores haha-* configs with the reward model, which is pending too (wave 0).
    assert [(row.config, row.change, row.previous, row.differences, row.smoke, row.runner, row.wave)
            for row in rows] == [
        ("haha-llama-3-8b-lora-002", "added", BASE, ("learning_rate: 0.0004 → 0.0002",), "2.500 → 1.250", "gpu", "1"),
        ("haha-llama-3-8b-lora-003", "added", "haha-llama-3-8b-lora-002", ("learning_rate: 0.0002 → 0.0001",),
         "failed: boom", "gpu", "1")]
    assert rows[0].estimate.startswith("~") and "GB peak training" in rows[0].estimate
    assert "on class gpu (80 GB a GPU)" in rows[0].estimate and "GPU-" in rows[0].estimate
    summary = render(rows, deleted)
    assert "| haha-llama-3-8b-lora-002 | added | vs haha-llama-3-8b-lora-001: learning_rate: 0.0004 → 0.0002 | " \
           "2.500 → 1.250 | ~" in summary
    assert "- deleted: trivia-qwen2-7b-001.yml (never run)" in summary


def _hostile_values(count: int, seed: str | None) -> tuple[str, ...]:
    """Distinct strings as YAML double-quoted scalars; hostile ones from the hostile pieces (but U+2028, which
    YAML reads as a line break inside a config), or plain."""
    make = strings(random.Random(seed) if seed else None)
    return tuple(json.dumps(make().replace("\u2028", " "), ensure_ascii=False) for _ in range(count))


def test_two_hundred_hostile_configs_stay_inert_and_within_githubs_summary_limit(tmp_path: Path) -> None:
    configs = 200
    made = {}
    for kind, seed in (("plain", None), ("hostile", "summary")):
        (tmp_path / kind).mkdir()
        root = copy_repo(tmp_path / kind)
        rng = random.Random(f"{seed}-errors")
        files = pr_files(root, Variable("wandb_name", _hostile_values(configs, seed)),
                         lambda i, rng=rng, seed=seed: None if i % 3 else (
                             "".join(rng.choice(PIECES) for _ in range(6)) + f"plain{i}" if seed else f"plain{i}"))
        rows, deleted = gather(root, *files)
        assert len(rows) == configs
        made[kind] = render(rows, deleted)
        assert len(made[kind].encode()) <= STEP_SUMMARY_LIMIT
        cut = render(rows, deleted, limit=20_000)
        assert len(cut.encode()) <= 20_000 and "more configs, left out to stay within GitHub's summary limit" in cut
    assert_inert(made["hostile"], made["plain"])


# -- the comment ------------------------------------------------------------------------------------------------------

JUDGE = AdapterRef(basename="haha-llama-3-8b-reward-001", repo_id="haha-lab/haha-llama-3-8b-reward-001",
                   revision="b" * 40)
RUN = RunSection(111, "training run #5", "https://github.com/haha-lab/haha/actions/runs/111", ())
INDEX = "https://github.com/haha-lab/haha/tree/main/train/results"


def scored(doc: dict[str, Any], reward: float) -> dict[str, Any]:
    """The results document with the reward judge's score for each of its completions."""
    parsed = ResultsDoc.model_validate(doc)
    rewards = [[[reward + 0.01 * seed for seed, _ in enumerate(setting.completions)]
                for setting in prompt.settingsResults] for prompt in parsed.results]
    flat = [r for prompt in rewards for setting in prompt for r in setting]
    doc["judge"] = JudgeScores(judge=JUDGE, mean_reward=sum(flat) / len(flat), n=len(flat),
                               rewards=rewards).model_dump(mode="json")
    return doc


def judgment_of(doc: dict[str, Any], other: dict[str, Any]) -> PairwiseJudgment:
    """An LLM judge's verdicts on `doc` against `other`, as judges/run.py summarizes them: this config's punchline
    wins every pair."""
    this_doc, other_doc = ResultsDoc.model_validate(doc), ResultsDoc.model_validate(other)
    judged = [JudgedPair(pair, Answer(Verdict.FIRST, "sharper"), Answer(Verdict.SECOND, "sharper"))
              for pair in matched_pairs(this_doc, other_doc)]
    return summarize("smollm2-judge", "smollm2", "c" * 64, "other", judged)


def write_results(results: Path, count: int, text: Callable[[], str], run_id: str = "111") -> list[str]:
    """`count` configs of one family, each scored by the reward judge and judged by an LLM judge against the one
    before it and the base model's reference; every fifth one failed in run `run_id` (its reason from `text`).
    The sample documents all hold the same cells, so one judgment (its bootstrap takes a while) serves every pair,
    named for each judge and opponent."""
    base_doc = results_doc("base-ref")
    base_doc["meta"]["reference"] = "base"
    (results / "base").mkdir(parents=True, exist_ok=True)
    write_doc(results / "base", "Meta-Llama-3-8B-abc", scored(base_doc, 0.1))
    judgment = judgment_of(results_doc("jokes-001"), base_doc)
    names = []
    for number in range(1, count + 1):
        name = f"jokes-{number:03d}"
        doc = scored(results_doc(name), 0.1 + number / 1000)
        doc["meta"]["training_loss"] = LossCurve(steps=[1, 10], loss=[3.0, 1.5 - number / 100]).model_dump()
        judge = text()
        others = ([names[-1]] if names else []) + ["base/Meta-Llama-3-8B-abc"]
        doc["judgments"] = [judgment.model_copy(update={"judge": judge, "other": other}).model_dump(mode="json")
                            for other in others]
        write_doc(results, name, doc)
        if number % 5 == 0:
            record_failure(results, name, "d" * 64, text(), run_id=run_id)
        names.append(name)
    return names


def test_the_comment_holds_each_configs_loss_signals_and_win_rates_and_replaces_only_its_own_run(
        tmp_path: Path) -> None:
    results = tmp_path / "results"
    names = write_results(results, 5, strings(None))
    rows = tuple(result_row(results, name, "111") for name in names)
    first, second = rows[0], rows[1]
    assert first.status == "evaluated" and first.vs_previous == "— (first of its family)"
    assert (first.loss, second.loss) == ("3.000 → 1.490", "3.000 → 1.480")
    assert first.vs_base.startswith("base/Meta-Llama-3-8B-abc: reward judge haha-llama-3-8b-reward-001 ")
    assert "; plain" in first.vs_base and "100% (100% to 100%)" in first.vs_base
    assert second.vs_previous.startswith("jokes-001: reward judge haha-llama-3-8b-reward-001 ")
    assert rows[4].status.startswith("failed: plain") and rows[4].status.endswith("(the figures are an earlier run's)")
    assert all(row.signals[0] == "0%" for row in rows)
    body = comment_body(RunSection(111, RUN.title, RUN.url, rows), INDEX)
    assert body.startswith(MARKER + "\n") and "[results page](" + INDEX + ")" in body
    assert "| jokes-002 | evaluated |" in body
    again = comment_body(RunSection(222, "training run #6", RUN.url.replace("111", "222"), rows[:1]), INDEX, body)
    assert [run for run, _ in sections_of(again)] == [222, 111]
    rerun = comment_body(RunSection(222, "training run #6 (attempt 2)", RUN.url, rows[:2]), INDEX, again)
    assert [run for run, _ in sections_of(rerun)] == [222, 111] and "attempt 2" in rerun


def test_hostile_results_stay_inert_and_two_hundred_configs_fit_one_comment(tmp_path: Path) -> None:
    made = {}
    for kind, seed in (("plain", None), ("hostile", "comment")):
        results = tmp_path / kind
        names = write_results(results, 5, strings(random.Random(seed) if seed else None))
        made[kind] = comment_body(RunSection(111, RUN.title, RUN.url, tuple(result_row(results, name, "111")
                                                                          for name in names)), INDEX)
    assert_inert(made["hostile"], made["plain"])
    results = tmp_path / "many"
    names = write_results(results, 200, strings(random.Random("many")))
    rows = tuple(result_row(results, name, "111") for name in names)
    body = comment_body(RunSection(111, RUN.title, RUN.url, rows), INDEX)
    shown = [name for name in names if f"| {name} |" in body]
    assert len(body) <= COMMENT_LIMIT and shown == names[:len(shown)] and len(shown) > 150
    if len(shown) < len(names):  # the rest are counted, not dropped silently
        assert f"| … and {len(names) - len(shown)} more config" in body
    cut = comment_body(RunSection(111, RUN.title, RUN.url, rows), INDEX, limit=10_000)
    assert len(cut) <= 10_000 and "more configs | on the results page |" in cut
    many_runs = body
    for run in range(112, 140):  # many runs of a long-lived PR: the oldest tables go first
        many_runs = comment_body(RunSection(run, f"run {run}", RUN.url, rows[:20]), INDEX, many_runs)
        assert len(many_runs) <= COMMENT_LIMIT
    assert sections_of(many_runs)[0][0] == 139 and 111 not in dict(sections_of(many_runs))


# -- the GitHub client and the commit job's step ---------------------------------------------------------------------

def comment_step(root: Path, server: FakeGitHub, run_id: str, attempt: str, *configs: str
                 ) -> subprocess.CompletedProcess[str]:
    """`haha comment-results` as the commit job runs it: GitHub's variables in the environment, and none of the
    training stack installed."""
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in HEAVY)
    code = (f"import sys; {blocked}; from pipeline.cli.main import app; "
            f"app(['comment-results', '--index-url', {INDEX!r}, *sys.argv[1:]])")
    env = {**os.environ, "HAHA_ROOT": str(root), "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": server.url,
           "GITHUB_REPOSITORY": server.repository, "GITHUB_REF_NAME": "main", "GITHUB_RUN_ID": run_id,
           "GITHUB_RUN_NUMBER": "5", "GITHUB_RUN_ATTEMPT": attempt, "GITHUB_SERVER_URL": "https://github.com"}
    return subprocess.run([sys.executable, "-c", code, *configs], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_commit_job_comments_on_each_merging_pull_request_and_updates_its_own_comment(
        haha_repo: Path) -> None:
    root = haha_repo
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "jokes-001 (#3)")
    first = git(root, "rev-parse", "HEAD")
    config = root / "train" / "config"
    (config / "jokes-002.yml").write_text((config / "jokes-001.yml").read_text().replace("0.0001", "0.0002"))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "jokes-002 (#7)")
    second = git(root, "rev-parse", "HEAD")
    (root / "train" / "README.md").write_text("a later commit that touches no config\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "docs (#8)")
    results = root / "train" / "results"
    write_results(results, 2, strings(None))
    with FakeGitHub(TOKEN) as server:
        server.merged(first, 3)
        server.merged(second, 7)
        for number in range(3):  # comments before ours, over more than one page
            server.add_comment(7, "alice", f"looks good {number}")
        forged = server.add_comment(7, "mallory", f"{MARKER}\nnot the bot's")
        done = comment_step(root, server, "111", "1", "jokes-001", "jokes-002")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "pull request #3: commented (jokes-001)" in done.stdout
        assert "pull request #7: commented (jokes-002)" in done.stdout
        [on_three] = server.on(3)
        [ours] = [c for c in server.on(7) if c.author == BOT]
        assert "| jokes-001 | evaluated |" in on_three.body and "jokes-002" not in on_three.body
        assert "| jokes-002 | evaluated |" in ours.body and "[training run #5](" in ours.body
        assert forged.body == f"{MARKER}\nnot the bot's"  # someone else's comment, marker or not, is never edited
        assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {TOKEN}"}
        assert sum(r.endpoint == "comments" for r in server.requests) >= 3  # every page of PR #7's comments read

        done = comment_step(root, server, "222", "1", "jokes-002")
        assert done.returncode == 0 and "pull request #7: updated (jokes-002)" in done.stdout, done.stderr
        done = comment_step(root, server, "222", "2", "jokes-002")
        assert done.returncode == 0, done.stderr
        assert len([c for c in server.on(7) if c.author == BOT]) == 1
        assert [run for run, _ in sections_of(ours.body)] == [222, 111] and "(attempt 2)" in ours.body
        assert [r.endpoint for r in server.requests].count("comment") == 2  # two PRs, one comment each

        server.fail("pulls", 403)
        refused = comment_step(root, server, "333", "1", "jokes-002")
        assert refused.returncode == 1 and "answered 403 (the job's token needs `pull-requests: write`)" in \
            refused.stderr and TOKEN not in refused.stderr + refused.stdout


def test_the_client_retries_what_github_may_answer_next_time_and_follows_no_page_off_its_host() -> None:
    with FakeGitHub(TOKEN) as server:
        server.merged("abc", 9)
        server.fail("pulls", 502, 503)
        waits: list[float] = []
        client = GitHub(server.repository, TOKEN, server.url, Backoff(tries=3, first=0.5), waits.append)
        assert [pull.number for pull in client.pulls_of_commit("abc")] == [9] and waits == [0.5, 1.0]
        with pytest.raises(GitHubError, match="Bad credentials") as refused:
            GitHub(server.repository, "ghs_" + "wrong" * 8, server.url, Backoff(tries=3, first=0)).comments(9)
        assert "wrong" not in str(refused.value)
        with pytest.raises(GitHubError, match="is not a repository"):
            GitHub("no-slash", TOKEN, server.url)


# -- the workflows' steps --------------------------------------------------------------------------------------------

def step(workflow: str, job: str, name: str) -> dict[str, Any]:
    [found] = [s for s in load(workflow)["jobs"][job]["steps"] if s.get("name") == name]
    return found


def run_step(script: str, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A workflow step's own script, by bash, in `root` with this venv as its `.venv`."""
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    return subprocess.run(["bash", "-e", "-c", script], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HAHA_ROOT": str(root), **env})


def test_the_pr_workflows_summary_step_renders_what_the_steps_before_it_wrote(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    pending, validated, _, report = pr_files(root, Variable("lora_r", ("8", "16")), lambda i: None)
    (root / "validate.json").write_text(json.dumps(validated))
    (root / "scratch").mkdir()
    (root / "scratch" / "report.json").write_text(json.dumps(report))
    summary = root / "summary.md"
    script = step("pr.yml", "check", "Summarize what this pull request will train")
    assert script["if"] == "${{ !cancelled() }}"
    done = run_step(script["run"], root, {"BASE_SHA": pending["diff"]["before"], "HEAD_SHA": pending["diff"]["after"],
                                          "GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 0, done.stdout + done.stderr
    text = summary.read_text()
    for row in ("haha-llama-3-8b-lora-002 | added | vs haha-llama-3-8b-lora-001: lora_r: 32 → 8 | 2.500 → 1.250",
                "haha-llama-3-8b-lora-003 | added | vs haha-llama-3-8b-lora-002: lora_r: 8 → 16 | 3.500 → 1.250"):
        assert f"| {row} | ~" in text
    assert json.loads((root / "plan.json").read_text())["waves"]  # kept for the artifact


def test_the_commit_job_comments_with_its_own_token_and_the_pages_job_deploys_only_the_page(
        haha_repo: Path) -> None:
    jobs = load("train.yml")["jobs"]
    commit = jobs["commit-results"]
    assert commit["permissions"] == {"contents": "write", "pull-requests": "write"}
    names = [s.get("name") for s in commit["steps"]]
    comment = step("train.yml", "commit-results", "Tell the pull requests what their configs made")
    upload = step("train.yml", "commit-results", "Hand the results page to the Pages job")
    assert names.index("Collect, rebuild the index once, commit and push") < names.index(upload["name"]) < \
        names.index(comment["name"])
    assert comment["env"]["GITHUB_TOKEN"] == "${{ github.token }}" and "secrets." not in json.dumps(commit)
    assert upload["uses"].startswith("actions/upload-pages-artifact@") and upload["with"] == {"path": "site"}
    pages = jobs["pages"]
    assert pages["needs"] == "commit-results" and pages["permissions"] == {"pages": "write", "id-token": "write"}
    assert pages["environment"]["name"] == "github-pages" and "${{ !cancelled()" in pages["if"]
    assert [s["uses"].split("@")[0] for s in pages["steps"]] == ["actions/deploy-pages"]
    assert commit["outputs"]["page"] == "${{ steps.page.outputs.artifact_id }}"

    # The comment step's own script, with the uploads a run leaves, against the local GitHub.
    root = haha_repo
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "jokes-001 (#4)")
    write_results(root / "train" / "results", 1, strings(None))
    (root / "uploads" / "results-jokes-001").mkdir(parents=True)
    with FakeGitHub(TOKEN) as server:
        server.merged(git(root, "rev-parse", "HEAD"), 4)
        done = run_step(comment["run"], root, {
            "GITHUB_TOKEN": TOKEN, "INDEX_URL": "https://haha-lab.github.io/haha/", "GITHUB_API_URL": server.url,
            "GITHUB_REPOSITORY": server.repository, "GITHUB_REF_NAME": "main", "GITHUB_RUN_ID": "77",
            "GITHUB_RUN_NUMBER": "3", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_SERVER_URL": "https://github.com"})
        assert done.returncode == 0, done.stdout + done.stderr
        [made] = server.on(4)
        assert "| jokes-001 | evaluated |" in made.body and "(https://haha-lab.github.io/haha/)" in made.body
