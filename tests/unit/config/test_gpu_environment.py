"""One declared GPU environment (gpu-requirements.txt) that resolves the same training stack as the CPU one, and
`haha doctor` as the train job runs it, here on a machine without CUDA."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.support.haha_cli import HAHA
from tests.support.paths import REPO

STACK = ("torch", "axolotl", "transformers", "peft", "trl", "datasets", "huggingface-hub")
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)")


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        if match := PIN.match(line.strip()):
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def test_the_gpu_and_cpu_environments_pin_the_same_training_stack() -> None:
    cpu = pins(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    gpu = pins((REPO / "gpu-requirements.txt").read_text().splitlines())
    assert {name: cpu.get(name) for name in STACK} == {name: gpu.get(name) for name in STACK}
    assert None not in {name: cpu.get(name) for name in STACK}.values()
    # What the GPU runner adds, at Axolotl's own pins of its extras.
    assert {"flash-attn", "deepspeed", "bitsandbytes"} <= set(gpu)


def test_the_gpu_environment_declares_what_configs_are_checked_against() -> None:
    """A DeepSpeed config passes here because gpu-requirements.txt installs deepspeed; gptqmodel it does not."""
    from pipeline.config.requirements import gpu_environment, missing_packages, needs_of
    from pipeline.core.settings import load_settings

    environment = gpu_environment(load_settings(REPO))
    assert missing_packages(needs_of({"deepspeed": "deepspeed_configs/zero2.json"}), environment) == []
    [(key, message)] = missing_packages(needs_of({"gptq": True}), environment)
    assert key == "gptq" and "needs the gptqmodel package" in message



def test_a_vision_family_whose_processor_imports_torchvision_needs_it_on_the_gpu_runner() -> None:
    """Qwen2-VL's processor comes with a video processor, and every video processor imports torchvision, which
    gpu-requirements.txt does not install; LLaVA's processor falls back to Pillow."""
    from pipeline.config.requirements import gpu_environment, missing_packages, needs_of
    from pipeline.core.settings import load_settings

    environment = gpu_environment(load_settings(REPO))
    qwen = {"processor_type": "AutoProcessor", "chat_template": "qwen2_vl"}
    [(key, message)] = missing_packages(needs_of(qwen), environment)
    assert key == "processor_type" and "needs the torchvision package" in message
    assert missing_packages(needs_of({**qwen, "chat_template": "llava"}), environment) == []
    assert needs_of({"chat_template": "qwen2_vl"}) == []  # a text config with that template loads no processor


def test_the_train_jobs_install_the_declared_environment_and_run_doctor_first() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "train.yml").read_text())
    steps = workflow["jobs"]["wave-0"]["steps"]
    runs = [step.get("run", "") for step in steps]
    setup = next(index for index, run in enumerate(runs) if "make setup-gpu" in run)
    train = next(index for index, run in enumerate(runs) if "haha run" in run)
    assert setup < train
    assert runs[train].index("haha doctor") < runs[train].index("haha run")  # first, in the step with the secrets
    assert not any(run.strip() == "make setup" for run in runs)


@pytest.mark.slow
def test_doctor_without_cuda_says_so_and_lists_what_each_sample_lacks() -> None:
    configs = sorted(str(p) for p in (REPO / "train" / "config").glob("*.yml"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HAHA_ROOT": str(REPO)}
    env.pop("HF_TOKEN", None)
    table = subprocess.run([HAHA, "doctor", *configs], capture_output=True, text=True, env=env, timeout=300,
                           cwd=REPO)
    assert table.returncode == 1, table.stdout + table.stderr
    assert "no CUDA device" in table.stdout
    assert f"no CUDA device: {len(configs)} config(s) cannot run for real here" in " ".join(table.stdout.split())
    report = json.loads(subprocess.run([HAHA, "doctor", "--json", *configs], capture_output=True, text=True,
                                       env=env, timeout=300, cwd=REPO).stdout)
    assert report["ok"] is False and report["machine"]["cuda"] is None
    by_config = {entry["config"]: entry for entry in report["configs"]}
    assert set(by_config) == {Path(c).stem for c in configs}
    for entry in by_config.values():
        assert entry["lacks"][0] == "no CUDA device"
        assert "an HF_TOKEN the Hub accepts (to fetch gated models and publish)" in entry["lacks"]
        assert entry["estimate"].startswith("estimate: ~")
    assert any("bitsandbytes" in lack for lack in by_config["haha-llama-3-8b-lora-001"]["lacks"])
