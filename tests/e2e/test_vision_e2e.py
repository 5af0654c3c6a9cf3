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


def test_the_caption_sweep_shows_each_picture_and_the_index_its_thumbnail(vision_run: VisionRun) -> None:
    """The evaluate stage runs train/eval/cartoons.json (which replaces eval.json for cartoons-*) on the trained
    twin: each prompt's picture goes through the processor, and the results record its path and sha256."""
    from pipeline.data.images import inspect_image
    from pipeline.evaluate.spec import load_eval
    from pipeline.formats.results import load_results
    from pipeline.results.entries import Sources
    from pipeline.results.rebuild import write_index

    assert vision_run.report["stages"]["evaluate"] == "evaluated", vision_run.done.stdout[-3000:]  # type: ignore[index]
    data = vision_run.root / "train" / "data"
    spec = load_eval(vision_run.root / "train" / "eval" / "cartoons.json")
    results = vision_run.root / "scratch" / "results"
    doc = load_results(results / f"{CONFIG}.json")
    assert [(r.prompt, r.image, r.image_sha256) for r in doc.results] == [
        (text, image, inspect_image(image, data).sha256) for text, image in zip(spec.texts, spec.images, strict=True)]
    assert all(len(s.completions) == spec.seedVariants for r in doc.results for s in r.settingsResults)
    assert doc.evals == {}  # the text tasks (joke pairs, matching punchlines) are not a captioner's
    assert doc.judge is None  # nor is the text reward judge, which cannot see the pictures
    assert doc.meta is not None and doc.meta.prompt_format and "ProcessingStrategy" in doc.meta.prompt_format
    assert doc.meta.prompt_example and "<image>(x16)" in doc.meta.prompt_example  # the twin: 16 per picture
    scan = write_index(results, Sources(data_dir=data))
    assert sorted(t.image for t in scan.thumbnails.values() if t.src) == sorted(i for i in spec.images if i)
    print(f"sweep {doc.meta.timings.get('sweep_s')} s for {doc.meta.timings.get('cells_computed')} cells; "
          f"index.html {(results / 'index.html').stat().st_size} bytes")
