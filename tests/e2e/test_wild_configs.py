"""Configs in the shapes people write them (tests/wild/), judged as the GPU runner would judge them.

The fake Hub on 127.0.0.1 serves the base models' description files (config.json and a
tokenizer, no weights) the way the real Hub does, so validation and smoke runs take the
same paths as on a networked runner: a public Mistral and Qwen, and a gated Mistral.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.haha_cli import HAHA
from tests.support.hub_server import FakeHub
from tests.support.paths import REPO, WILD
from tests.support.repos import HAHA_EVAL, HAHA_PYPROJECT

GATED = "mistralai/Mistral-7B-v0.3"


def description_files(tmp: Path, config: object) -> dict[str, bytes]:
    """A model repo's config.json and tokenizer, as the Hub serves them: a small architecture config and the
    tiny model's byte-level BPE tokenizer (ChatML markers included)."""
    from pipeline.models.tiny import build_tokenizer, corpus

    build_tokenizer(corpus(REPO / "train" / "data")).save_pretrained(tmp)
    config.save_pretrained(tmp)  # type: ignore[attr-defined]
    return {path.name: path.read_bytes() for path in tmp.iterdir()}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    from transformers import MistralConfig, Qwen2Config

    shape = {"vocab_size": 768, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2}
    mistral = description_files(tmp_path_factory.mktemp("mistral"), MistralConfig(**shape, sliding_window=4096))
    qwen = description_files(tmp_path_factory.mktemp("qwen"), Qwen2Config(**shape))
    with FakeHub() as server:
        server.serve_model("mistralai/Mistral-7B-v0.1", mistral)
        server.serve_model("Qwen/Qwen2.5-0.5B", qwen)
        server.gate(GATED, mistral)
        yield server


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A haha repo holding the wild configs and the repo's real joke data."""
    root = tmp_path / "repo"
    for folder in ("config", "data", "eval"):
        (root / "train" / folder).mkdir(parents=True)
    (root / "pyproject.toml").write_text(HAHA_PYPROJECT)
    shutil.copy(REPO / "train" / "data" / "haha-v1.jsonl", root / "train" / "data" / "jokes.jsonl")
    (root / "train" / "eval" / "eval.json").write_text(json.dumps(HAHA_EVAL))
    for config in WILD.glob("*.yml"):
        shutil.copy(config, root / "train" / "config")
    return root


def haha(repo: Path, *args: str, hub: FakeHub | None = None) -> subprocess.CompletedProcess[str]:
    """`haha` as a user runs it; online against the fake Hub when one is given, offline otherwise."""
    env = {**os.environ, "HAHA_ROOT": str(repo), "HF_HOME": str(repo.parent / "hf-home")}
    env.update({"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"} if hub else {"HF_HUB_OFFLINE": "1"})
    return subprocess.run([HAHA, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=900)


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if line.startswith(text))


def config(repo: Path, name: str) -> Path:
    return repo / "train" / "config" / f"{name}.yml"


def test_boilerplate_passes_with_warnings_naming_the_null_keys(repo: Path) -> None:
    path = config(repo, "boilerplate-001")
    result = haha(repo, "validate", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    shown = "train/config/boilerplate-001.yml"
    assert (f"{shown}:{line_of(path, 'debug:')}: debug: warning: unknown key with no value: ignored by Axolotl; "
            "delete it") in lines
    assert (f"{shown}:{line_of(path, 'flash_attention:')}: flash_attention: warning: `flash_attention: true` is "
            "deprecated and will be removed in a future release. Use `attn_implementation: flash_attention_2` "
            "instead.") in lines
    # Empty keys Axolotl knows (deepspeed:, fsdp:, local_rank: ...) say nothing at all.
    assert not [line for line in lines if re.search(r": (deepspeed|fsdp|fsdp_config|xformers_attention): ", line)]
    assert "Traceback" not in result.stderr


def test_a_key_with_a_value_that_axolotl_does_not_know_is_still_an_error(repo: Path) -> None:
    path = config(repo, "boilerplate-001")
    path.write_text(path.read_text().replace("debug:\n", "debug: true\n"))
    result = haha(repo, "validate", str(path))
    assert result.returncode == 1
    assert f"boilerplate-001.yml:{line_of(path, 'debug:')}: debug: unknown key" in result.stdout


def test_tokens_without_lora_modules_to_save_fail_with_axolotls_message(repo: Path) -> None:
    assert haha(repo, "validate", str(config(repo, "mistral-tokens-001"))).returncode == 0
    path = config(repo, "mistral-tokens-002")
    result = haha(repo, "validate", str(path))
    assert result.returncode == 1, result.stdout
    assert (f"train/config/mistral-tokens-002.yml:{line_of(path, 'tokens:')}: tokens: Axolotl refuses this when it "
            "loads the model: `lora_modules_to_save` not properly set when adding new tokens. Please include "
            "[`embed_tokens`, `lm_head`] in `lora_modules_to_save`.") in result.stdout.splitlines()
    assert "Traceback" not in result.stdout + result.stderr


def test_new_special_tokens_are_checked_on_the_real_tokenizer(repo: Path, hub: FakeHub) -> None:
    path = config(repo, "mistral-tokens-001")
    text = path.read_text().replace('  eos_token: "<|im_end|>"', '  eos_token: "<|end_of_joke|>"')
    text = text.replace('tokens:\n  - "<|im_start|>"\n', "")  # no new tokens: only the special token is new
    path.write_text(re.sub(r"lora_modules_to_save:\n(  - \w+\n)+", "", text))
    result = haha(repo, "validate", str(path), hub=hub)
    assert result.returncode == 1, result.stdout
    assert (f"train/config/mistral-tokens-001.yml:{line_of(path, 'special_tokens:')}: special_tokens: Axolotl "
            "refuses this when it loads the model: Please set lora_modules_to_save to [`embed_tokens`, `lm_head`] "
            "when using an adapter and changing the special tokens.") in result.stdout.splitlines()


def test_a_long_system_prompt_at_sequence_len_64_is_counted_with_the_real_tokenizer(repo: Path,
                                                                                     hub: FakeHub) -> None:
    path = config(repo, "long-system-prompt-001")
    result = haha(repo, "validate", str(path), hub=hub)
    assert result.returncode == 1, result.stdout
    pattern = (rf"train/config/long-system-prompt-001.yml:{line_of(path, 'sequence_len:')}: sequence_len: 64 of 64 "
               r"rows \(100 %\) of train/data/jokes.jsonl are longer than sequence_len 64: Axolotl would drop every "
               r"row and training would die with num_samples=0; sequence_len (\d+) keeps 99 % of rows \(tokenized "
               r"with Qwen/Qwen2.5-0.5B \(Hub\)\)")
    match = next(filter(None, (re.fullmatch(pattern, line) for line in result.stdout.splitlines())), None)
    assert match, result.stdout
    path.write_text(path.read_text().replace("sequence_len: 64", f"sequence_len: {match[1]}"))
    again = haha(repo, "validate", str(path), hub=hub)
    assert again.returncode == 0, again.stdout
    assert "sequence_len:" not in again.stdout  # at most 1 % of rows dropped: 0 of 64 here


@pytest.mark.slow
def test_smoke_run_trains_a_twin_of_the_configs_own_architecture(repo: Path, hub: FakeHub) -> None:
    name = "mistral-tokens-001"
    result = haha(repo, "run", "-v", "--smoke", "--smoke-steps", "4", "--wandb", "disabled", str(config(repo, name)),
                  hub=hub)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((repo / "scratch" / "report.json").read_text())["configs"][0]
    assert report["stages"] == {"validate": "ok", "train": "trained", "publish": "published", "evaluate": "evaluated"}
    assert ("base_model: 'mistralai/Mistral-7B-v0.1' -> ... (smoke: shrunken random twin of "
            "mistralai/Mistral-7B-v0.1 (mistral, real tokenizer, from the Hub))") in re.sub(
                r"-> '[^']+'", "-> ...", result.stdout)
    effective = yaml.safe_load((repo / "scratch" / "runs" / name / "config.yml").read_text())
    assert effective["model_type"] == "MistralForCausalLM"  # the twin is a Mistral: nothing tied to it is dropped
    assert effective["tokens"] == ["<|im_start|>"]
    twin = json.loads((Path(effective["base_model"]) / "config.json").read_text())
    assert (twin["model_type"], twin["num_hidden_layers"], twin["sliding_window"]) == ("mistral", 2, 4096)
    assert (repo / "scratch" / "results" / f"{name}.json").is_file()


@pytest.mark.slow
def test_a_gated_base_model_falls_back_to_the_embedded_model_and_says_why(repo: Path, hub: FakeHub) -> None:
    name = "mistral-tokens-001"
    path = config(repo, name)
    path.write_text(path.read_text().replace("mistralai/Mistral-7B-v0.1", GATED))
    result = haha(repo, "run", "-v", "--smoke", "--smoke-steps", "2", "--wandb", "disabled", str(path), hub=hub)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"(smoke: embedded SmolLM2-135M-Instruct; '{GATED}' is gated on the Hub (it needs an accepted licence "
            "and a token))") in result.stdout
    # Without the twin, MistralForCausalLM on a Llama would die with "'LlamaConfig' object has no attribute
    # 'sliding_window'": the key goes, and says so.
    assert "override model_type: 'MistralForCausalLM' -> None (smoke: tied to the real architecture" in result.stdout
    report = json.loads((repo / "scratch" / "report.json").read_text())["configs"][0]
    assert report["stages"]["evaluate"] == "evaluated"


PREFS = [{"system": "You are a comedian.", "question": f"Setup number {i}.", "chosen": f"A punchline {i} that lands.",
          "rejected": f"A flat remark {i}."} for i in range(8)]


def test_a_2024_dpo_config_starting_from_its_sft_parent_validates(repo: Path) -> None:
    (repo / "train" / "data" / "prefs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in PREFS))
    path = config(repo, "boilerplate-dpo-001")
    result = haha(repo, "validate", str(path))
    assert result.returncode == 0, result.stdout + result.stderr  # an empty lora_model_dir: asks for nothing
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("line", "replacement", "key", "message"), [
    ("lora_model_dir:\n", "lora_model_dir: ./outputs/lora-out\n", "lora_model_dir",
     "leave it out: with haha_parent the pipeline starts from boilerplate-001's published adapter itself"),
    ("haha_parent: boilerplate-001\n", "haha_parent: ../config/boilerplate-001\n", "haha_parent",
     "must be the basename of another config in train/config (like haha-llama-3-8b-lora-001), got "
     "'../config/boilerplate-001'"),
    ("base_model: mistralai/Mistral-7B-v0.1\n", "base_model: Qwen/Qwen2.5-0.5B\n", "base_model",
     "must be boilerplate-001's base_model 'mistralai/Mistral-7B-v0.1': its adapter was trained on that model"),
])
def test_a_dpo_child_that_would_not_start_from_its_parent_is_refused_at_its_line(
        repo: Path, line: str, replacement: str, key: str, message: str) -> None:
    (repo / "train" / "data" / "prefs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in PREFS))
    path = config(repo, "boilerplate-dpo-001")
    path.write_text(path.read_text().replace(line, replacement))
    result = haha(repo, "validate", str(path))
    assert result.returncode == 1
    shown = "train/config/boilerplate-dpo-001.yml"
    assert f"{shown}:{line_of(path, replacement.split(':')[0] + ':')}: {key}: {message}" in result.stdout.splitlines()
    assert "Traceback" not in result.stderr
