"""Ratings become training data: `haha pairs-from-ratings` on hand-written votes, and the sample DPO config trains
on the pairs (smoke run on the tiny model, without its haha_parent so that nothing else needs to train first)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.ratings.lines import Rating, ratings_folder
from tests.support.haha_cli import HAHA, copy_repo
from tests.support.sample_ratings import every_cell, results_folder, write_ratings

pytestmark = pytest.mark.slow
CONFIG = "haha-llama-3-8b-dpo-ratings-001"
DATA = "haha-prefs-rated-v1"


def haha(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HAHA, *args], cwd=root, env={**os.environ, "HAHA_ROOT": str(root)}, capture_output=True,
                          text=True, timeout=600)


def test_the_sample_dpo_config_trains_on_pairs_made_from_ratings(tmp_path: Path) -> None:
    root = copy_repo(tmp_path, f"{DATA}.jsonl")
    results = results_folder(root, ("haha-a-001", "haha-b-001"))
    write_ratings(ratings_folder(results), "alice", every_cell("alice", "haha-a-001", Rating.FUNNY)
                  + every_cell("alice", "haha-b-001", Rating.UNFUNNY))
    made = haha(root, "pairs-from-ratings", DATA)
    assert made.returncode == 0, made.stdout + made.stderr
    pairs = [json.loads(line) for line in (root / "train" / "data" / f"{DATA}.jsonl").read_text().splitlines()]
    assert len(pairs) == 2 * 6 * 6  # per prompt, each of haha-a's 6 funny jokes over each of haha-b's 6 unfunny ones
    assert all(p["chosen"].startswith("haha-a-001") and p["rejected"].startswith("haha-b-001") for p in pairs)

    path = root / "train" / "config" / f"{CONFIG}.yml"
    config = yaml.safe_load(path.read_text())
    assert config["datasets"][0]["path"] == f"/workspace/data/{DATA}.jsonl"
    del config["haha_parent"]  # its SFT parent would train first; the pairs are what this test is about
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    done = haha(root, "train", "--smoke", "--smoke-model", "tiny", "--smoke-steps", "4", "--wandb", "disabled",
                f"train/config/{CONFIG}.yml")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads((root / "scratch" / "runs" / CONFIG / "complete.json").read_text())
    assert len(record["losses"]) == 4 and record["losses"][0] == pytest.approx(0.6931, abs=0.01)  # DPO starts at log 2
