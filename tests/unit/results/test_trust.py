"""What a pull request writes never chooses what the GPU runner loads or how long it runs: results files are
believed only for `<hub_org>/<basename>` at a commit the hub confirms, task files must suit the configs they
apply to, and budgets cap a config's processes and an eval file's size before any GPU time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants
from safetensors.torch import save_file

from pipeline.config.loading import load_config
from pipeline.core.files import write_atomic
from pipeline.core.runs import AdapterRef
from pipeline.core.settings import SettingsError, load_settings
from pipeline.formats.results import ConfigBlock, JudgeScores, Meta, ResultsDoc, config_block, dumps_results
from pipeline.orchestration.parents import ParentError, published_ref
from pipeline.orchestration.validation import validate
from pipeline.publish.fetch import fetch_adapter
from pipeline.publish.hub import PublishError, Push, publish
from pipeline.publish.local import LocalHub
from pipeline.publish.modelcard import CardInputs, render_card
from pipeline.publish.target import parse_hub
from tests.support.hub_server import FakeHub
from tests.support.repo_edits import write_config

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ORG = "haha-lab"


def write_results(repo: Path, config: Path, **meta: object) -> Path:
    """A finished results file for the config as it is now, made by the results writer; `meta` overrides."""
    loaded = load_config(config)
    fields = {"config_sha256": loaded.sha256, "hub_repo": f"{ORG}/{config.stem}", "hub_revision": COMMIT,
              "finished": "2026-11-20T10:00:00+00:00", **meta}
    judge = fields.pop("judge", None)
    doc = ResultsDoc(config=ConfigBlock(**config_block(config.stem, loaded.data)), results=[],
                     meta=Meta.model_validate(fields), judge=judge)
    path = repo / "train" / "results" / f"{config.stem}.json"
    write_atomic(path, dumps_results(doc))
    return path


def errors_of(repo: Path, *paths: Path) -> list[tuple[str, int | None, str, str]]:
    report = validate([str(p) for p in paths], load_settings(repo), count_lengths=False)
    return [(p.file, p.line, p.key, p.message) for p in report.problems if p.severity == "error"]


# ---- finding 1: a parent's (or a judge's, or a reward model's) adapter is only ever its own ----


@pytest.mark.parametrize(("meta", "why"), [
    ({"hub_repo": "evil-org/evil-adapter"}, "meta.hub_repo names 'evil-org/evil-adapter'; the results of jokes-001 "
                                            "name only haha-lab/jokes-001"),
    ({"hub_repo": "haha-lab/jokes-002"}, "meta.hub_repo names 'haha-lab/jokes-002'"),
    ({"hub_revision": "main"}, "meta.hub_revision 'main' is not a full commit id"),
    ({"hub_revision": COMMIT[:12]}, "is not a full commit id"),
])
def test_a_parent_is_believed_only_for_its_own_repo_at_a_commit(haha_repo: Path, meta: dict[str, str],
                                                                 why: str) -> None:
    parent = haha_repo / "train" / "config" / "jokes-001.yml"
    results = haha_repo / "train" / "results"
    write_results(haha_repo, parent)
    assert published_ref(results, "jokes-001", "the parent", "haha run", ORG) == AdapterRef(
        basename="jokes-001", repo_id="haha-lab/jokes-001", revision=COMMIT)
    write_results(haha_repo, parent, **meta)
    with pytest.raises(ParentError, match="cannot be trusted") as refused:
        published_ref(results, "jokes-001", "the parent", "haha run", ORG)
    assert why in str(refused.value)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The fake Hub on 127.0.0.1, reached by the real client even where HF_HUB_OFFLINE is set."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token_for_the_fake_hub")
        yield server


@pytest.fixture
def adapter(tmp_path: Path) -> Path:
    out = tmp_path / "adapter"
    out.mkdir()
    save_file({"base_model.model.lora_A.weight": torch.zeros(2, 2)}, out / "adapter_model.safetensors")
    (out / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 4}))
    return out


def _push(adapter: Path, name: str, hub: LocalHub | None = None) -> str:
    card = render_card(CardInputs(f"{ORG}/{name}", name, "base", "a" * 64, {"lora_r": 2}))
    return publish(Push(adapter, ORG, name, card, "a" * 64), hub or parse_hub("hf")).revision


def test_the_hub_confirms_the_commit_before_anything_is_downloaded(fake_hub: FakeHub, adapter: Path,
                                                                     tmp_path: Path) -> None:
    """A branch name, or a commit of another repo, is refused by the real client against the Hub's history."""
    own = _push(adapter, "jokes-001")
    other = _push(adapter, "jokes-002")
    hub = parse_hub("hf")
    assert (fetch_adapter(hub, f"{ORG}/jokes-001", own, tmp_path / "ok") / "adapter_config.json").is_file()
    with pytest.raises(PublishError, match="'main' is not a full commit id"):
        fetch_adapter(hub, f"{ORG}/jokes-001", "main", tmp_path / "branch")
    downloads = len(fake_hub.requests_to("resolve"))
    with pytest.raises(PublishError, match=f"has no commit {other[:12]}: its results name an adapter"):
        fetch_adapter(hub, f"{ORG}/jokes-001", other, tmp_path / "foreign")
    assert len(fake_hub.requests_to("resolve")) == downloads, "nothing was downloaded"
    assert not (tmp_path / "foreign").exists()


def test_the_local_hub_never_leaves_its_folder(adapter: Path, tmp_path: Path) -> None:
    hub = LocalHub(tmp_path / "hub")
    revision = _push(adapter, "jokes-001", hub)
    elsewhere = tmp_path / "elsewhere" / "x"
    elsewhere.mkdir(parents=True)
    for repo_id in ("../../../elsewhere/x", "../elsewhere/x", f"{ORG}/../../elsewhere/x"):
        with pytest.raises(PublishError, match="is not a Hub repo id"):
            fetch_adapter(hub, repo_id, revision, tmp_path / "fetched")
    (hub.root / "evil").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PublishError, match="leads out of the local hub"):
        fetch_adapter(hub, "evil/x", revision, tmp_path / "fetched")
    with pytest.raises(PublishError, match="was never pushed at 0123456789ab"):
        fetch_adapter(hub, f"{ORG}/jokes-001", COMMIT, tmp_path / "fetched")


# ---- finding 3: a forged results file fails validation at its line ----


def test_validate_checks_every_results_files_claims_at_file_line_and_key(haha_repo: Path) -> None:
    config = haha_repo / "train" / "config" / "jokes-001.yml"
    assert errors_of(haha_repo, config) == []
    judge = JudgeScores(judge=AdapterRef(basename="jokes-rm-001", repo_id="evil-org/judge", revision="main"),
                        mean_reward=9.0, n=0, rewards=[])
    path = write_results(haha_repo, config, hub_repo="evil-org/evil-adapter", judge=judge)
    text = path.read_text().splitlines()
    line = {key: next(n for n, row in enumerate(text, 1) if f'"{key}"' in row) for key in ("hub_repo", "repo_id")}
    found = {(file, number, key) for file, number, key, _ in errors_of(haha_repo, config)}
    assert found == {("train/results/jokes-001.json", line["hub_repo"], "meta.hub_repo"),
                     ("train/results/jokes-001.json", line["repo_id"], "judge.judge.repo_id"),
                     ("train/results/jokes-001.json", line["repo_id"] + 1, "judge.judge.revision")}
    (haha_repo / "train" / "results" / "notes.json").write_text("{}")
    assert ("train/results/notes.json", None, "filename", "a results file is named <config basename>.json") in \
        errors_of(haha_repo, config)


# ---- finding 9: a task file's kind must suit every config it applies to ----


def test_a_multiple_choice_eval_for_every_config_is_refused_for_the_reward_model(haha_repo: Path) -> None:
    write_config(haha_repo, "jokes-rm-001", reward_model=True)
    task = {"kind": "multiple_choice", "configs": ["*"],
            "items": [{"id": "a", "prompt": "Which is funnier?", "choices": ["this", "that"], "answer": 0}]}
    (haha_repo / "train" / "eval" / "mc.json").write_text(json.dumps(task, indent=1))
    found = [problem for problem in errors_of(haha_repo, haha_repo / "train" / "config")
             if problem[0] == "train/eval/mc.json"]
    assert found == [("train/eval/mc.json", 3, "configs", "applies to jokes-rm-001: kind multiple_choice cannot run "
                      "on a reward model, which scores text and generates none; narrow \"configs\" to leave it out")]
    task["configs"] = ["jokes-0*"]
    (haha_repo / "train" / "eval" / "mc.json").write_text(json.dumps(task, indent=1))
    assert [p for p in errors_of(haha_repo, haha_repo / "train" / "config") if p[0] == "train/eval/mc.json"] == []


# ---- finding 11: budgets before GPU time ----


@pytest.mark.parametrize("key", ["dataloader_num_workers", "dataset_num_proc", "dataset_processes"])
def test_cpu_processes_are_capped_by_the_runner_class(haha_repo: Path, key: str) -> None:
    config = write_config(haha_repo, "jokes-002", **{key: 100000})
    line = next(n for n, row in enumerate(config.read_text().splitlines(), 1) if row.startswith(f"{key}:"))
    assert ("train/config/jokes-002.yml", line, key, f"{key} is 100,000, over the budget of 16 "
            "([tool.haha.budgets] cpu_processes, raised in a reviewed change)") in errors_of(haha_repo, config)
    pyproject = haha_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.haha.runners.classes.gpu]\nlabels = ["gpu"]\ncpus = 8\n')
    write_config(haha_repo, "jokes-002", **{key: 12})
    assert [message for _, _, k, message in errors_of(haha_repo, config) if k == key] == [
        f"{key} is 12, over the budget of 8 ([tool.haha.budgets] cpu_processes, or cpus of "
        "[tool.haha.runners.classes.gpu], raised in a reviewed change)"]


def test_an_eval_file_over_budget_is_refused_with_its_figures(haha_repo: Path) -> None:
    spec = {"prompts": [f"prompt {i}" for i in range(1000)],
            "settings": [{"temperature": t / 10, "max_new_tokens": 4096} for t in range(10)], "seedVariants": 1000}
    (haha_repo / "train" / "eval" / "eval.json").write_text(json.dumps(spec, indent=1))
    found = {key: message for file, _, key, message in errors_of(haha_repo, haha_repo / "train" / "config")
             if file == "train/eval/eval.json"}
    assert found == {
        "prompts": "eval cells (prompts x settings x seeds) is 10,000,000, over the budget of 10,000 "
                   "([tool.haha.budgets] eval_cells, raised in a reviewed change)",
        "settings": "new tokens (every completion at its max_new_tokens) is 40,960,000,000, over the budget of "
                    "5,000,000 ([tool.haha.budgets] eval_new_tokens, raised in a reviewed change)"}
    best = {"kind": "best_of_n", "prompts": ["a", "b"], "settings": [{"temperature": 0.7}], "seedVariants": 2,
            "n": 64, "rewardModel": "jokes-001"}
    (haha_repo / "train" / "eval" / "best.json").write_text(json.dumps(best))
    pyproject = haha_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.haha.budgets]\nbest_of_n_candidates = 200\n"
                         "eval_cells = 20000000\neval_new_tokens = 50000000000\n")
    found = {(file, key) for file, _, key, _ in errors_of(haha_repo, haha_repo / "train" / "config")}
    assert ("train/eval/best.json", "n") in found and ("train/eval/eval.json", "prompts") not in found


def test_a_budget_setting_is_checked_like_any_setting(haha_repo: Path) -> None:
    pyproject = haha_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.haha.budgets]\neval_cels = 5\n")
    with pytest.raises(SettingsError, match=r"budgets\.eval_cels: Extra inputs are not permitted"):
        load_settings(haha_repo)
