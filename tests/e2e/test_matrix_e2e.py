"""train.yml's fan-out, simulated here: `haha plan`, one worker process per planned config (each in its own clone,
all at once, as matrix jobs on separate runners), one of them killed mid-training, then the commit job's
`haha commit-results --collect` against a bare remote that receives an unrelated push meanwhile."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.support.haha_cli import HAHA

pytestmark = pytest.mark.slow
GIT_ID = ["-c", "user.name=t", "-c", "user.email=t@example.com"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def haha(root: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "HAHA_ROOT": str(root)}
    return subprocess.Popen([HAHA, *args], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **popen)  # type: ignore[call-overload]


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = process.communicate(timeout=900)
    return process.returncode, output


@pytest.fixture
def remote(haha_repo: Path, tmp_path: Path) -> Path:
    """A bare remote holding the throwaway repo with four configs of one family (different learning rates)."""
    config = (haha_repo / "train" / "config" / "jokes-001.yml").read_text()
    for number in (2, 3, 4):
        (haha_repo / "train" / "config" / f"jokes-00{number}.yml").write_text(
            config.replace("learning_rate: 0.0001", f"learning_rate: 0.000{number}"))
    eval_file = haha_repo / "train" / "eval" / "eval.json"
    eval_file.write_text(json.dumps({**json.loads(eval_file.read_text()), "seedVariants": 1}))
    (haha_repo / "train" / "results").mkdir()
    (haha_repo / "train" / "results" / ".gitkeep").write_text("")
    git(haha_repo, "init", "-q", "-b", "main")
    git(haha_repo, "add", "-A")
    git(haha_repo, "commit", "-q", "-m", "configs")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(haha_repo), str(bare))
    return bare


def plan(remote: Path, where: Path, *configs: str) -> list[dict]:
    git(where.parent, "clone", "-q", str(remote), str(where))
    done = haha(where, "plan", *(f"train/config/{c}.yml" for c in configs))
    code, output = finished(done)
    assert code == 0, output
    return [entry for wave in json.loads(output)["waves"] for entry in wave]


def start_worker(remote: Path, root: Path, entry: dict) -> subprocess.Popen[str]:
    """One matrix job: its own clone, `haha run --alone` on its config (smoke, on the tiny model)."""
    git(root.parent, "clone", "-q", str(remote), str(root))
    return haha(root, "run", "--smoke", "--smoke-model", "tiny", "--smoke-steps", "2", "--wandb", "disabled",
                "--alone", entry["path"])


def upload(root: Path, entry: dict, uploads: Path) -> None:
    """What the job's upload-artifact step sends: its config's results file (smoke runs write scratch/results)."""
    made = root / "scratch" / "results" / f"{entry['config']}.json"
    (uploads / f"results-{entry['config']}").mkdir(parents=True)
    shutil.copy(made, uploads / f"results-{entry['config']}" / made.name)


def push_unrelated(remote: Path, where: Path) -> str:
    git(where.parent, "clone", "-q", str(remote), str(where))
    (where / "NOTES.md").write_text("someone else's change\n")
    git(where, "add", "NOTES.md")
    git(where, "commit", "-q", "-m", "unrelated")
    git(where, "push", "-q", "origin", "HEAD:main")
    return git(where, "rev-parse", "HEAD").strip()


def commit_step(committer: Path, uploads: Path) -> str:
    collect = [arg for folder in sorted(uploads.iterdir()) for arg in ("--collect", str(folder))]
    code, output = finished(haha(committer, "commit-results", "--branch", "main", *collect))
    assert code == 0, output
    return output


def kill_tree(process: subprocess.Popen[str]) -> None:
    """A runner dying: the job's haha and everything under it (Axolotl runs in its own process group)."""
    parent = psutil.Process(process.pid)
    for child in parent.children(recursive=True):
        child.send_signal(signal.SIGKILL)
    parent.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)


def landed(remote: Path, where: Path) -> tuple[list[str], list[str]]:
    """The remote's files under train/results, and its commit subjects newest first."""
    git(where.parent, "clone", "-q", str(remote), str(where))
    files = git(where, "ls-files", "train/results").split()
    return files, git(where, "log", "--format=%s").splitlines()


def test_every_job_lands_once_beside_an_unrelated_push_and_a_killed_job_stays_pending(remote: Path,
                                                                                     tmp_path: Path) -> None:
    entries = plan(remote, tmp_path / "planner", "jokes-001", "jokes-002", "jokes-003")
    assert [e["config"] for e in entries] == ["jokes-001", "jokes-002", "jokes-003"]
    assert all(e["wave"] == 0 and e["runs_on"] == ["self-hosted", "gpu"] for e in entries)
    git(tmp_path, "clone", "-q", str(remote), str(tmp_path / "committer"))  # checked out before the push below
    workers = {e["config"]: (start_worker(remote, tmp_path / e["config"], e), e) for e in entries}
    unrelated = push_unrelated(remote, tmp_path / "someone")
    doomed, _ = workers.pop("jokes-003")
    started_training = tmp_path / "jokes-003" / "scratch" / "runs" / "jokes-003" / "train.log"
    deadline = time.monotonic() + 300
    while not started_training.is_file() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert started_training.is_file(), "the doomed worker never started training"
    kill_tree(doomed)  # its runner dies mid-training: it uploads nothing
    for name, (process, entry) in workers.items():
        code, output = finished(process)
        assert code == 0, f"{name}: {output[-3000:]}"
        upload(tmp_path / name, entry, tmp_path / "uploads")
    output = commit_step(tmp_path / "committer", tmp_path / "uploads")
    assert output.count("index rebuilt") == 1 and "collected 2 files from 2 uploads" in output

    files, subjects = landed(remote, tmp_path / "after")
    assert sorted(f for f in files if f.endswith(".json")) == ["train/results/jokes-001.json",
                                                               "train/results/jokes-002.json"]
    assert len(subjects) == 3 and subjects[1:] == ["unrelated", "configs"]  # one results commit, rebased on top
    after = tmp_path / "after"
    changed = git(after, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == ["train/results/README.md", "train/results/index.html",
                               "train/results/jokes-001.json", "train/results/jokes-002.json"]
    assert git(after, "rev-parse", "HEAD~1").strip() == unrelated
    index = (after / "train" / "results" / "index.html").read_text()
    assert "jokes-001" in index and "jokes-002" in index
    cost = json.loads((after / "train" / "results" / "jokes-001.json").read_text())["meta"]["cost"]
    assert (cost["gpu_type"], cost["gpus"], cost["gpu_seconds"]) == (None, 0, 0)  # a CPU smoke run costs no GPU
    assert cost["train_seconds"] > 0 and cost["eval_seconds"] > 0
    readme = (after / "train" / "results" / "README.md").read_text()
    assert "| trained on |" in readme and readme.count("| CPU |") == 2

    code, pending = finished(haha(after, "pending"))
    assert code == 0, pending
    listed = [Path(line.split(":")[0]).name for line in pending.splitlines() if ".yml: " in line]
    assert listed == ["jokes-003.yml", "jokes-004.yml"]  # the killed job's config, and one never planned
