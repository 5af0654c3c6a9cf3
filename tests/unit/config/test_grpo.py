"""`rl: grpo` with `haha_reward`: what validation refuses and where, the reward model Axolotl is handed, the waves
and pending verdicts a reward config makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config.effective import RewardModel, RunPlan, effective_config
from pipeline.config.loading import load_config
from pipeline.core.files import write_atomic
from pipeline.core.runs import AdapterRef
from pipeline.core.settings import load_settings
from pipeline.formats.results import ConfigBlock, Meta, ResultsDoc, config_block, dumps_results
from pipeline.formats.tracking import WandbMode
from pipeline.orchestration.needs import needs_of
from pipeline.orchestration.parents import reward_dir
from pipeline.orchestration.validation import validate
from pipeline.results.pending import PARENT_CHANGED, PARENT_PENDING, verdicts
from tests.support.haha_cli import copy_repo
from tests.support.repo_edits import write_config

PROMPTS = [{"prompt": [{"role": "system", "content": "You are a comedian."}, {"role": "user", "content": setup}]}
           for setup in ("My cat learned to type.", "I joined a gym.", "The printer jammed again.")]
GRPO_KEYS = {"rl": "grpo", "haha_reward": "jokes-reward-001", "micro_batch_size": 2, "gradient_accumulation_steps": 1,
             "trl": {"beta": 0.0, "num_generations": 2, "max_completion_length": 16},
             "datasets": [{"path": "/workspace/data/prompts.jsonl", "ds_type": "json", "split": "train"}]}


def grpo_repo(repo: Path, **changes: object) -> Path:
    """`jokes-grpo-001.yml` beside a reward config, with its prompts file; `changes` on top of GRPO_KEYS."""
    write_config(repo, "jokes-reward-001", reward_model=True)
    (repo / "train" / "data" / "prompts.jsonl").write_text("".join(json.dumps(row) + "\n" for row in PROMPTS))
    return write_config(repo, "jokes-grpo-001", **{**GRPO_KEYS, **changes})


def problems_of(repo: Path, path: Path) -> list[tuple[int | None, str, str]]:
    report = validate([str(path)], load_settings(repo), check_eval_file=False, count_lengths=False)
    return [(p.line, p.key, p.message) for p in report.problems if p.severity == "error"]


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if line.strip().startswith(text))


def test_a_grpo_config_scored_by_a_reward_config_validates(haha_repo: Path) -> None:
    assert problems_of(haha_repo, grpo_repo(haha_repo)) == []


@pytest.mark.parametrize(("trl", "key", "message"), [
    ({"reward_funcs": ["os.system"]}, "trl.reward_funcs", "refused: imports reward functions by dotted path (code); "
                                                          "name a reward config in train/config with haha_reward"),
    ({"reward_funcs": ["mymodule.reward"]}, "trl.reward_funcs", "use haha_reward"),
    ({"rollout_func": "mymodule.rollout"}, "trl.rollout_func", "refused: imports a rollout function"),
    ({"reward_processing_classes": ["gpt2"]}, "trl.reward_processing_classes", "refused: a tokenizer"),
])
def test_code_in_the_trl_block_is_refused_at_its_line_pointing_at_haha_reward(
        haha_repo: Path, trl: dict[str, object], key: str, message: str) -> None:
    path = grpo_repo(haha_repo, trl={**GRPO_KEYS["trl"], **trl})  # type: ignore[dict-item]
    found = [(line, k, m) for line, k, m in problems_of(haha_repo, path) if k == key]
    assert found, problems_of(haha_repo, path)
    line, _, said = found[0]
    assert line == line_of(path, key.split(".")[1]) and ("haha_reward" in said or "refused" in said)
    assert message in said or message == "use haha_reward"


def test_every_key_of_axolotls_trl_schema_is_reviewed_and_any_other_is_refused(haha_repo: Path) -> None:
    """The trl block is an allow-list: a key a later Axolotl adds (a reward model path, say) stays refused until it
    is reviewed and listed, and a typo is named rather than dropped unread."""
    from axolotl.utils.schemas.trl import TRLConfig

    from pipeline.config.policy_table import NESTED

    assert set(TRLConfig.model_fields) - set(NESTED["trl"]) == set()
    path = grpo_repo(haha_repo, trl={**GRPO_KEYS["trl"], "reward_model_path": "evil/model",  # type: ignore[dict-item]
                                     "num_generation": 4})
    found = {key: said for _, key, said in problems_of(haha_repo, path)}
    assert "not reviewed" in found["trl.reward_model_path"] and "not reviewed" in found["trl.num_generation"]


@pytest.mark.parametrize(("reward", "changes", "message"), [
    ("jokes-404", {}, "no readable config jokes-404.yml"),
    ("jokes-001", {}, "jokes-001 does not train a reward model (reward_model: true)"),
    ("jokes-grpo-001", {}, "a config cannot score itself"),
    ("../secrets", {}, "must be the basename of a reward config"),
])
def test_haha_reward_must_name_a_reward_config_beside_it(haha_repo: Path, reward: str, changes: dict[str, object],
                                                        message: str) -> None:
    path = grpo_repo(haha_repo, haha_reward=reward, **changes)
    found = [(line, m) for line, k, m in problems_of(haha_repo, path) if k == "haha_reward"]
    assert found and message in found[0][1], problems_of(haha_repo, path)
    assert found[0][0] == line_of(path, "haha_reward:")


def test_grpo_without_haha_reward_and_haha_reward_without_grpo_are_refused(haha_repo: Path) -> None:
    path = grpo_repo(haha_repo)
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("haha_reward")))
    assert [(line, key) for line, key, message in problems_of(haha_repo, path)
            if "name a reward config" in message] == [(line_of(path, "rl:"), "rl")]
    sft = write_config(haha_repo, "jokes-002", haha_reward="jokes-reward-001")
    assert [m for _, k, m in problems_of(haha_repo, sft) if k == "haha_reward"] == [
        "scores GRPO's generated answers: it needs rl: grpo"]


@pytest.mark.parametrize(("changes", "key", "said"), [
    # Axolotl's own validator (placed at the trl key it names, where its schema gives none)
    ({"trl": {"num_generations": 1}}, "trl.num_generations", "GRPO requires `trl.num_generations >= 2` (got 1)"),
    ({"trl": {"num_generations": 3}}, "trl.num_generations", "Smallest fix: set `gradient_accumulation_steps: 3`"),
    ({"trl": {"num_generations": 2, "generation_batch_size": 3}}, "trl.generation_batch_size",
     "Got effective_gbs=3 (from trl.generation_batch_size) and num_generations=2"),
    # haha's own, where TRL takes the value without a word
    ({"trl": {"num_generations": 2, "max_completion_length": 0}}, "trl.max_completion_length", "at least 1, got 0"),
    ({"trl": {"num_generations": 2, "beta": -0.1}}, "trl.beta", "must be 0 or more"),
    ({"trl": {"num_generations": 2, "reward_weights": [1.0, 0.5]}}, "trl.reward_weights",
     "Number of reward weights (2) must match number of reward functions (1)"),
])
def test_grpo_settings_are_judged_by_axolotl_and_trl_at_the_keys_line(haha_repo: Path, changes: dict[str, object],
                                                                      key: str, said: str) -> None:
    path = grpo_repo(haha_repo, **changes)
    found = [(line, m) for line, k, m in problems_of(haha_repo, path) if k == key]
    assert found and said in found[0][1], problems_of(haha_repo, path)
    assert found[0][0] == line_of(path, key.split(".")[1] + ":")


def test_trls_own_grpo_config_speaks_where_axolotl_does_not(haha_repo: Path) -> None:
    from pipeline.config.grpo import grpo_config_error

    # An explicit generation batch that holds whole groups but not whole micro-batches: only TRL checks that.
    said = grpo_config_error({"micro_batch_size": 4}, {"num_generations": 2, "generation_batch_size": 6})
    assert said == "generation_batch_size (6) must be divisible by the global batch size (4)."
    path = grpo_repo(haha_repo, micro_batch_size=4, trl={"num_generations": 2, "generation_batch_size": 6})
    assert [(line, k) for line, k, m in problems_of(haha_repo, path) if m.startswith("TRL's GRPOConfig says")] == [
        (line_of(path, "generation_batch_size:"), "trl.generation_batch_size")]


def test_prompt_rows_are_read_as_trl_reads_them_at_their_line(haha_repo: Path) -> None:
    path = grpo_repo(haha_repo)
    rows = [*PROMPTS[:1], {"question": "no prompt here"}, {"prompt": 7}]
    (haha_repo / "train" / "data" / "prompts.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = validate([str(path)], load_settings(haha_repo), check_eval_file=False, count_lengths=False)
    rows_said = [(p.line, p.key, p.message) for p in report.problems if p.file.endswith("prompts.jsonl")]
    assert rows_said[0][:2] == (2, "prompt") and "missing field 'prompt'" in rows_said[0][2]
    assert rows_said[1][0] == 3 and "TRL reads `prompt` as text or a list of chat messages, got 7" in rows_said[1][2]
    typed = grpo_repo(haha_repo, datasets=[{**GRPO_KEYS["datasets"][0], "type": "chatml.intel"}])  # type: ignore[index]
    assert any("haha checks GRPO rows without a `type`" in m for _, _, m in problems_of(haha_repo, typed))


def test_axolotl_takes_the_merged_reward_folder_as_a_model_and_trl_loads_it(haha_repo: Path, tmp_path: Path,
                                                                           tiny_model_dir: Path) -> None:
    """The effective config's `trl.reward_funcs` entry goes through Axolotl's own `get_reward_func`, and the folder
    merge_adapter makes loads as TRL loads a string reward function: a one-label classifier with its tokenizer."""
    from axolotl.core.trainers.grpo import GRPOStrategy
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pipeline.train.merge import merge_adapter

    ref = AdapterRef(basename="jokes-reward-001", repo_id="haha-lab/jokes-reward-001", revision="a" * 40)
    folder = reward_dir(tmp_path / "runs", ref)
    classifier = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    adapter = tmp_path / "adapter"
    get_peft_model(classifier, LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["q_proj"])).save_pretrained(adapter)
    merge_adapter(str(tiny_model_dir), adapter, folder, scorer=True)

    plan = RunPlan(tmp_path / "a", tmp_path / "p", tmp_path / "d", WandbMode.DISABLED, reward=RewardModel(ref, folder))
    config = {"base_model": "x", "rl": "grpo", "haha_reward": ref.basename, "trl": {"num_generations": 2}}
    effective, overrides = effective_config(config, "jokes-grpo-001", load_settings(haha_repo), plan)
    assert "haha_reward" not in effective and effective["trl"] == {"num_generations": 2, "reward_funcs": [str(folder)]}
    assert [str(o) for o in overrides if o.key == "trl.reward_funcs"] == [
        f"trl.reward_funcs: None -> {[str(folder)]!r} (haha_reward: jokes-reward-001's adapter aaaaaaaaaaaa merged "
        "into its base model)"]

    assert GRPOStrategy.get_reward_func(effective["trl"]["reward_funcs"][0]) == str(folder)
    with pytest.raises(ValueError, match="Empty module name"):  # why the folder's path must hold a dot
        GRPOStrategy.get_reward_func(str(tmp_path / "no-dot-here"))
    loaded = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=1)  # as GRPOTrainer does
    tokenizer = AutoTokenizer.from_pretrained(loaded.config._name_or_path)
    assert loaded.config.num_labels == 1 and loaded.config.pad_token_id is not None
    assert tokenizer.chat_template  # TRL formats prompt and answer with it before scoring


def test_a_new_reward_revision_is_a_new_recipe_so_the_grpo_config_trains_again(haha_repo: Path,
                                                                               tmp_path: Path) -> None:
    """The train stage skips a config whose complete.json has the same config hash and recipe (train/axolotl.py
    `train`); the merged reward folder's path holds the revision, so a reward config that published again makes
    another recipe and the GRPO config trains against the new revision."""
    from pipeline.train.axolotl import recipe_of

    config = {"base_model": "x", "rl": "grpo", "haha_reward": "jokes-reward-001", "trl": {"num_generations": 2}}
    recipes = []
    for revision in ("a" * 40, "b" * 40, "a" * 40):
        ref = AdapterRef(basename="jokes-reward-001", repo_id="haha-lab/jokes-reward-001", revision=revision)
        plan = RunPlan(tmp_path / "a", tmp_path / "p", tmp_path / "d", WandbMode.DISABLED,
                       reward=RewardModel(ref, reward_dir(tmp_path / "runs", ref)))
        recipes.append(recipe_of(effective_config(config, "jokes-grpo-001", load_settings(haha_repo), plan)[0]))
    assert recipes[0] != recipes[1] and recipes[0] == recipes[2]


def write_results(repo: Path, name: str, revision: str, reward: AdapterRef | None = None) -> None:
    config = repo / "train" / "config" / f"{name}.yml"
    loaded = load_config(config)
    meta = Meta(config_sha256=loaded.sha256, hub_repo=f"haha-lab/{name}", hub_revision=revision,
                finished="2026-12-01T10:00:00+00:00", reward_model=reward)
    doc = ResultsDoc(config=ConfigBlock(**config_block(name, loaded.data)), results=[], meta=meta)
    write_atomic(repo / "train" / "results" / f"{name}.json", dumps_results(doc))


def test_a_grpo_config_is_pending_while_its_reward_config_is_or_published_another_revision(haha_repo: Path) -> None:
    grpo = grpo_repo(haha_repo)
    reward = haha_repo / "train" / "config" / "jokes-reward-001.yml"
    results = haha_repo / "train" / "results"
    ref = AdapterRef(basename="jokes-reward-001", repo_id="haha-lab/jokes-reward-001", revision="rev-a")
    write_results(haha_repo, "jokes-grpo-001", "g-1", ref)
    judged = dict(verdicts([grpo, reward], results, needs_of(haha_repo / "train" / "eval")))
    assert list(judged) == [reward, grpo]  # the reward config first
    assert (judged[grpo].reason or "").startswith(PARENT_PENDING.format(key="haha_reward", parent="jokes-reward-001"))
    write_results(haha_repo, "jokes-reward-001", "rev-a")
    assert dict(verdicts([grpo, reward], results))[grpo].reason is None
    write_results(haha_repo, "jokes-reward-001", "rev-b")
    changed = PARENT_CHANGED.format(key="haha_reward", parent="jokes-reward-001")
    assert dict(verdicts([grpo, reward], results))[grpo].reason == f"{changed} (adapter rev-a → rev-b)"


def test_haha_plan_puts_the_sample_grpo_config_a_wave_after_its_reward_and_parent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.orchestration.planning import plan_pending

    root = copy_repo(tmp_path, "puns-*", "trivia-*", "*-ratings-*", "*-dpo-*", "cartoon*")
    monkeypatch.setenv("HAHA_ROOT", str(root))
    plan = plan_pending(load_settings(root))
    waves = [[entry.config for entry in wave] for wave in plan.waves]
    assert waves == [["haha-llama-3-8b-reward-001"], ["haha-llama-3-8b-lora-001"], ["haha-llama-3-8b-grpo-001"]]
    assert plan.waves[2][0].after == ["haha-llama-3-8b-lora-001", "haha-llama-3-8b-reward-001"]


@pytest.mark.parametrize(("changes", "key", "message"), [
    ({"trl": "reward_funcs"}, "trl", "AttributeError: 'str' object has no attribute 'get'"),
    ({"fsdp_config": "x"}, "fsdp_config", "AttributeError: 'str' object has no attribute 'get'"),
    ({"tokenizer_config": [1]}, "tokenizer_config", "AttributeError: 'list' object has no attribute 'lower'"),
])
def test_a_value_that_crashes_an_axolotl_validator_is_a_problem_at_its_key(
        haha_repo: Path, changes: dict[str, object], key: str, message: str) -> None:
    """Axolotl's model validators read raw values (`trl.get(...)` on a string): a crash there, not a traceback."""
    path = grpo_repo(haha_repo, **changes)
    found = [(line, where, text) for line, where, text in problems_of(haha_repo, path) if message in text]
    assert found == [(line_of(path, f"{key}:"), key, f"Axolotl rejects the config: {message}")]
