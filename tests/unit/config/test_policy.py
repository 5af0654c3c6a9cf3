"""The config policy: every Axolotl key classed, every hostile config refused with the key named."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config.loading import LoadedConfig, load_config
from pipeline.config.policy import CODE_KEYS_ANYWHERE, SchemaKeys, check_policy, key_class
from pipeline.config.policy_table import (
    ALLOW_LISTED,
    DATASET_HANDLER_TYPES,
    DATASET_SPECIAL,
    DATASET_VALUES,
    PATHS,
    REFUSED,
    VALUES,
    KeyClass,
)
from pipeline.core.settings import load_settings
from tests.support.haha_cli import HAHA

CONFIG = "train/config/jokes-001.yml"


def schema_keys() -> SchemaKeys:
    from pipeline.config.schema import schema_keys as keys_of

    return SchemaKeys(*keys_of({}))


def policy(root: Path, **changes: Any) -> list[tuple[str, str]]:
    """(key, message) of every policy problem of the fixture config with `changes` applied."""
    path = root / CONFIG
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    problems = check_policy(load_config(path), load_settings(root), CONFIG, schema_keys())
    return [(p.key, p.message) for p in problems]


def keys_of(found: list[tuple[str, str]]) -> list[str]:
    return [key for key, _ in found]


# --- the table covers Axolotl --------------------------------------------------------------------------------------

def test_every_key_of_axolotls_schema_has_exactly_one_class() -> None:
    from axolotl.utils.schemas.config import AxolotlInputConfig

    unclassed = sorted(key for key in AxolotlInputConfig.model_fields if key_class(key) is None)
    assert unclassed == [], f"review these keys and class them in pipeline/config/policy_table.py: {unclassed}"
    tables = [set(ALLOW_LISTED), set(REFUSED), set(PATHS), VALUES]
    assert sum(len(t) for t in tables) == len(set().union(*tables)), "a key is in two tables"


def test_every_key_of_every_dataset_model_has_a_class() -> None:
    import axolotl.utils.schemas.datasets as models

    keys = set().union(*(getattr(models, name).model_fields for name in (
        "SFTDataset", "DPODataset", "KTODataset", "PretrainingDataset", "StepwiseSupervisedDataset",
        "SyntheticDataset")))
    assert sorted(keys - DATASET_VALUES - set(DATASET_SPECIAL)) == []


@pytest.mark.slow
def test_the_handler_type_names_match_axolotls() -> None:
    """The copy exists because importing Axolotl's wrappers takes seconds; it must not drift."""
    from axolotl.utils.data.wrappers import DATASET_HANDLERS

    assert frozenset(DATASET_HANDLERS) == DATASET_HANDLER_TYPES


def test_a_key_the_policy_has_not_reviewed_is_refused(haha_repo: Path) -> None:
    path = haha_repo / CONFIG
    config = load_config(path)
    grown = SchemaKeys(schema_keys().top | {"shiny_new_key"}, schema_keys().dataset)
    data = {**config.data, "shiny_new_key": "x"}
    problems = check_policy(LoadedConfig(path, data, config.sha256), load_settings(haha_repo), CONFIG, grown)
    assert [(p.key, p.message) for p in problems] == [
        ("shiny_new_key", "this key is not reviewed for the GPU runner; add it to the policy "
                          "(pipeline/config/policy_table.py)")]


# --- the hostile configs a pull request could send ------------------------------------------------------------------

def test_the_fixture_config_passes(haha_repo: Path) -> None:
    assert policy(haha_repo) == []


def test_torchdistx_path_is_refused(haha_repo: Path) -> None:
    (haha_repo / "train" / "data" / "torchdistx").mkdir()
    found = policy(haha_repo, torchdistx_path="train/data", optimizer="adamw_anyprecision")
    assert keys_of(found) == ["torchdistx_path"]
    assert "sys.path" in found[0][1]


@pytest.mark.parametrize("key", ["model_kwargs", "overrides_of_model_kwargs"])
def test_remote_code_through_model_kwargs_is_refused(haha_repo: Path, key: str) -> None:
    assert "model_kwargs.trust_remote_code" in " ".join(keys_of(policy(haha_repo, **{key: {"trust_remote_code":
                                                                                         True}})))


@pytest.mark.parametrize("key", ["model_config", "overrides_of_model_config"])
def test_auto_map_anywhere_is_refused(haha_repo: Path, key: str) -> None:
    found = policy(haha_repo, **{key: {"auto_map": {"AutoModelForCausalLM": "evil.Model"}, "rope_theta": 1e6}})
    assert keys_of(found) == [f"{key}.auto_map"]


def test_model_kwargs_outside_the_reviewed_ones_are_refused(haha_repo: Path) -> None:
    found = policy(haha_repo, model_kwargs={"cache_dir": "/etc", "attn_implementation": "sdpa"})
    assert keys_of(found) == ["model_kwargs.cache_dir"]


@pytest.mark.parametrize("template", ["/proc/self/environ", "../../secrets.jinja", "train/data/t.jinja"])
def test_a_chat_template_path_is_refused(haha_repo: Path, template: str) -> None:
    found = policy(haha_repo, chat_template_jinja=template)
    assert keys_of(found) == ["chat_template_jinja"]
    assert "path" in found[0][1]


def test_a_custom_jinja_template_needs_its_hash_allow_listed(haha_repo: Path) -> None:
    template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    digest = hashlib.sha256(template.encode()).hexdigest()
    found = policy(haha_repo, chat_template="jinja", chat_template_jinja=template)
    assert keys_of(found) == ["chat_template_jinja"] and digest in found[0][1]
    pyproject = haha_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'allowed_chat_templates = ["{digest}"]\n')
    assert policy(haha_repo) == []


@pytest.mark.parametrize("kind", ["somemodule.load", "os.system", "train.data.payload", "subprocess.run",
                                  "chatml.intel; rm", "../x"])
def test_a_dataset_type_that_is_not_built_in_is_refused(haha_repo: Path, kind: str) -> None:
    found = policy(haha_repo, datasets=[{"path": "/workspace/data/jokes.jsonl", "type": kind}])
    assert keys_of(found) == ["datasets[0].type"]


@pytest.mark.parametrize("kind", ["alpaca", "alpaca:chat", "chat_template", "chatml.intel", "user_defined.default",
                                  "bradley_terry.chat_template", "completion", "input_output", "alpaca_w_system"
                                  ".load_open_orca"])
def test_built_in_dataset_types_pass(haha_repo: Path, kind: str) -> None:
    assert policy(haha_repo, datasets=[{"path": "/workspace/data/jokes.jsonl", "type": kind}]) == []


@pytest.mark.parametrize(("key", "value"), [("trainer_cls", "any.dotted.Class"), ("wandb_run_id", "abc123"),
                                            ("use_kernels", True), ("mlflow_tracking_uri", "http://x"),
                                            ("do_causal_lm_eval", True), ("trackio_space_id", "me/space"),
                                            ("use_ray", True), ("hub_model_id", "me/model")])
def test_reviewed_and_refused_keys(haha_repo: Path, key: str, value: Any) -> None:
    found = policy(haha_repo, **{key: value})
    assert keys_of(found) == [key] and found[0][1].startswith("refused: this key ")


def test_refused_keys_switched_off_are_harmless(haha_repo: Path) -> None:
    assert policy(haha_repo, use_mlflow=False, do_bench_eval=False, trainer_cls=None, use_kernels=False) == []


def test_a_symlinked_data_folder_is_refused(haha_repo: Path, tmp_path: Path) -> None:
    data = haha_repo / "train" / "data"
    elsewhere = tmp_path / "elsewhere"
    data.rename(elsewhere)
    data.symlink_to(elsewhere)
    found = policy(haha_repo)
    assert keys_of(found) == ["datasets[0].path"] and "symlinked folder train/data" in found[0][1]


def test_a_symlinked_folder_inside_train_data_is_refused(haha_repo: Path, tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "rows.jsonl").write_text("{}\n")
    (haha_repo / "train" / "data" / "more").symlink_to(tmp_path / "secrets")
    found = policy(haha_repo, datasets=[{"path": "/workspace/data/more/rows.jsonl", "type": "alpaca"}])
    assert keys_of(found) == ["datasets[0].path"]


@pytest.mark.parametrize("value", ["/home/runner/.ssh", "../other-repo/model", "/"])
def test_a_local_base_model_outside_the_repo_is_refused(haha_repo: Path, value: str) -> None:
    assert keys_of(policy(haha_repo, base_model=value)) == ["base_model"]


def test_hub_repo_ids_and_model_dirs_pass(haha_repo: Path, tmp_path: Path) -> None:
    assert policy(haha_repo, base_model="mistralai/Mistral-7B-v0.1") == []
    store = tmp_path / "models" / "llama"
    store.mkdir(parents=True)
    pyproject = haha_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'model_dirs = ["{store.parent}"]\n')
    assert policy(haha_repo, base_model=str(store)) == []


def test_importable_files_under_train_fail_validation(haha_repo: Path) -> None:
    (haha_repo / "train" / "data" / "torchdistx.py").write_text("import os\n")
    env = {**os.environ, "HAHA_ROOT": str(haha_repo)}
    result = subprocess.run([HAHA, "validate"], cwd=haha_repo, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "train/data/torchdistx.py: file: importable code has no place under train/" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("changes", [
    {"torchdistx_path": "train/data", "optimizer": "adamw_anyprecision"},
    {"chat_template_jinja": "/proc/self/environ"},
    {"datasets": [{"path": "/workspace/data/jokes.jsonl", "type": "somemodule.load"}]},
])
def test_hostile_configs_fail_haha_validate_with_the_key_and_no_traceback(haha_repo: Path,
                                                                         changes: dict[str, Any]) -> None:
    path = haha_repo / CONFIG
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **changes}, sort_keys=False))
    env = {**os.environ, "HAHA_ROOT": str(haha_repo)}
    result = subprocess.run([HAHA, "validate"], cwd=haha_repo, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout
    key = next(iter(changes)) if "datasets" not in changes else "datasets[0].type"
    assert any(line.startswith(f"{CONFIG}:") and f": {key}: " in line for line in result.stdout.splitlines())
    assert "Traceback" not in result.stdout + result.stderr


# --- property: random configs from the key classes ------------------------------------------------------------------

ESCAPING_PATHS = ["/etc/passwd", "../../secrets", "/workspace/data/../../etc/shadow", "s3://bucket/x",
                  "train/data/../../../x", "/proc/self/environ"]
SAFE_VALUES = [1, 0.5, True, "cosine", [1, 2], {"a": 1}]


def random_nested(rng: random.Random, depth: int) -> tuple[Any, bool]:
    """A random mapping, and whether it hides trust_remote_code/auto_map somewhere."""
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(SAFE_VALUES), False
    out: dict[str, Any] = {}
    hidden = False
    for index in range(rng.randint(1, 3)):
        if rng.random() < 0.15:
            out[rng.choice(CODE_KEYS_ANYWHERE)] = True if rng.random() < 0.5 else {"AutoModel": "x.Y"}
            hidden = True
        else:
            value, inner = random_nested(rng, depth - 1)
            out[f"k{index}"] = [value] if rng.random() < 0.3 else value
            hidden |= inner
    return out, hidden


def test_random_configs_never_let_a_path_escape_or_code_load(haha_repo: Path) -> None:
    rng = random.Random(20261122)
    base = yaml.safe_load((haha_repo / CONFIG).read_text())
    settings = load_settings(haha_repo)
    schema = schema_keys()
    workspace_keys = [k for k, c in PATHS.items() if c is KeyClass.WORKSPACE_PATH]
    for _ in range(300):
        data = json.loads(json.dumps(base))
        must_flag: set[str] = set()
        for key in rng.sample(sorted(REFUSED), 2):
            data[key] = "x"
            must_flag.add(key)
        key = rng.choice(workspace_keys)
        data[key] = rng.choice(ESCAPING_PATHS)
        must_flag.add(key)
        data["datasets"] = [{"path": rng.choice(ESCAPING_PATHS), "type": "alpaca"}]
        must_flag.add("datasets[0].path")
        nested, hidden = random_nested(rng, 4)
        data["model_config"] = nested if isinstance(nested, dict) else {"x": nested}
        for value_key in rng.sample(sorted(VALUES - {"chat_template"}), 5):
            data[value_key] = rng.choice(SAFE_VALUES)
        config = LoadedConfig(haha_repo / CONFIG, data, "0" * 64)
        flagged = {p.key for p in check_policy(config, settings, CONFIG, schema)}
        assert must_flag <= flagged, (must_flag - flagged, data)
        assert hidden == any(k.startswith("model_config.") for k in flagged), data
