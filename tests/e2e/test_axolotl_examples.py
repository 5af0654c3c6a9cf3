"""Axolotl's own examples, moved into a haha repo the way a user would (tests/wild/axolotl): what passes, what is
refused and why, and that the common shapes train and are evaluated in their own prompt format.

Each config keeps its example's shape (its dataset type, field mappings, quantization, plugins) with the Hub
dataset swapped for 8 rows of jokes in the same shape, `wandb_project: haha`, and `chat_template: chatml` where
the repo's default setting asks for it. The refusals are each the true reason the GPU runner would fail or the
repo's own rule, and each has the change that makes it pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.haha_cli import HAHA
from tests.support.hub_server import FakeHub
from tests.support.paths import WILD

CONFIGS = sorted(path.stem for path in (WILD / "axolotl" / "config").glob("*.yml"))
PLUGINS = ["axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin", "axolotl.integrations.liger.LigerPlugin"]
EVAL = {"prompts": ["Tell me a joke about socks."], "settings": [{"temperature": 0.1, "max_new_tokens": 8}],
        "seedVariants": 1}

# The refused ones: (key, what the message must say). Everything else must validate with exit 0.
REFUSED = {
    "llama-3-8b-messages-002": ("chat_template", "[tool.haha] chat_templates: chatml), got 'llama3'"),
    "devstral-small-messages-002": ("chat_template", "Setting chat_template is not supported with mistral-common"),
    "devstral-small-cce-001": ("plugins", "needs the cut-cross-entropy package"),
    "llama-3-1b-deepspeed-001": ("deepspeed", "needs the deepspeed package"),
    "llama-2-7b-gptq-001": ("gptq", "needs the gptqmodel package"),
    "llama-3-1b-hub-002": ("datasets[0].revision", "must be pinned to a full commit id (no revision): add `revision:"),
}


def make_repo(root: Path, extra_settings: str = "") -> Path:
    for folder in ("config", "data", "eval", "results"):
        (root / "train" / folder).mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "throwaway"\n\n[tool.haha]\nwandb_project = "haha"\n'
        f"allowed_plugins = {json.dumps(PLUGINS)}\n{extra_settings}")
    for path in (WILD / "axolotl" / "config").glob("*.yml"):
        shutil.copy(path, root / "train" / "config")
    for path in (WILD / "axolotl" / "data").iterdir():
        shutil.copy(path, root / "train" / "data")
    (root / "train" / "eval" / "eval.json").write_text(json.dumps(EVAL))
    return root


def haha(root: Path, *args: str, timeout: int = 600, hub: FakeHub | None = None) -> subprocess.CompletedProcess[str]:
    """`haha` as a user runs it: offline, or online against the fake Hub on 127.0.0.1 when one is given."""
    env = {**os.environ, "HAHA_ROOT": str(root), "HF_HUB_OFFLINE": "1", "HF_HOME": str(root.parent / "hf-home")}
    env.update({"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"} if hub else {})
    return subprocess.run([HAHA, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def validation(root: Path, *configs: str, hub: FakeHub | None = None) -> list[dict[str, object]]:
    targets = [str(root / "train" / "config" / f"{name}.yml") for name in configs]
    return list(json.loads(haha(root, "validate", "--json", *targets, hub=hub).stdout)["problems"])


def problems_by_config(root: Path, *configs: str) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {}
    for problem in validation(root, *configs):
        if problem["severity"] == "error":
            found.setdefault(Path(str(problem["file"])).stem, []).append(problem)
    return found


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    return problems_by_config(make_repo(tmp_path_factory.mktemp("examples") / "repo"))


@pytest.mark.slow
def test_every_example_passes_or_is_refused_for_its_true_reason(validated: dict[str, list[dict[str, object]]]) -> None:
    assert len(CONFIGS) == 20
    passing = [name for name in CONFIGS if name not in REFUSED]
    assert {name: validated.get(name) for name in passing} == dict.fromkeys(passing)
    for name, (key, message) in REFUSED.items():
        errors = validated.get(name, [])
        assert len(errors) == 1, (name, errors)
        assert errors[0]["key"] == key and message in str(errors[0]["message"]), (name, errors)
        assert errors[0]["line"], "every refusal is at its line"


@pytest.mark.slow
def test_each_refusal_lifts_with_the_change_it_names(tmp_path: Path) -> None:
    """The repo widens its chat templates; the runner's environment declares what it installs."""
    root = make_repo(tmp_path / "repo", 'chat_templates = ["chatml", "llama3"]\n')
    (root / "gpu-requirements.txt").write_text("deepspeed==0.18.9\ngptqmodel==5.0.0\ncut-cross-entropy==25.1.1\n")
    found = problems_by_config(root, "llama-3-8b-messages-002", "llama-3-1b-deepspeed-001", "llama-2-7b-gptq-001",
                               "devstral-small-cce-001")
    assert found == {}


@pytest.mark.slow
def test_a_pinned_hub_dataset_has_its_rows_checked_when_the_hub_is_reachable(tmp_path: Path) -> None:
    """Offline its rows are "not checked"; online (the fake Hub on 127.0.0.1) each row goes through Axolotl's
    strategy and a bad one is named at its line inside the dataset, at the pinned commit."""
    root = make_repo(tmp_path / "repo")
    rows = (WILD / "axolotl" / "data" / "alpaca.jsonl").read_text().splitlines()
    rows[1] = json.dumps({"question": "not alpaca", "output": "x"})
    config = root / "train" / "config" / "llama-3-1b-hub-001.yml"
    offline = [p for p in validation(root, "llama-3-1b-hub-001") if p["key"] == "datasets[0].path"]
    assert offline[0]["severity"] == "note" and str(offline[0]["message"]).startswith("rows not checked: ")
    with FakeHub() as hub:
        commit = hub.serve_dataset("teknium/GPT4-LLM-Cleaned", {"data/train.jsonl": "\n".join(rows).encode()})
        config.write_text(config.read_text().replace("2b49d7b1d8a1a2d5e5a6c53a5f9ccab37b56b5e4", commit))
        online = validation(root, "llama-3-1b-hub-001", hub=hub)
        assert [(p["file"], p["line"], p["key"]) for p in online if p["severity"] == "error"] == [
            (f"teknium/GPT4-LLM-Cleaned@{commit[:8]}/data/train.jsonl", 2, "instruction")]
        hub.serve_dataset("someone/scripted", {"scripted.py": b"import os", "data.jsonl": rows[0].encode()})
        scripted = hub.repos["datasets/someone/scripted"].commits[0].id
        config.write_text(config.read_text().replace("teknium/GPT4-LLM-Cleaned", "someone/scripted")
                          .replace(commit, scripted))
        refused = [p for p in validation(root, "llama-3-1b-hub-001", hub=hub) if p["severity"] == "error"]
        assert [(p["key"], "has a loading script (scripted.py)" in str(p["message"])) for p in refused] == [
            ("datasets[0].path", True)]


@pytest.mark.slow
def test_a_bad_row_is_refused_in_axolotls_terms_at_its_line(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    data = root / "train" / "data" / "conversations.jsonl"
    lines = data.read_text().splitlines()
    lines[2] = json.dumps({"turns": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]})
    data.write_text("\n".join(lines) + "\n")
    found = problems_by_config(root, "gemma-3-1b-conversations-001")
    rows = [p for p in found["conversations"] if p["line"] == 3]
    assert rows and rows[0]["key"] == "conversations"
    assert "missing field 'conversations' (field_messages)" in str(rows[0]["message"])


@pytest.mark.slow
def test_the_common_shapes_smoke_train_and_are_prompted_as_they_trained(tmp_path: Path) -> None:
    """chat_template (both row shapes), alpaca, DPO chat_template.default, ORPO chat_template.argilla and KTO train
    on the tiny model through real Axolotl, publish and evaluate; each results file shows its own prompt format."""
    root = make_repo(tmp_path / "repo")
    shapes = ["llama-3-8b-messages-001", "gemma-3-1b-conversations-001", "llama-3-1b-alpaca-001",
              "qwen2-05b-dpo-001", "mistral-7b-orpo-001", "llama-3-1b-kto-001"]
    result = haha(root, "run", "--smoke", "--smoke-model", "tiny", "--smoke-steps", "2",
                  *(str(root / "train" / "config" / f"{name}.yml") for name in shapes), timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    meta = {name: json.loads((root / "scratch" / "results" / f"{name}.json").read_text())["meta"]
            for name in shapes}
    question = EVAL["prompts"][0]
    assert meta["llama-3-1b-alpaca-001"]["prompt_example"].endswith(
        f"### Instruction:\n{question}\n\n### Response:\n")
    assert meta["llama-3-8b-messages-001"]["prompt_example"] == (
        "<|im_start|>system\nYou are a comedian. Answer with one short joke.<|im_end|>\n"
        f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n")
    for name in shapes:
        assert question in meta[name]["prompt_example"]
        assert "chat template" not in meta[name]["prompt_format"], (name, meta[name]["prompt_format"])
