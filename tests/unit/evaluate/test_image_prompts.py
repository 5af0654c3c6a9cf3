"""Eval prompts with pictures: the format, `haha validate`'s checks at file:line (hostile paths and a decompression
bomb), the results they write, which sweep a config gets, and batched sampling on the tiny vision twin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from pipeline.config.loading import load_config
from pipeline.core.settings import load_settings
from pipeline.data.images import inspect_image
from pipeline.evaluate.spec import EvalSpec, check_eval, sweep_cells
from pipeline.evaluate.sweep import TEXT_MODEL, assemble, spec_sha256
from pipeline.evaluate.tasks import TaskFile, tasks_for
from pipeline.formats.results import ConfigBlock, ResultsDoc, config_block, dumps_results, parse_results
from pipeline.orchestration.guards import eval_task_problems
from pipeline.orchestration.validation import check_eval_tasks
from tests.support.paths import REPO

CAPTION = "Write a funny caption for this cartoon."


def picture(path: Path, color: str = "red", size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def write_eval(repo: Path, name: str, prompts: list[object], configs: list[str] | None = None) -> Path:
    spec: dict[str, object] = {"kind": "sweep", "prompts": prompts, "settings": [{"temperature": 0.1}],
                               "seedVariants": 1}
    if configs is not None:
        spec["configs"] = configs
    path = repo / "train" / "eval" / f"{name}.json"
    path.write_text(json.dumps(spec, indent=1))
    return path


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_prompt_is_text_or_text_with_a_picture(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"prompts": ["Plain.", {"text": CAPTION, "image": "cartoons/01.png"}],
                                "settings": [{"temperature": 0.1}], "seedVariants": 1}))
    spec, problems = check_eval(path, "eval.json")
    assert problems == [] and spec is not None
    assert spec.texts == ["Plain.", CAPTION] and spec.images == [None, "cartoons/01.png"]


def test_a_text_only_spec_keeps_its_fingerprint_and_a_changed_picture_changes_it(tmp_path: Path) -> None:
    text = EvalSpec.model_validate({"prompts": ["Plain."], "settings": [{"temperature": 0.1}], "seedVariants": 1})
    assert spec_sha256(text) == spec_sha256(text, [None])  # old results files of text sweeps stay current
    data = tmp_path / "data"
    spec = EvalSpec.model_validate({"prompts": [{"text": CAPTION, "image": "a.png"}],
                                    "settings": [{"temperature": 0.1}], "seedVariants": 1})
    picture(data / "a.png")
    before = spec_sha256(spec, [inspect_image("a.png", data)])
    picture(data / "a.png", "blue")
    assert spec_sha256(spec, [inspect_image("a.png", data)]) != before


def test_hostile_pictures_are_refused_at_their_lines(haha_repo: Path) -> None:
    bomb = haha_repo / "train" / "data" / "cartoons" / "bomb.png"
    bomb.parent.mkdir(parents=True)
    Image.new("1", (20000, 20000)).save(bomb)  # ~50 KB on disk, 400 M pixels decoded
    outside = picture(haha_repo / "secret.png")
    path = write_eval(haha_repo, "cartoons", [
        {"text": CAPTION, "image": "../../secret.png"},
        {"text": CAPTION, "image": "https://example.com/cat.png"},
        {"text": CAPTION, "image": "cartoons/bomb.png"},
        {"text": CAPTION, "image": "/etc/passwd"},
    ], ["jokes-*"])
    assert outside.is_file()
    found = {p.key: (p.line, p.message) for p in check_eval_tasks(load_settings(haha_repo))
             if p.file == "train/eval/cartoons.json"}
    assert found["prompts[0].image"] == (line_of(path, "../../secret.png"),
                                         "'../../secret.png' is not a relative path inside train/data/")
    assert found["prompts[1].image"][0] == line_of(path, "https://")
    assert "is a URL" in found["prompts[1].image"][1]
    assert found["prompts[2].image"][0] == line_of(path, "bomb.png")
    assert found["prompts[2].image"][1].startswith("'cartoons/bomb.png': refused as a decompression bomb")
    assert found["prompts[3].image"][0] == line_of(path, "/etc/passwd")


def test_a_picture_for_a_text_config_is_refused_at_its_line(haha_repo: Path) -> None:
    picture(haha_repo / "train" / "data" / "cartoons" / "01.png")
    path = write_eval(haha_repo, "cartoons", ["Plain.", {"text": CAPTION, "image": "cartoons/01.png"}], ["jokes-*"])
    settings = load_settings(haha_repo)
    assert [p for p in check_eval_tasks(settings) if p.file.endswith("cartoons.json")] == []  # the file is fine
    config = load_config(haha_repo / "train" / "config" / "jokes-001.yml")
    refused = [(p.line, p.key, p.message) for p in eval_task_problems([config], settings, lambda f: f.name)]
    assert refused == [(line_of(path, "cartoons/01.png"), "prompts[1].image", f"applies to jokes-001: {TEXT_MODEL}")]


def test_a_sweep_naming_a_config_replaces_eval_json_for_it() -> None:
    text = TaskFile("eval", Path("eval.json"), "sweep")
    captions = TaskFile("cartoons", Path("cartoons.json"), "sweep", ("cartoons-*",))
    pairwise = TaskFile("prefs", Path("prefs.json"), "pairwise")
    kinds = ("sweep", "pairwise")
    assert tasks_for("cartoons-llava-1.5-7b-001", kinds, [text, captions, pairwise]) == [captions, pairwise]
    assert tasks_for("haha-llama-3-8b-lora-001", kinds, [text, captions, pairwise]) == [text, pairwise]


def test_results_record_each_picture_and_read_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    picture(data / "cartoons" / "01.png")
    spec = EvalSpec.model_validate({"prompts": ["Plain.", {"text": CAPTION, "image": "cartoons/01.png"}],
                                    "settings": [{"temperature": 0.1}], "seedVariants": 1})
    ref = inspect_image("cartoons/01.png", data)
    completions = {cell: f"joke {cell.prompt}" for cell in sweep_cells(spec)}
    doc = ResultsDoc(config=ConfigBlock(**config_block("cartoons-001", {})), results=assemble(spec, completions,
                                                                                              [None, ref]))
    text = dumps_results(doc)
    back = parse_results(text, "cartoons-001.json")
    assert (back.results[1].image, back.results[1].image_sha256) == ("cartoons/01.png", ref.sha256)
    assert "image" not in json.loads(text)["results"][0]  # a text prompt is written as it always was
    plain = parse_results(json.dumps({"config": {"name": "x"}, "results": [
        {"prompt": "Plain.", "settingsResults": [{"temperature": 0.1, "completions": ["a"]}]}]}), "x.json")
    assert plain.results[0].image is None and "image" not in dumps_results(plain)


@pytest.fixture(scope="module")
def vision_twin() -> Path:
    from pipeline.models.vision_twin import ensure_vision_twin

    return ensure_vision_twin(load_config(REPO / "train" / "config" / "cartoons-llava-1.5-7b-001.yml").data).path


def test_a_batch_with_pictures_samples_each_row_as_it_samples_alone(vision_twin: Path) -> None:
    from pipeline.data.rows import first_row
    from pipeline.evaluate.images import decode_image
    from pipeline.evaluate.model import load_model
    from pipeline.evaluate.prompting import vision_format
    from pipeline.evaluate.sampling import generate
    from pipeline.formats.sampling import Request, SamplingParams

    config = load_config(REPO / "train" / "config" / "cartoons-llava-1.5-7b-001.yml").data
    settings = load_settings(REPO)
    data = settings.data_dir
    model = load_model(str(vision_twin), None, vision=True)
    made = vision_format(config, first_row(config, settings), model.processor, model.model.config.model_type)
    pictures = [inspect_image(name, data) for name in ("cartoons/03-fish.png", "cartoons/08-ghost.png",
                                                        "cartoons/13-coffee.png")]
    encoded = [made.encode_one(CAPTION, decode_image(ref, data)) for ref in pictures]
    encoded.append(made.encode_one("A prompt without a picture, longer than the others.", None))
    requests = [Request(tuple(ids), seed, SamplingParams(temperature=temperature), 8)
                for (ids, _), seed, temperature in zip(encoded, (1, 2, 3, 4), (0.0, 0.9, 0.7, 1.0), strict=True)]
    inputs = [extra for _, extra in encoded]
    together = generate(model.model, requests, stop_ids=model.stop_ids, pad_id=model.pad_id, images=inputs)
    alone = [generate(model.model, [request], stop_ids=model.stop_ids, pad_id=model.pad_id, images=[extra])[0]
             for request, extra in zip(requests, inputs, strict=True)]
    assert together == alone and all(together)
    assert "pixel_values" in inputs[0].per_image
    assert model.tokenizer.decode(encoded[0][0]).count("<image>") > 1  # the processor expanded the picture
