"""`haha export`: the demo's SFT config, smoke-run on the tiny model and published to a local hub, exported as one
merged folder that plain transformers loads and that answers a greedy eval cell exactly as `haha evaluate` did; the
verb refuses, by name, a config with no published adapter."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline.models.smoke import SmokeModelChoice
from tests.support.haha_cli import HAHA, copy_repo

if TYPE_CHECKING:
    from pipeline.api import RunOptions

pytestmark = pytest.mark.slow
SFT = "haha-llama-3-8b-lora-001"
# One greedy cell (temperature 0: the sampler's argmax, which transformers' greedy search also takes).
GREEDY = {"prompts": ["It was 100 degrees today."], "settings": [{"temperature": 0, "max_new_tokens": 12}],
          "seedVariants": 1}


def haha(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HAHA, *args], cwd=root, env={**os.environ, "HAHA_ROOT": str(root)}, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SFT config trained (2 steps on the tiny model), published to a local hub and evaluated on one cell, by
    `haha run` as a library (in this process, so the export below loads the training stack once)."""
    from pipeline import api

    root = copy_repo(tmp_path_factory.mktemp("repo"))
    (root / "greedy.json").write_text(json.dumps(GREEDY))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HAHA_ROOT", str(root))
        report = api.run([root / "train" / "config" / f"{SFT}.yml"], options(root, alone=True, smoke_steps=2,
                                                                               wandb="disabled",
                                                                               eval=api.EvalOptions(
                                                                                   eval_file=root / "greedy.json")))
    [outcome] = report.outcomes
    assert not outcome.failed, outcome.error
    return root


def options(root: Path, **more: object) -> RunOptions:
    from pipeline.api import RunOptions

    return RunOptions(smoke=True, smoke_model=SmokeModelChoice.TINY, hub=f"local:{root / 'hub'}", root=root, **more)


def test_the_export_loads_with_plain_transformers_and_answers_the_greedy_cell_as_the_eval_did(
        published: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pipeline import api
    from pipeline.orchestration.export import export_config

    root = published
    monkeypatch.setenv("HAHA_ROOT", str(root))
    folder = root / "exported"
    done = export_config(api.context(options(root)), root / "train" / "config" / f"{SFT}.yml", folder)
    assert done.folder == folder and done.base_model == str(root / "scratch" / "tiny-model")
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
            "README.md"} <= set(done.files) == {path.name for path in folder.iterdir()}
    assert not list(folder.glob("adapter_*"))  # merged: no adapter left to load with peft
    doc = json.loads((root / "scratch" / "results" / f"{SFT}.json").read_text())
    card = (folder / "README.md").read_text()
    assert f"`{doc['meta']['hub_repo']}` (revision `{doc['meta']['hub_revision'][:12]}`)" in card
    assert "library_name: transformers" in card and "vllm serve" in card and "convert_hf_to_gguf.py" in card

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    system = "You are a comedian. Finish the joke with one short punchline."  # the config's system_prompt
    prompt = tokenizer.apply_chat_template([{"role": "system", "content": system},
                                            {"role": "user", "content": GREEDY["prompts"][0]}],
                                           tokenize=False, add_generation_prompt=True)
    assert prompt == doc["meta"]["prompt_example"]  # the exported chat template prompts as training formatted
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    stops = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    out = model.generate(**ids, do_sample=False, max_new_tokens=12, eos_token_id=stops,
                         pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    answer = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    [[evaluated]] = [setting["completions"] for setting in doc["results"][0]["settingsResults"]]
    assert answer == evaluated


def test_a_config_whose_adapter_is_not_published_is_refused_by_name(published: Path) -> None:
    root = published
    refused = haha(root, "export", "--smoke", "--smoke-model", "tiny", "--hub", f"local:{root / 'hub'}",
                   "train/config/puns-mistral-7b-001.yml", "puns")
    assert refused.returncode == 1
    assert refused.stderr.startswith("the config puns-mistral-7b-001 has no finished results in "), refused.stderr
    assert "haha run train/config/puns-mistral-7b-001.yml --smoke" in refused.stderr
    assert not (root / "puns").exists()
    (root / "taken").mkdir()
    (root / "taken" / "keep.txt").write_text("mine")
    refused = haha(root, "export", "--smoke", "--smoke-model", "tiny", "--hub", f"local:{root / 'hub'}",
                   f"train/config/{SFT}.yml", "taken")
    assert refused.returncode == 2 and "exists and is not an empty folder" in refused.stderr
    assert [path.name for path in (root / "taken").iterdir()] == ["keep.txt"]
