"""The matrix's two light jobs at scale: `haha plan` over 1,000 configs, and the commit job's `haha commit-results
--collect` over 200 uploads. Both run as the workflow runs them, `haha` subprocesses, so imports count.

The repo is bench_validate.py's 1,000 generated configs (10 families, 3 datasets), with results files from
bench_results.py's generator for every fifth config (made for another hash, so they are pending too: the plan
reads them). For the commit step, 200 uploads of one generated results file each are collected into a clone
of a local bare remote, the index is rebuilt once, and the commit is pushed. Targets: plan under 5 s.

    .venv/bin/python bench/bench_plan.py [--configs 1000] [--uploads 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_results import results_doc
from bench_validate import write_repo

HAHA = str(Path(sys.executable).parent / "haha")
GIT_ID = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True)


def timed(root: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([HAHA, *args], cwd=root, env={**os.environ, "HAHA_ROOT": str(root)}, capture_output=True,
                          text=True, check=True)
    return time.perf_counter() - started, done.stdout


def bench_plan(scratch: Path, configs: int) -> None:
    root = scratch / "plan"
    root.mkdir()
    write_repo(root, configs, rows=20)
    results = root / "train" / "results"
    results.mkdir()
    rng = random.Random(0)
    names = sorted(path.stem for path in (root / "train" / "config").glob("*.yml"))
    for index, name in enumerate(names[::5]):
        doc = results_doc(index, rng)
        doc["config"]["name"] = name
        (results / f"{name}.json").write_text(json.dumps(doc))
    seconds, output = timed(root, "plan")
    plan = json.loads(output)
    planned = sum(len(wave) for wave in plan["waves"])
    print(f"haha plan, {configs:,} configs ({len(names[::5])} with results): {seconds:.2f} s with imports; "
          f"{planned} jobs in {len(plan['waves'])} wave(s), {len(plan['deferred'])} deferred (256 a wave)")


def bench_commit(scratch: Path, uploads: int) -> None:
    origin = scratch / "origin"
    (origin / "train" / "results").mkdir(parents=True)
    (origin / "pyproject.toml").write_text('[tool.haha]\nwandb_project = "haha"\n')
    (origin / "train" / "results" / ".gitkeep").write_text("")
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "start")
    git(scratch, "clone", "-q", "--bare", str(origin), str(scratch / "remote.git"))
    git(scratch, "clone", "-q", str(scratch / "remote.git"), str(scratch / "committer"))
    rng = random.Random(1)
    collect = []
    for index in range(uploads):
        doc = results_doc(index * 2 + 1, rng)  # odd indexes: results files with meta, as the pipeline writes them
        folder = scratch / "uploads" / f"results-{doc['config']['name']}"
        folder.mkdir(parents=True)
        (folder / f"{doc['config']['name']}.json").write_text(json.dumps(doc))
        collect += ["--collect", str(folder)]
    seconds, output = timed(scratch / "committer", "commit-results", "--branch", "main", *collect)
    print(f"haha commit-results --collect, {uploads} uploads: {seconds:.2f} s with imports "
          f"({output.strip().splitlines()[0]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        bench_plan(Path(scratch), args.configs)
        bench_commit(Path(scratch), args.uploads)


if __name__ == "__main__":
    main()
