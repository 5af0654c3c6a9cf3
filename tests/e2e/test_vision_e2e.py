"""The vision caption config smoke-trained through real Axolotl on its random tiny LLaVA twin: one run for the module.

The run starts outside the repo, so Axolotl can only find the pictures through the checked absolute paths haha
writes into its copy of the rows.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.haha_cli import HAHA, copy_repo
from tests.support.vision import VISION_CONFIG

pytestmark = pytest.mark.slow

CONFIG = VISION_CONFIG.removesuffix(".yml")
STEPS = 4


@dataclass(frozen=True)
class VisionRun:
    done: subprocess.CompletedProcess[str]
    report: dict[str, object]
    run_dir: Path
    root: Path


@pytest.fixture(scope="module")
def vision_run(tmp_path_factory: pytest.TempPathFactory) -> VisionRun:
    root = copy_repo(tmp_path_factory.mktemp("repo"), "haha-*", "puns-*", "trivia-*")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = {**os.environ, "HAHA_ROOT": str(root), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([HAHA, "run", "--smoke", "--smoke-steps", str(STEPS), "--wandb", "disabled",
                           str(root / "train" / "config" / VISION_CONFIG)], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    report_file = root / "scratch" / "report.json"
    assert report_file.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    report = next(c for c in json.loads(report_file.read_text())["configs"] if c["config"] == CONFIG)
    return VisionRun(done, report, root / "scratch" / "runs" / CONFIG, root)


def test_the_caption_config_trains_on_the_vision_twin_and_is_published(vision_run: VisionRun) -> None:
    stages = vision_run.report["stages"]
    assert isinstance(stages, dict)
    assert (stages["validate"], stages["train"], stages["publish"]) == ("ok", "trained", "published"), \
        vision_run.done.stdout[-3000:]
    losses = [json.loads(line)["loss"] for line in (vision_run.run_dir / "losses.jsonl").read_text().splitlines()]
    assert len(losses) == STEPS and all(loss > 0 for loss in losses)


def test_the_overrides_say_which_twin_and_where_the_pictures_are(vision_run: VisionRun) -> None:
    overrides = (vision_run.run_dir / "overrides.txt").read_text().splitlines()
    assert [line for line in overrides if line.startswith("base_model: ") and "random tiny llava vision twin" in line]
    copied = vision_run.run_dir / "prepared" / "image-rows" / "cartoon-captions.jsonl"
    assert [line for line in overrides if line.startswith("datasets[0].path: ") and str(copied) in line]
    row = json.loads(copied.read_text().splitlines()[0])
    picture = Path(row["messages"][0]["content"][0]["path"])
    assert picture.is_absolute() and picture.is_file() and picture.is_relative_to(vision_run.root / "train" / "data")
