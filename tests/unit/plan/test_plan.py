"""`haha plan`: runner classes chosen by rules, waves for configs that need others, GitHub's job limit, and the
multi-GPU launch and cost each job records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.core.runner_settings import RunnerClass, RunnerRule, RunnerSettings
from pipeline.core.runs import RunCost
from pipeline.core.settings import SettingsError, load_settings
from pipeline.orchestration.validation import validate
from pipeline.plan.matrix import MAX_WAVES, make_plan, waves_of
from pipeline.plan.runners import params_in_billions, runner_for
from pipeline.train.axolotl import Launch
from tests.support.repo_edits import errors_and_warnings, key_line, set_keys

RUNNERS = RunnerSettings(
    default="gpu", max_parallel=3,
    classes={"gpu": RunnerClass(labels=["gpu"]), "a100": RunnerClass(labels=["gpu", "a100-80g"], gpus=2),
             "h100x8": RunnerClass(labels=["gpu", "8xh100"], gpus=8, launcher="torchrun")},
    rules=[RunnerRule(use="h100x8", min_params_b=30), RunnerRule(use="a100", load_in="16bit", min_params_b=7),
           RunnerRule(use="a100", configs=["big-*"])])


@pytest.mark.parametrize(("model", "size"), [
    ("meta-llama/Meta-Llama-3-8B", 8.0), ("meta-llama/Meta-Llama-3-70B-Instruct", 70.0),
    ("NousResearch/Llama-2-70b-hf", 70.0), ("mistralai/Mixtral-8x7B-v0.1", 56.0),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", 0.135), ("Qwen/Qwen2.5-1.5B", 1.5), ("gpt2", None),
    ("Qwen/Qwen2.5-7B-Instruct-1M", 7.0),  # the largest size named: 1M is the context
])
def test_the_size_a_model_name_states(model: str, size: float | None) -> None:
    assert params_in_billions(model) == size


@pytest.mark.parametrize(("config", "chosen"), [
    ({"base_model": "meta-llama/Meta-Llama-3-70B", "load_in_4bit": True}, ("h100x8", "rule 1")),
    ({"base_model": "meta-llama/Meta-Llama-3-8B"}, ("a100", "rule 2")),  # 16-bit 8B
    ({"base_model": "meta-llama/Meta-Llama-3-8B", "load_in_8bit": True}, ("gpu", "default")),
    ({"base_model": "gpt2"}, ("gpu", "default")),  # no size in the name: no size rule matches
    ({"base_model": "meta-llama/Meta-Llama-3-70B", "haha_runner": "gpu"}, ("gpu", "haha_runner")),
])
def test_haha_runner_then_the_first_matching_rule_then_the_default(config: dict, chosen: tuple[str, str]) -> None:
    assignment = runner_for("jokes-001", config, RUNNERS)
    assert (assignment.name, assignment.why) == chosen
    assert assignment.runs_on == ["self-hosted", *RUNNERS.classes[chosen[0]].labels]
    assert runner_for("big-001", {"base_model": "gpt2"}, RUNNERS).name == "a100"  # by glob


def test_runner_settings_are_checked_when_read(haha_repo: Path) -> None:
    pyproject = haha_repo / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text + '[tool.haha.runners]\ndefault = "gpu"\n[[tool.haha.runners.rules]]\nuse = "huge"\n')
    with pytest.raises(SettingsError, match=r"runners: no runner class huge in \[tool.haha.runners.classes\] "
                                            r"\(it has: gpu\)"):
        load_settings(haha_repo)
    for table, message in (
        ('[tool.haha.runners.classes.gpu]\nlabels = ["self-hosted"]\n', "not self-hosted, which every job gets"),
        ('[tool.haha.runners.classes.gpu]\nlabels = ["gpu\\n"]\n', "not self-hosted, which every job gets"),
        ('[tool.haha.runners]\nmax_parallel = true\n', "runners.max_parallel: Input should be a valid integer"),
        ('[tool.haha.runners.classes.gpu]\nlabels = ["gpu"]\ngpus = "8"\n', "Input should be a valid integer"),
        ('[tool.haha.runners]\n[[tool.haha.runners.rules]]\nuse = "gpu"\nmin_params_b = 30\nmax_params_b = 1\n',
         "min_params_b 30 is above max_params_b 1: the rule matches no config"),
        ('[tool.haha.runners.classes.big]\nlabels = ["gpu", "8xh100"]\n',
         r"no runner class gpu in \[tool.haha.runners.classes\] \(it has: big\); default is 'gpu' unless set"),
    ):
        pyproject.write_text(text + table)
        with pytest.raises(SettingsError, match=message):
            load_settings(haha_repo)


NEEDS = {"haha-lora-001": ["haha-reward-001"], "haha-dpo-001": ["haha-lora-001", "haha-reward-001"]}


def plan_of(names: list[str], needs: dict[str, list[str]] = NEEDS, max_jobs: int = 256) -> object:
    rows = [(name, f"train/config/{name}.yml", "no results") for name in names]
    return make_plan(rows, needs, lambda name: runner_for(name, {}, RUNNERS), RUNNERS.max_parallel, max_jobs)


def test_a_config_runs_a_wave_after_what_it_needs() -> None:
    plan = plan_of(["haha-reward-001", "puns-001", "haha-lora-001", "haha-dpo-001"])
    assert [[e.config for e in wave] for wave in plan.waves] == [["haha-reward-001", "puns-001"], ["haha-lora-001"],
                                                                 ["haha-dpo-001"]]
    assert plan.waves[2][0].after == ["haha-lora-001", "haha-reward-001"]
    outputs = plan.github_outputs()
    assert [json.loads(outputs[f"wave{n}"])[0]["wave"] for n in range(3)] == [0, 1, 2]
    assert (outputs["max_parallel"], outputs["configs"]) == ("3", "4")


def test_needs_that_already_ran_do_not_delay_a_config() -> None:
    plan = plan_of(["haha-dpo-001"])
    assert [[e.config for e in wave] for wave in plan.waves] == [["haha-dpo-001"]]
    assert plan.waves[0][0].after == []
    assert json.loads(plan.github_outputs()["wave2"]) == []  # every wave is an output, empty or not


def test_loops_and_chains_deeper_than_the_waves_are_left_out_without_holding_back_the_rest() -> None:
    assert waves_of(["a-001", "b-001", "c-001"], {"a-001": ["b-001"], "b-001": ["a-001"]}) == {"c-001": 0}
    assert waves_of(["a-001"], {"a-001": ["a-001"]}) == {}
    chain = {f"c-00{n}": [f"c-00{n - 1}"] for n in range(2, MAX_WAVES + 3)}
    plan = plan_of(["puns-001", *(f"c-00{n}" for n in range(1, MAX_WAVES + 3))], chain)
    assert [[e.config for e in wave] for wave in plan.waves] == [["puns-001", "c-001"], ["c-002"], ["c-003"]]
    deeper = f"loop back to it or chain deeper than the {MAX_WAVES} waves a run has; haha validate says which"
    assert [(d.config, d.why) for d in plan.deferred] == [("c-004", f"its needs (c-003) {deeper}"),
                                                          ("c-005", f"its needs (c-004) {deeper}")]


def test_a_wave_over_githubs_job_limit_defers_the_rest_and_their_children() -> None:
    plan = plan_of(["haha-reward-001", "a-001", "b-001", "haha-lora-001"], max_jobs=2)
    assert [[e.config for e in wave] for wave in plan.waves] == [["haha-reward-001", "a-001"], ["haha-lora-001"]]
    assert [(d.config, d.why) for d in plan.deferred] == [("b-001", "wave 0 holds 2 jobs, GitHub's matrix limit")]
    plan = plan_of(["a-001", "haha-reward-001", "haha-lora-001"], max_jobs=1)
    assert [d.config for d in plan.deferred] == ["haha-reward-001", "haha-lora-001"]  # its reward model waits


def test_the_plan_of_the_repo_lists_what_haha_pending_lists(haha_repo: Path) -> None:
    from pipeline.orchestration.planning import plan_pending

    plan = plan_pending(load_settings(haha_repo))
    assert [e.config for e in plan.entries] == ["jokes-001"]
    assert plan.entries[0].model_dump() == {
        "config": "jokes-001", "path": "train/config/jokes-001.yml", "reason": "no results", "runner": "gpu",
        "runs_on": ["self-hosted", "gpu"], "gpus": 1, "launcher": None, "after": [], "wave": 0, "force": False}


@pytest.mark.parametrize(("launch", "args"), [
    (Launch(), ["--launcher", "python"]),
    (Launch("accelerate", 1), ["--launcher", "python"]),
    (Launch("accelerate", 8), ["--launcher", "accelerate", "--", "--num_processes", "8"]),
    (Launch("torchrun", 4), ["--launcher", "torchrun", "--", "--nproc_per_node", "4"]),
])
def test_axolotl_starts_one_process_per_gpu_through_its_launcher(launch: Launch, args: list[str]) -> None:
    assert launch.args() == args


def test_cost_counts_every_training_gpu_and_one_for_the_eval() -> None:
    cost = RunCost(gpu_type="NVIDIA H100 80GB HBM3", gpus=8, train_seconds=900.0, eval_seconds=360.0)
    assert cost.gpu_seconds == 8 * 900 + 360
    assert cost.describe() == "8 x NVIDIA H100 80GB HBM3, 2.10 GPU-h"
    assert RunCost(train_seconds=50.0, eval_seconds=20.0).gpu_seconds == 0
    assert RunCost().describe() == "CPU"
    assert json.loads(cost.model_dump_json())["gpu_seconds"] == 7560.0  # written into results meta.cost


def test_haha_runner_must_name_a_class_and_is_stripped_for_axolotl(haha_repo: Path) -> None:
    path = set_keys(haha_repo, haha_runner="h100x8")
    assert errors_and_warnings(haha_repo) == [(key_line(path, "haha_runner"), "haha_runner", "error",
                                    "must name a runner class of [tool.haha.runners.classes] (gpu), got 'h100x8'")]
    set_keys(haha_repo, haha_runner="gpu")
    assert errors_and_warnings(haha_repo) == []
    from pipeline.config.effective import RunPlan, effective_config
    from pipeline.formats.tracking import WandbMode

    settings = load_settings(haha_repo)
    plan = RunPlan(haha_repo / "a", haha_repo / "p", settings.data_dir, WandbMode.DISABLED)
    effective, overrides = effective_config(yaml.safe_load(path.read_text()), "jokes-001", settings, plan)
    assert "haha_runner" not in effective
    assert "haha_runner: 'gpu' -> None (read by haha, not Axolotl)" in [str(o) for o in overrides]


def test_deepspeed_names_an_axolotl_config_or_a_file_in_the_repo(haha_repo: Path) -> None:
    path = set_keys(haha_repo, deepspeed="deepspeed_configs/zero2.json")
    line = key_line(path, "deepspeed")
    one_gpu = (line, "deepspeed", "warning", "shards the run over GPUs, but its runner class 'gpu' (default) has 1 "
                                             "GPU: set haha_runner, or a [tool.haha.runners] rule, to a class with "
                                             "several")
    assert errors_and_warnings(haha_repo) == [one_gpu]
    (haha_repo / "train" / "zero.json").write_text('{"zero_optimization": {"stage": 3}}')
    set_keys(haha_repo, deepspeed="train/zero.json")
    assert errors_and_warnings(haha_repo) == [one_gpu]
    for value in ("deepspeed_configs/zero4.json", "train/missing.json"):
        set_keys(haha_repo, deepspeed=value)
        [(found_line, key, severity, message), _] = errors_and_warnings(haha_repo)
        assert (found_line, key, severity) == (line, "deepspeed", "error")
        assert message.startswith("must be one of Axolotl's own configs (deepspeed_configs/zero1.json, ") and \
            message.endswith(f"or a JSON file inside the repo; got {value!r}")


def test_sharding_rules_axolotl_leaves_to_the_launch(haha_repo: Path) -> None:
    path = set_keys(haha_repo, deepspeed="deepspeed_configs/zero3_bf16.json", load_in_8bit=True,
                        fsdp_config={"fsdp_version": 2})
    found = [(line, key, message.split(":")[0]) for line, key, severity, message in errors_and_warnings(haha_repo)
             if severity == "error"]
    assert (key_line(path, "deepspeed"), "deepspeed", "DeepSpeed and FSDP both shard the run") in found
    zero3 = "ZeRO-3 partitions every weight across GPUs, and bitsandbytes' 8-bit weights cannot be partitioned"
    assert (key_line(path, "load_in_8bit"), "load_in_8bit", zero3) in found


@pytest.mark.parametrize("value", [{"zero_optimization": 3}, {"zero_optimization": [1]}, {"zero_optimization": "x"}])
def test_an_odd_inline_deepspeed_mapping_is_judged_not_crashed_on(haha_repo: Path, value: dict) -> None:
    path = set_keys(haha_repo, deepspeed=value)
    assert (key_line(path, "deepspeed") + 1, "deepspeed.zero_optimization", "error") in [
        (line, key, severity) for line, key, severity, _ in errors_and_warnings(haha_repo)]


HOSTILE_DEEPSPEED = [
    ({"zero_optimization": {"stage": 3, "offload_optimizer": {"device": "nvme", "nvme_path": "/home/runner/.ssh"}}},
     {"deepspeed.zero_optimization.offload_optimizer.device": "must be one of 'cpu', 'none', got 'nvme'",
      "deepspeed.zero_optimization.offload_optimizer.nvme_path": "refused: this key offloads to NVMe"}),
    ({"zero_optimization": {"stage": 2}, "flops_profiler": {"enabled": True, "output_file": "/home/runner/.bashrc"}},
     {"deepspeed.flops_profiler": "refused: this key writes its report to the file it names"}),
    ({"zero_optimization": {"stage": 2}, "csv_monitor": {"enabled": True, "output_path": "/etc/cron.d/"}},
     {"deepspeed.csv_monitor": "refused: this key writes CSV files to the path it names"}),
    ({"zero_optimization": {"stage": 2}, "comet": {"enabled": True, "api_key": "x"}, "wandb": {"team": "attacker"}},
     {"deepspeed.comet": "refused: this key sends metrics (and an API key) to Comet",
      "deepspeed.wandb": "refused: this key sends metrics to the W&B team"}),
    ({"zero_optimization": {"stage": 2}, "tensorboard": {"output_path": "/tmp/x"}, "made_up": 1},
     {"deepspeed.tensorboard": "refused: this key writes event files", "deepspeed.made_up": "is not reviewed"}),
    ({"bf16": {"enabled": "auto"}}, {"deepspeed.zero_optimization": "a DeepSpeed config names its ZeRO stage"}),
]


@pytest.mark.parametrize(("value", "refused"), HOSTILE_DEEPSPEED)
def test_an_inline_deepspeed_config_is_checked_key_by_key_at_its_line(haha_repo: Path, value: dict,
                                                                      refused: dict[str, str]) -> None:
    path = set_keys(haha_repo, deepspeed=value)
    text = path.read_text().splitlines()
    found = {key: (line, message) for line, key, severity, message in errors_and_warnings(haha_repo)
             if severity == "error" and key.startswith("deepspeed.")}
    assert set(found) == set(refused)
    for key, start in refused.items():
        line, message = found[key]
        assert message.startswith(start), message
        at = text[line - 1] if line else ""  # the key's own line, or `deepspeed:` where the key is missing
        assert key.rsplit(".", 1)[1] in at or at.startswith("deepspeed:"), (key, at)


def test_a_repo_deepspeed_file_is_checked_at_its_own_lines_and_must_be_one(haha_repo: Path) -> None:
    """Any JSON of the repo was accepted without a look inside, even the eval file."""
    set_keys(haha_repo, deepspeed="train/eval/eval.json")
    found = {(file, key) for file, key, _ in _file_errors(haha_repo) if file == "train/eval/eval.json"}
    assert {("train/eval/eval.json", "prompts"), ("train/eval/eval.json", "zero_optimization")} <= found
    (haha_repo / "train" / "ds.json").write_text(json.dumps({
        "zero_optimization": {"stage": 3, "offload_param": {"device": "cpu"}},
        "bf16": {"enabled": "auto"}, "train_micro_batch_size_per_gpu": "auto", "gradient_clipping": 1.0}, indent=1))
    set_keys(haha_repo, deepspeed="train/ds.json")
    assert [p for p in _file_errors(haha_repo) if p[0] == "train/ds.json"] == []
    (haha_repo / "train" / "ds.json").write_text('{\n "zero_optimization": {"stage": 2},\n "flops_profiler": {}\n}')
    assert ("train/ds.json", "flops_profiler", 3) in [(f, k, line) for f, k, line in _file_errors(haha_repo)]


def _file_errors(repo: Path) -> list[tuple[str, str, int | None]]:
    report = validate([str(repo / "train" / "config")], load_settings(repo), check_eval_file=False,
                      count_lengths=False)
    return [(p.file, p.key, p.line) for p in report.problems if p.severity == "error"]


def test_fsdp_config_takes_plain_values_of_named_options(haha_repo: Path) -> None:
    path = set_keys(haha_repo, fsdp_config={"fsdp_version": 2, "offload_params": True,
                                            "fsdp_transformer_layer_cls_to_wrap": "LlamaDecoderLayer",
                                            "state_dict_checkpoint_path": "/home/runner/x", "mixed": {"a": 1}})
    found = {key: message for _, key, severity, message in errors_and_warnings(haha_repo)
             if severity == "error" and key.startswith("fsdp_config.")}
    assert set(found) == {"fsdp_config.state_dict_checkpoint_path", "fsdp_config.mixed"}
    assert key_line(path, "fsdp_config") > 0


def test_zero3_is_read_from_a_repo_file_too(haha_repo: Path) -> None:
    (haha_repo / "train" / "ds.json").write_text('{"zero_optimization": {"stage": "3"}}')
    path = set_keys(haha_repo, deepspeed="train/ds.json", load_in_8bit=True)
    assert key_line(path, "load_in_8bit") in [line for line, key, *_ in errors_and_warnings(haha_repo)
                                               if key == "load_in_8bit"]
    (haha_repo / "train" / "ds.json").write_text("not json")
    assert any(key == "deepspeed" and "is not a JSON DeepSpeed config" in message
               for _, key, _, message in errors_and_warnings(haha_repo))


def test_the_plan_names_a_linked_config_by_its_own_path_and_refuses_other_files(haha_repo: Path) -> None:
    elsewhere = haha_repo / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "other.yml").write_text((haha_repo / "train" / "config" / "jokes-001.yml").read_text())
    (haha_repo / "train" / "config" / "jokes-002.yml").symlink_to(elsewhere / "other.yml")
    from pipeline.orchestration.planning import plan_pending

    plan = plan_pending(load_settings(haha_repo))
    assert [(e.config, e.path) for e in plan.entries] == [("jokes-001", "train/config/jokes-001.yml"),
                                                          ("jokes-002", "train/config/jokes-002.yml")]
    haha = Path(sys.executable).parent / "haha"
    done = subprocess.run([str(haha), "plan", "elsewhere/other.yml"], cwd=haha_repo, capture_output=True, text=True,
                          env={**os.environ, "HAHA_ROOT": str(haha_repo)})
    assert done.returncode == 2 and "elsewhere/other.yml: not a config in" in done.stderr
