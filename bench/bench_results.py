"""Results index at scale: `haha results` (README.md + index.html) over 500 results files.

Each file has 11 prompts x 5 temperatures x 3 seeds; half are old-format (no `meta`), dated by
their commit. The files are written to a temp git repo (train/results, one commit each for 50
batches of files, so the log has history to walk), then index generation runs in-process and is
timed, best of `--repeats`, including the git look-ups (commit times, and each old file's config at
the commit that added it, read with one `git cat-file --batch`). Target: under 5 s on the 2-core dev machine.

    .venv/bin/python bench/bench_results.py [--files 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.formats.results import ResultsDoc, config_block, diversity
from pipeline.results.rebuild import write_index
from pipeline.results.sources import read_sources

PROMPTS = 11
TEMPERATURES = (0.1, 0.3, 0.5, 0.7, 0.9)
SEEDS = (1, 2, 3)
WORDS = ("the", "cat", "dog", "coffee", "printer", "inbox", "heat", "rain", "bus", "keys", "dentist", "meeting", "drum",
         "diet", "shadow", "raise")


def joke(rng: random.Random) -> str:
    """About the length of a real completion (one or two short sentences)."""
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 30))).capitalize() + "."


def results_doc(index: int, rng: random.Random) -> dict[str, Any]:
    name = f"haha-bench-{index:03d}"
    config = {"sequence_len": 64, "learning_rate": rng.choice([0.000095, 0.0002, 0.0003]),
              "lora_r": rng.choice([16, 32, 64]), "lora_alpha": 16, "adapter": "lora", "num_epochs": 4}
    results = []
    for prompt in range(PROMPTS):
        settings = []
        for temperature in TEMPERATURES:
            first = joke(rng)
            completions = [first if seed > 1 and rng.random() < 0.3 else joke(rng) for seed in SEEDS]
            settings.append({"temperature": temperature, "completions": completions})
        results.append({"prompt": f"Prompt number {prompt}: it was 100 degrees today.", "settingsResults": settings})
    doc: dict[str, Any] = {"config": config_block(name, config), "results": results}
    if index % 2:
        figures = diversity(ResultsDoc.model_validate(doc).results)
        doc["meta"] = {"base_model": "meta-llama/Meta-Llama-3-8B", "hub_repo": f"haha-lab/{name}",
                       "wandb_run": f"haha-lab/haha/{name}", "seeds": list(SEEDS),
                       "finished": f"2025-03-{1 + index % 28:02d}T10:{index % 60:02d}:00+00:00",
                       "diversity": [figure.model_dump() for figure in figures]}
    return doc


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="haha-bench-results-") as tmp:
        root = Path(tmp)
        folder, configs = root / "train" / "results", root / "train" / "config"
        folder.mkdir(parents=True)
        configs.mkdir()
        git(root, "init", "-q", "-b", "main")
        for index in range(args.files):
            (folder / f"haha-bench-{index:03d}.json").write_text(json.dumps(results_doc(index, rng), indent=2))
            (configs / f"haha-bench-{index:03d}.yml").write_text("base_model: meta-llama/Meta-Llama-3-8B\n")
            if index % 10 == 9 or index == args.files - 1:
                git(root, "add", "-A")
                git(root, "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-q", "-m", f"{index}")
        written = sum(path.stat().st_size for path in folder.glob("*.json"))
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            scan = write_index(folder, read_sources(root, folder, configs))
            times.append(time.perf_counter() - started)
        html = (folder / "index.html").stat().st_size
    print(f"{len(scan.entries)} results files ({written / 1e6:.1f} MB), index.html {html / 1e6:.1f} MB")
    print(f"haha results (in-process): best {min(times):.2f} s, worst {max(times):.2f} s of {args.repeats}; "
          f"target < 5 s")


if __name__ == "__main__":
    main()
