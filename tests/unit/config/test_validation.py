"""`haha validate`'s checks on configs and their datasets, run in-process on a throwaway repo (`haha_repo`)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config.rules import in_workspace
from pipeline.core.problems import Problem, errors
from pipeline.core.settings import Settings, load_settings
from pipeline.orchestration.validation import Report, validate

CONFIG = "train/config/jokes-001.yml"
DATA = "train/data/jokes.jsonl"
NOT_ON_DISK = ("length check and Axolotl's model-load checks skipped: 'haha-test/not-a-real-model' is not in the "
               "HF cache and HF_HUB_OFFLINE is set; rows checked with the embedded model's tokenizer")


def config_path(root: Path) -> Path:
    return root / CONFIG


def edit_config(root: Path, drop: tuple[str, ...] = (), **changes: Any) -> Path:
    """Rewrite the valid fixture config with some keys changed or dropped."""
    path = config_path(root)
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    for key in drop:
        del data[key]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def line_containing(path: Path, text: str) -> int:
    """The 1-based line of the first occurrence of `text`, so expected line numbers follow the file."""
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def run(root: Path, *targets: str, count_lengths: bool = True) -> Report:
    settings = load_settings(root)
    return validate(list(targets) or [str(settings.config_dir)], settings, count_lengths=count_lengths)


def not_notes(report: Report) -> list[Problem]:
    return [p for p in report.problems if p.severity != "note"]


def write_rows(root: Path, rows: list[dict[str, Any]], name: str = "jokes.jsonl") -> Path:
    path = root / "train" / "data" / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# --- a clean repo ------------------------------------------------------------------------------------------


def test_the_fixture_repo_is_clean_but_for_the_skipped_length_check(haha_repo: Path) -> None:
    report = run(haha_repo)
    line = line_containing(config_path(haha_repo), "- path:")
    assert report.problems == [Problem(CONFIG, line, "datasets[0].path", NOT_ON_DISK, "note")]
    assert [(d.file, d.rows, d.duplicates, d.too_long) for d in report.configs[0].datasets] == [(DATA, 3, 0, None)]


def test_a_gpu_config_passes_on_this_cpu_machine_without_downloading(haha_repo: Path) -> None:
    """8-bit loading, bf16: auto, flash attention, a bitsandbytes optimizer and a Hub model that is not here."""
    edit_config(haha_repo, base_model="meta-llama/Meta-Llama-3-8B", load_in_8bit=True, bf16="auto", tf32=False,
                attn_implementation="flash_attention_2", optimizer="adamw_bnb_8bit", gradient_checkpointing=True,
                special_tokens={"pad_token": "<|end_of_text|>"})
    assert not_notes(run(haha_repo)) == []
    edit_config(haha_repo, load_in_8bit=False, load_in_4bit=True, adapter="qlora", optimizer="paged_adamw_8bit")
    assert not_notes(run(haha_repo)) == []


# --- YAML --------------------------------------------------------------------------------------------------


def test_a_python_tag_is_refused_and_never_executed(haha_repo: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    path = config_path(haha_repo)
    path.write_text(path.read_text() + f"seed: !!python/object/apply:os.system ['touch {sentinel}']\n")
    report = run(haha_repo)
    line = len(path.read_text().splitlines())
    assert report.problems == [Problem(
        CONFIG, line, "yaml", "refused: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'; configs are plain YAML data, tags are never run")]
    assert not sentinel.exists()


def test_invalid_yaml_and_non_mappings_are_reported(haha_repo: Path) -> None:
    path = config_path(haha_repo)
    path.write_text("base_model: x\ndatasets: [\n")
    (problem,) = run(haha_repo).problems
    assert (problem.key, problem.line, problem.message) == ("yaml", 3, "not valid YAML: did not find expected node "
                                                                       "content")
    path.write_text("- just\n- a list\n")
    assert run(haha_repo).problems == [Problem(CONFIG, 1, "yaml", "the config must be a YAML mapping of Axolotl keys")]


def test_a_key_written_twice_is_an_error(haha_repo: Path) -> None:
    path = config_path(haha_repo)
    path.write_text(path.read_text() + "learning_rate: 0.5\n")
    line = len(path.read_text().splitlines())
    assert not_notes(run(haha_repo)) == [
        Problem(CONFIG, line, "learning_rate", "written twice; YAML silently keeps only the last value")]


# --- Axolotl's schema --------------------------------------------------------------------------------------


def test_a_typo_is_an_unknown_key_with_a_suggestion(haha_repo: Path) -> None:
    path = config_path(haha_repo)
    path.write_text(path.read_text().replace("learning_rate:", "lerning_rate:"))
    assert not_notes(run(haha_repo)) == [
        Problem(CONFIG, line_containing(path, "lerning_rate"), "lerning_rate",
                "unknown key (Axolotl would silently ignore it); did you mean 'learning_rate'?"),
        Problem(CONFIG, None, "learning_rate", "Field required"),
    ]


def test_unknown_keys_inside_a_dataset_and_its_type(haha_repo: Path) -> None:
    path = config_path(haha_repo)
    text = path.read_text().replace("field_output:", "field_outptu:")
    path.write_text(text.replace("    type:", "    shufle: true\n    type:"))
    assert not_notes(run(haha_repo)) == [
        Problem(CONFIG, line_containing(path, "shufle"), "datasets[0].shufle",
                "unknown key (Axolotl would silently ignore it)"),
        Problem(CONFIG, line_containing(path, "field_outptu"), "datasets[0].type.field_outptu",
                "unknown key (Axolotl would silently ignore it); did you mean 'field_output'?"),
    ]


def test_pretraining_entries_are_checked_against_their_own_model(haha_repo: Path) -> None:
    """`text_column` and `skip` belong to Axolotl's PretrainingDataset; a typo there used to pass unreported."""
    path = config_path(haha_repo)
    path.write_text(path.read_text() + "pretraining_dataset:\n  - path: /workspace/data/jokes.jsonl\n"
                                       "    text_column: text\n    skip: 2\n    sklp: 3\n")
    unknown = [p for p in run(haha_repo).problems if "unknown key" in p.message]
    assert unknown == [Problem(CONFIG, line_containing(path, "sklp"), "pretraining_dataset[0].sklp",
                               "unknown key (Axolotl would silently ignore it); did you mean 'skip'?")]


def test_axolotl_judges_the_values_once_per_key(haha_repo: Path) -> None:
    """A dataset is a union of models in Axolotl: only the SFT branch's complaint is shown."""
    path = edit_config(haha_repo, learning_rate="fast", datasets=[{"path": 3, "type": "alpaca"}])
    assert errors(run(haha_repo).problems) == [
        Problem(CONFIG, line_containing(path, "learning_rate"), "learning_rate",
                "Value error, could not convert string to float: 'fast'"),
        Problem(CONFIG, line_containing(path, "- path"), "datasets[0].path", "Input should be a valid string"),
        Problem(CONFIG, line_containing(path, "- path"), "datasets[0].path", "a local JSONL path is required"),
    ]


# --- haha rules --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "key", "message"), [
    ({"wandb_name": "my-run"}, "wandb_name",
     "leave blank: the pipeline names the W&B run after the config's basename"),
    ({"wandb_project": "jokes"}, "wandb_project", "must be 'haha' (the repo setting), got 'jokes'"),
    ({"chat_template": "llama3"}, "chat_template", "must be one of the repo's chat templates ([tool.haha] "
                                                   "chat_templates: chatml), got 'llama3'; a repo that trains with "
                                                   "others names them there"),
    ({"adapter": "llama-adapter"}, "adapter", "must be one of lora, qlora, got 'llama-adapter'"),
])
def test_haha_rules(haha_repo: Path, changes: dict[str, str], key: str, message: str) -> None:
    path = edit_config(haha_repo, **changes)
    assert errors(run(haha_repo).problems) == [Problem(CONFIG, line_containing(path, f"{key}:"), key, message)]


def test_missing_haha_keys_are_errors_too(haha_repo: Path) -> None:
    edit_config(haha_repo, drop=("chat_template", "adapter", "wandb_project"))
    assert [(p.key, p.line, p.message) for p in errors(run(haha_repo).problems)] == [
        ("wandb_project", None, "must be 'haha' (the repo setting), got None"),
        ("chat_template", None, "must be one of the repo's chat templates ([tool.haha] chat_templates: chatml), "
                                "none set; a repo that trains with others names them there"),
        ("adapter", None, "must be one of lora, qlora, got None"),
    ]


def test_the_wandb_project_setting_comes_from_the_repo(haha_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAHA_WANDB_PROJECT", "jokes")
    assert [p.message for p in errors(run(haha_repo).problems)] == [
        "must be 'jokes' (the repo setting), got 'haha'"]


# --- safety ------------------------------------------------------------------------------------------------


def safety_errors(root: Path, **changes: Any) -> list[tuple[str, str]]:
    edit_config(root, **changes)
    return [(p.key, p.message) for p in errors(run(root).problems)]


def test_plugins_are_refused_unless_allow_listed(haha_repo: Path) -> None:
    assert safety_errors(haha_repo, plugins=["allowed_pkg.AllowedPlugin", "evil.Plugin"]) == [
        ("plugins[1]", "plugin 'evil.Plugin' imports arbitrary code and is not in [tool.haha] allowed_plugins")]
    assert safety_errors(haha_repo, plugins="evil.Plugin") == [
        ("plugins", "Input should be a valid list"),
        ("plugins", "plugin 'evil.Plugin' imports arbitrary code and is not in [tool.haha] allowed_plugins")]


TRUSTED = "trusted-org/remote-model"
PINNED = "0123456789abcdef0123456789abcdef01234567"


def test_remote_code_needs_an_allow_listed_model(haha_repo: Path) -> None:
    assert safety_errors(haha_repo, trust_remote_code=True) == [
        ("trust_remote_code", "runs code from the Hub; 'haha-test/not-a-real-model' is not in [tool.haha] "
                              "trust_remote_code_models")]


def test_remote_code_needs_the_pinned_revision(haha_repo: Path) -> None:
    message = f"'{TRUSTED}' may run remote code only at its pinned revision: set revision_of_model: {PINNED}"
    assert safety_errors(haha_repo, trust_remote_code=True, base_model=TRUSTED) == [("trust_remote_code", message)]
    assert safety_errors(haha_repo, revision_of_model="main") == [("trust_remote_code", message)]
    assert safety_errors(haha_repo, revision_of_model=PINNED) == []


def test_remote_code_may_not_load_the_tokenizer_from_elsewhere(haha_repo: Path) -> None:
    assert safety_errors(haha_repo, trust_remote_code=True, base_model=TRUSTED, revision_of_model=PINNED,
                         tokenizer_config="evil/tokenizer") == [
        ("tokenizer_config", f"with trust_remote_code it must be unset or '{TRUSTED}', the allow-listed model")]


def test_model_urls_are_refused(haha_repo: Path) -> None:
    assert safety_errors(haha_repo, base_model="https://example.com/model") == [
        ("base_model", "URLs are refused: name a Hub repo id or a local path")]


def test_remote_config_targets_are_refused(haha_repo: Path) -> None:
    report = run(haha_repo, "https://example.com/jokes-001.yml")
    assert report.problems == [Problem("https://example.com/jokes-001.yml", None, "config",
                                       "remote (URL) configs are refused; add the file to train/config")]


OUTSIDE_DATA = ("'{}' is outside train/data; name data as /workspace/data/<file> with the file in train/data")


@pytest.mark.parametrize(("path", "message"), [
    ("/workspace/data/../../etc/passwd", OUTSIDE_DATA.format("/workspace/data/../../etc/passwd")),
    ("/etc/passwd", OUTSIDE_DATA.format("/etc/passwd")),
    ("../secrets.jsonl", OUTSIDE_DATA.format("../secrets.jsonl")),
    ("https://example.com/jokes.jsonl",
     "URLs are refused: put the file in train/data and name it /workspace/data/<file>"),
])
def test_dataset_paths_must_stay_in_train_data(haha_repo: Path, path: str, message: str) -> None:
    assert safety_errors(haha_repo, datasets=[{"path": path, "type": "alpaca"}]) == [("datasets[0].path", message)]


def test_a_hub_dataset_must_be_pinned_to_a_commit(haha_repo: Path) -> None:
    [(key, message)] = safety_errors(haha_repo, datasets=[{"path": "tatsu-lab/alpaca", "type": "alpaca"}])
    assert key == "datasets[0].revision"
    assert message.startswith("the Hub dataset 'tatsu-lab/alpaca' must be pinned to a full commit id (no revision): "
                              "add `revision: <40-hex commit>`")
    [(_, moving)] = safety_errors(haha_repo, datasets=[{"path": "tatsu-lab/alpaca", "type": "alpaca",
                                                        "revision": "main"}])
    assert "(revision 'main', which can move)" in moving
    assert safety_errors(haha_repo, datasets=[{"path": "tatsu-lab/alpaca", "type": "alpaca", "revision": "a" * 40,
                                               "data_files": ["data/train.jsonl"]}]) == []
    assert safety_errors(haha_repo, datasets=[{"path": "tatsu-lab/alpaca", "type": "alpaca", "revision": "a" * 40,
                                               "data_files": ["../../etc/passwd"]}]) == [
        ("datasets[0].data_files", "'../../etc/passwd' is not a file name inside the dataset repo")]


def test_a_symlink_out_of_train_data_is_refused(haha_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text(json.dumps({"instruction": "secret", "output": "secret"}) + "\n")
    (haha_repo / "train" / "data" / "link.jsonl").symlink_to(outside)
    assert safety_errors(haha_repo, datasets=[{"path": "/workspace/data/link.jsonl", "type": "alpaca"}]) == [
        ("datasets[0].path", OUTSIDE_DATA.format("/workspace/data/link.jsonl"))]


def test_the_repo_relative_data_path_is_accepted(haha_repo: Path) -> None:
    assert safety_errors(haha_repo, datasets=[{"path": "train/data/jokes.jsonl", "type": "alpaca"}]) == []


def test_test_datasets_data_files_and_dataset_scripts_are_checked_too(haha_repo: Path) -> None:
    assert safety_errors(haha_repo, test_datasets=[{"path": "/etc/passwd", "type": "alpaca", "split": "train"}],
                         datasets=[{"path": "/workspace/data/jokes.jsonl", "type": "alpaca",
                                    "data_files": ["/etc/shadow"], "trust_remote_code": True}]) == [
        ("datasets[0].data_files", "refused for a file in train/data: name the file itself in path (data_files "
                                   "picks files inside a Hub dataset)"),
        ("test_datasets[0].path", OUTSIDE_DATA.format("/etc/passwd")),
        ("datasets[0].trust_remote_code", "refused wherever it appears: it makes transformers or datasets run Python "
                                          "from a repo (a model's modelling code, a dataset's loading script)"),
    ]


@pytest.mark.parametrize("key", ["output_dir", "dataset_prepared_path", "deepspeed", "lora_model_dir",
                                 "resume_from_checkpoint"])
@pytest.mark.parametrize("value", ["/etc/out", "../../out", "./out/../../out", "s3://bucket/out", "/"])
def test_work_paths_must_stay_in_the_workspace(haha_repo: Path, key: str, value: str) -> None:
    edit_config(haha_repo, **{key: value})
    outside = [(p.key, p.message) for p in errors(run(haha_repo).problems) if p.key == key]
    assert (key, f"'{value}' points outside the workspace") in outside


@pytest.mark.parametrize("value", ["./outputs/lora-out", "outputs", "/workspace/outputs/run", "..hidden/out"])
def test_work_paths_inside_the_workspace_are_fine(value: str) -> None:
    assert in_workspace(value, Settings(root=Path("/repo")))


# --- datasets ----------------------------------------------------------------------------------------------


def test_a_missing_dataset_file(haha_repo: Path) -> None:
    (haha_repo / DATA).unlink()
    assert not_notes(run(haha_repo)) == [Problem(CONFIG, line_containing(config_path(haha_repo), "- path"),
                                                 "datasets[0].path", f"dataset {DATA} does not exist")]


def test_broken_rows_are_reported_at_their_line_in_the_dataset(haha_repo: Path) -> None:
    data = haha_repo / DATA
    good = json.dumps({"instruction": "a", "input": "", "output": "b"})
    data.write_text("\n".join([good, "", '{"instruction": "a", "output": ', '["a list"]',
                               json.dumps({"input": "", "output": "no instruction"}),
                               json.dumps({"instruction": "empty output", "output": "  "}),
                               json.dumps({"instruction": "no output"})]) + "\n")
    # Axolotl's user_defined strategy is the judge of the rows that parse: it needs the instruction, takes a missing
    # output as empty (here nothing is left to train, so Axolotl drops the row: a warning) and an output of spaces as
    # an answer.
    problems = run(haha_repo).problems
    assert [(p.file, p.line, p.key, p.message) for p in errors(problems)] == [
        (DATA, 3, "row", "not JSON (Expecting value at column 32)"),
        (DATA, 4, "row", "expected a JSON object, got list"),
        (DATA, 5, "instruction", "missing field 'instruction': Axolotl's user_defined strategy reads it"),
    ]
    warned = [(p.file, p.line, p.key, p.message) for p in problems]
    assert (DATA, 7, "rows", "1 of 4 rows have no trainable token (the first is here); Axolotl drops them (check "
                             "roles_to_train and the answers)") in warned


def test_rows_are_checked_against_the_fields_the_type_names(haha_repo: Path) -> None:
    path = config_path(haha_repo)
    path.write_text(path.read_text().replace("field_instruction: instruction", "field_instruction: setup")
                    .replace("field_output: output", "field_output: punchline"))
    write_rows(haha_repo, [{"setup": "A horse walks into a bar.", "punchline": "Why the long face?"},
                           {"instruction": "old field names", "output": "x"}])
    assert [(p.line, p.key, p.message) for p in errors(run(haha_repo).problems)] == [
        (2, "setup", "missing field 'setup': Axolotl's user_defined strategy reads it")]


def test_duplicate_rows_are_counted(haha_repo: Path) -> None:
    row = {"instruction": "Same joke.", "input": "", "output": "Same punchline."}
    write_rows(haha_repo, [row, row, {"instruction": "Other.", "output": "x"}, row])
    report = run(haha_repo)
    assert not_notes(report) == [Problem(DATA, None, "rows", "2 duplicate rows", "warning")]
    assert report.to_json()["datasets"] == [
        {"config": "jokes-001.yml", "file": DATA, "rows": 4, "duplicates": 2, "too_long": None,
         "length_check": NOT_ON_DISK}]


def test_a_dataset_shared_by_configs_reports_its_problems_once(haha_repo: Path) -> None:
    (haha_repo / "train/config/jokes-002.yml").write_text(config_path(haha_repo).read_text())
    (haha_repo / DATA).write_text("not json\n")
    assert [(p.file, p.line) for p in errors(run(haha_repo).problems)] == [(DATA, 1)]


def test_an_edited_dataset_is_read_again(haha_repo: Path) -> None:
    assert errors(run(haha_repo).problems) == []
    (haha_repo / DATA).write_text((haha_repo / DATA).read_text() + "{broken\n")
    assert [(p.file, p.line) for p in errors(run(haha_repo).problems)] == [(DATA, 4)]


# --- lengths, with a tokenizer built here ------------------------------------------------------------------

LONG_OUTPUT = "qzx " * 400  # words the tokenizer never saw: hundreds of tokens


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level BPE tokenizer trained on a few lines and saved like a Hub model's (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<|im_start|>", "<|im_end|>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(["<|im_start|>user\nMy cat learned to type.<|im_end|>",
                                   "<|im_start|>assistant\nNow she sends me paw-sitive feedback."], trainer)
    out = tmp_path_factory.mktemp("tokenizer")
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", eos_token="</s>").save_pretrained(out)
    # A model folder describes its architecture too: Axolotl's load checks read config.json, never weights.
    LlamaConfig(vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=1).save_pretrained(out)
    return out


@pytest.fixture
def local_model(haha_repo: Path, tiny_tokenizer: Path) -> Path:
    """The tiny tokenizer's folder as a local base model: outside the repo, so its parent goes in model_dirs."""
    pyproject = haha_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'model_dirs = ["{tiny_tokenizer.parent}"]\n')
    return tiny_tokenizer


def short_and_long(short: int, long: int) -> list[dict[str, str]]:
    return ([{"instruction": f"Joke {n}.", "input": "", "output": "Short."} for n in range(short)]
            + [{"instruction": f"Long {n}.", "input": "", "output": LONG_OUTPUT} for n in range(long)])


def test_rows_longer_than_sequence_len_are_counted(haha_repo: Path, local_model: Path) -> None:
    path = edit_config(haha_repo, base_model=str(local_model), sequence_len=128)
    write_rows(haha_repo, short_and_long(3, 2))
    report = run(haha_repo)
    [problem] = report.problems
    assert (problem.line, problem.key, problem.severity) == (line_containing(path, "sequence_len"), "sequence_len",
                                                             "note")  # under half dropped: worth knowing, no more
    match = re.fullmatch(rf"2 of 5 rows \(40 %\) of {DATA} are longer than sequence_len 128 and will be dropped; "
                         rf"sequence_len (\d+) keeps 99 % of rows \(tokenized with {local_model} \(local folder\)\)",
                         problem.message)
    assert match, problem.message
    assert report.configs[0].datasets[0].too_long == 2
    # The suggestion is the smallest sequence_len that drops nothing of these five rows.
    keeps_all = int(match[1])
    edit_config(haha_repo, sequence_len=keeps_all)
    assert run(haha_repo).problems == []
    edit_config(haha_repo, sequence_len=keeps_all - 1)
    assert run(haha_repo).configs[0].datasets[0].too_long == 2


def test_more_than_half_dropped_is_a_warning(haha_repo: Path, local_model: Path) -> None:
    edit_config(haha_repo, base_model=str(local_model), sequence_len=128)
    write_rows(haha_repo, short_and_long(1, 2))
    [problem] = run(haha_repo).problems
    assert problem.severity == "warning"
    assert problem.message.startswith(f"2 of 3 rows (67 %) of {DATA} are longer than sequence_len 128")


def test_all_rows_too_long_is_an_error(haha_repo: Path, local_model: Path) -> None:
    path = edit_config(haha_repo, base_model=str(local_model), sequence_len=128)
    write_rows(haha_repo, short_and_long(0, 3))
    [problem] = run(haha_repo).problems
    assert (problem.line, problem.key, problem.severity) == (line_containing(path, "sequence_len"), "sequence_len",
                                                             "error")
    assert problem.message.startswith(f"3 of 3 rows (100 %) of {DATA} are longer than sequence_len 128: Axolotl "
                                      "would drop every row and training would die with num_samples=0; sequence_len ")


def test_excess_length_strategy_changes_the_verdict(haha_repo: Path, local_model: Path) -> None:
    write_rows(haha_repo, short_and_long(1, 1))
    edit_config(haha_repo, base_model=str(local_model), sequence_len=128, excess_length_strategy="truncate")
    counted = f"1 of 2 rows (50 %) of {DATA} are longer than sequence_len 128"
    [(severity, message)] = [(p.severity, p.message) for p in run(haha_repo).problems]
    assert (severity, message.startswith(f"{counted}; Axolotl will truncate them; sequence_len ")) == ("note", True)
    edit_config(haha_repo, excess_length_strategy="raise")
    [(severity, message)] = [(p.severity, p.message) for p in run(haha_repo).problems]
    assert (severity, message.startswith(f"{counted}; excess_length_strategy: raise stops training")) == (
        "error", True)


def test_a_long_enough_sequence_len_drops_nothing(haha_repo: Path, local_model: Path) -> None:
    edit_config(haha_repo, base_model=str(local_model), sequence_len=4096)
    write_rows(haha_repo, short_and_long(2, 2))
    report = run(haha_repo)
    assert report.problems == []
    assert report.configs[0].datasets[0].too_long == 0


def test_the_length_check_is_skipped_with_a_reason(haha_repo: Path) -> None:
    line = line_containing(config_path(haha_repo), "- path")
    edit_config(haha_repo, base_model="nobody/no-such-model")
    assert run(haha_repo).problems == [Problem(
        CONFIG, line, "datasets[0].path", "length check and Axolotl's model-load checks skipped: "
        "'nobody/no-such-model' is not in the HF cache and HF_HUB_OFFLINE is set; rows checked with the embedded "
        "model's tokenizer", "note")]
    (haha_repo / DATA).write_text("{broken\n")
    assert [p.message for p in run(haha_repo).problems if p.severity == "note"] == [
        "rows not run through Axolotl's strategy: fix the file first"]


def test_smoke_runs_do_not_count_lengths(haha_repo: Path) -> None:
    assert run(haha_repo, count_lengths=False).problems == []


# --- naming inside validate --------------------------------------------------------------------------------


def test_names_are_checked_across_the_family_of_the_targets_only(haha_repo: Path) -> None:
    config_dir = haha_repo / "train" / "config"
    text = config_path(haha_repo).read_text()
    (config_dir / "jokes-003.yml").write_text(text.replace("lora_r: 8", "lora_r: 16"))
    (config_dir / "other-7.yml").write_text(text.replace("lora_r: 8", "lora_r: 32"))
    report = run(haha_repo, str(config_dir / "jokes-003.yml"))
    assert [(p.file, p.message, p.severity) for p in report.other] == [
        (CONFIG, "family 'jokes' skips 002; numbers should be consecutive", "warning")]
    report = run(haha_repo)
    assert [(p.file, p.severity) for p in report.other] == [("train/config/other-7.yml", "error"),
                                                            (CONFIG, "warning")]


def test_configs_equal_once_parsed_are_a_warning_naming_both(haha_repo: Path) -> None:
    text = config_path(haha_repo).read_text()
    reworded = "# the same run, commented and quoted differently\n" + text.replace("lora_r: 8", 'lora_r: "8"'.replace(
        '"8"', "8  # rank")).replace("adapter: lora", "adapter: 'lora'")
    (haha_repo / "train/config/jokes-002.yml").write_text(reworded)
    (haha_repo / "train/config/jokes-003.yml").write_text(text.replace("lora_r: 8", "lora_r: 16"))
    report = run(haha_repo)
    assert [(p.file, p.message, p.severity) for p in report.other] == [
        ("train/config/jokes-002.yml", f"the same experiment as {CONFIG} once parsed (only comments or formatting "
         "differ): it would train the same model twice", "warning")]


def test_misnamed_configs_are_still_validated(haha_repo: Path) -> None:
    config_path(haha_repo).rename(haha_repo / "train/config/jokes-001.yml.yaml")
    edit_file = haha_repo / "train/config/jokes-001.yml.yaml"
    edit_file.write_text(edit_file.read_text().replace("chat_template: chatml", "chat_template: llama3"))
    assert [(p.file, p.key) for p in errors(run(haha_repo).problems)] == [
        ("train/config/jokes-001.yml.yaml", "filename"), ("train/config/jokes-001.yml.yaml", "chat_template")]


@pytest.mark.parametrize("key", ["hub_model_id", "push_dataset_to_hub"])
def test_axolotl_pushing_to_the_hub_by_itself_is_refused(haha_repo: Path, key: str) -> None:
    path = edit_config(haha_repo, **{key: "someone/elsewhere"})
    problems = [p for p in not_notes(run(haha_repo)) if p.key == key and "Require cfg" not in p.message]
    assert [(p.line, p.severity) for p in problems] == [(line_containing(path, f"{key}:"), "error")]
    assert "push to the Hub on its own" in problems[0].message


def test_validation_never_switches_the_process_to_offline_mode(haha_repo: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`haha run` validates, then publishes to and downloads from the Hub in the same process."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    run(haha_repo)
    assert "HF_HUB_OFFLINE" not in os.environ


def test_pretraining_datasets_follow_the_dataset_path_rules(haha_repo: Path) -> None:
    edit_config(haha_repo, pretraining_dataset=[{"path": "/etc/passwd"}])
    assert any(p.key == "pretraining_dataset[0].path" and "outside train/data" in p.message
               for p in not_notes(run(haha_repo)))
    edit_config(haha_repo, pretraining_dataset="someone/web-scrape")
    assert any(p.key == "pretraining_dataset" and "fetched from the Hub" in p.message
               for p in not_notes(run(haha_repo)))


def first_fit(lengths: list[int], capacity: int) -> list[int]:
    """Bins filled first-fit in row order: the packing Axolotl's multipack sampler does within one group."""
    bins: list[int] = []
    for length in lengths:
        free = next((i for i, used in enumerate(bins) if used + length <= capacity), None)
        if free is None:
            bins.append(length)
        else:
            bins[free] += length
    return bins


def test_sample_packing_reports_the_packed_share_of_token_slots(haha_repo: Path, local_model: Path) -> None:
    path = edit_config(haha_repo, base_model=str(local_model), sequence_len=128, sample_packing=True,
                       micro_batch_size=1, attn_implementation="sdpa")
    write_rows(haha_repo, short_and_long(30, 1))
    report = run(haha_repo)
    lengths = report.configs[0].datasets[0].lengths
    assert lengths is not None and len(lengths.kept) == 30  # the long row is dropped, so it is not packed
    bins = first_fit(list(lengths.kept), 128)
    [packing] = [p for p in report.problems if p.key == "sample_packing"]
    assert (packing.line, packing.severity) == (line_containing(path, "sample_packing"), "note")
    share = round(sum(lengths.kept) / (len(bins) * 128) * 100)
    assert len(bins) > 1
    assert packing.message == (f"30 rows pack into {len(bins)} micro-batches of 128 tokens: {share} % of the token "
                               "slots filled (Axolotl's multipack sampler over the rows' tokenized lengths)")


def test_packing_rules_are_axolotls(haha_repo: Path) -> None:
    path = edit_config(haha_repo, sample_packing=True, eval_table_size=5)
    [problem] = [p for p in run(haha_repo, count_lengths=False).problems if p.severity == "error"]
    assert problem.message == ("Value error, eval_table_size and eval_sample_packing are not supported together with "
                               "sample_packing. Please set 'eval_sample_packing' to false.")
    assert problem.line in (line_containing(path, "sample_packing"), line_containing(path, "eval_table_size"), None)


PROMPT_COMPLETION = {"field_instruction": "prompt", "field_output": "completion", "format": "{instruction}",
                     "no_input_format": "{instruction}"}


@pytest.mark.parametrize(("name", "dataset", "text"), [
    ("puns.jsonl", {"type": PROMPT_COMPLETION},
     "".join(json.dumps({"prompt": f"Write a pun about {topic}.\n\n###\n\n", "completion": f" {pun}\n"}) + "\n"
             for topic, pun in (("cats", "Short."), ("dogs", "Short."), ("bees", LONG_OUTPUT)))),
    ("segments.jsonl", {"type": "input_output"},
     "".join(json.dumps({"segments": [{"label": False, "text": "Q: why? "}, {"label": True, "text": answer}]}) + "\n"
             for answer in ("Because.", "No idea.", LONG_OUTPUT))),
    ("qa.csv", {"ds_type": "csv", "type": {**PROMPT_COMPLETION, "field_instruction": "question",
                                           "field_output": "answer"}},
     f"question,answer\nWhy?,Because.\nWho?,Me.\nWhat?,{LONG_OUTPUT}\n"),
])
def test_each_row_format_has_its_lengths_counted(haha_repo: Path, local_model: Path, name: str, dataset: dict,
                                                 text: str) -> None:
    (haha_repo / "train" / "data" / name).write_text(text)
    edit_config(haha_repo, base_model=str(local_model), sequence_len=128,
                datasets=[{"path": f"/workspace/data/{name}", **dataset}])
    report = run(haha_repo)
    [stats] = report.configs[0].datasets
    assert (stats.rows, stats.too_long) == (3, 1), report.problems
    [problem] = [p for p in report.problems if p.key == "sequence_len"]
    assert problem.message.startswith(f"1 of 3 rows (33 %) of train/data/{name} are longer than sequence_len 128")


def test_long_raw_text_is_split_into_sequence_len_pieces_not_dropped(haha_repo: Path, local_model: Path) -> None:
    """Axolotl's completion strategy cuts each row into sequence_len chunks: no raw-text row is too long."""
    (haha_repo / "train" / "data" / "raw.jsonl").write_text(
        "".join(json.dumps({"text": text}) + "\n" for text in ("A pun.", "Another pun.", LONG_OUTPUT)))
    edit_config(haha_repo, base_model=str(local_model), sequence_len=128,
                datasets=[{"path": "/workspace/data/raw.jsonl", "type": "completion"}])
    report = run(haha_repo)
    [stats] = report.configs[0].datasets
    assert (stats.rows, stats.too_long) == (3, 0), report.problems
