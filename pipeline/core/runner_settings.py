"""`[tool.haha.runners]`: which self-hosted runners a config trains on, parsed once into typed settings.

    [tool.haha.runners]
    default = "gpu"            # the class a config gets when no rule matches
    max_parallel = 4           # matrix jobs at once (GitHub's `max-parallel`)

    [tool.haha.runners.classes.gpu]
    labels = ["gpu"]           # the runner labels, after `self-hosted`
    gpus = 1
    gpu_memory_gb = 80         # each GPU's memory: configs whose estimate exceeds it are refused
    flash_attn = true          # the class's environment has flash-attn (flash_attention: true needs it)
    tflops = 200               # sustained bf16 TFLOP/s a GPU, for GPU-hour estimates; correct it from meta.cost

    [tool.haha.runners.classes.gpu-8x]
    labels = ["gpu", "8xh100"]
    gpus = 8
    launcher = "accelerate"    # or "torchrun": Axolotl's own launchers

    [[tool.haha.runners.rules]] # first match wins; a config's `haha_runner: <class>` wins over every rule
    use = "gpu-8x"
    min_params_b = 30          # the base model's size, read from its name (Llama-3-70B: 70)

Without the table every config trains on `[self-hosted, gpu]` with one GPU, as before.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# GitHub's limit on the jobs one matrix makes.
MAX_MATRIX_JOBS = 256
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
Launcher = Literal["accelerate", "torchrun"]
LoadIn = Literal["4bit", "8bit", "16bit"]


class RunnerClass(BaseModel):
    """One kind of GPU box: the labels its self-hosted runners carry and how many GPUs a config uses on it."""

    model_config = ConfigDict(extra="forbid")
    labels: list[str] = Field(min_length=1)
    gpus: int = Field(default=1, ge=1, le=64, strict=True)
    launcher: Launcher = "accelerate"  # how Axolotl starts one process per GPU when gpus > 1
    # What a config is sized against (plan/estimate.py). The defaults describe the class train.yml sets up
    # out of the box: an 80 GB GPU with the declared GPU environment (gpu-requirements.txt, flash-attn in it).
    gpu_memory_gb: float = Field(default=80, gt=0, le=1024)
    flash_attn: bool = True
    tflops: float = Field(default=200, gt=0)
    # The box's CPU count: the cap on a config's dataloader workers and dataset processes (core/budgets.py).
    cpus: int | None = Field(default=None, ge=1, strict=True)

    @model_validator(mode="after")
    def _labels_are_labels(self) -> RunnerClass:
        bad = [label for label in self.labels if not LABEL.fullmatch(label) or label == "self-hosted"]
        if bad:
            raise ValueError(f"labels must be runner labels (letters, digits, '.', '_', '-'; not self-hosted, which "
                             f"every job gets): {bad}")
        return self


class RunnerRule(BaseModel):
    """Send the configs that match every condition given to the class `use`."""

    model_config = ConfigDict(extra="forbid")
    use: str
    configs: list[str] | None = None  # globs over config basenames
    min_params_b: float | None = Field(default=None, ge=0)  # base model size in billions, from its name
    max_params_b: float | None = Field(default=None, ge=0)
    load_in: LoadIn | None = None  # 4bit (load_in_4bit), 8bit (load_in_8bit) or 16bit (neither)

    @model_validator(mode="after")
    def _can_match(self) -> RunnerRule:
        if self.configs == []:
            raise ValueError("configs: [] matches no config; leave it out to match every name")
        if self.min_params_b is not None and self.max_params_b is not None and self.min_params_b > self.max_params_b:
            raise ValueError(f"min_params_b {self.min_params_b:g} is above max_params_b {self.max_params_b:g}: the "
                             "rule matches no config")
        return self


class RunnerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: str = "gpu"
    max_parallel: int = Field(default=4, ge=1, le=MAX_MATRIX_JOBS, strict=True)
    classes: dict[str, RunnerClass] = Field(default_factory=lambda: {"gpu": RunnerClass(labels=["gpu"])})
    rules: list[RunnerRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _classes_exist(self) -> RunnerSettings:
        named = [self.default, *(rule.use for rule in self.rules)]
        if missing := sorted({name for name in named if name not in self.classes}):
            default = (f"; default is {self.default!r} unless set" if self.default in missing else "")
            has = ", ".join(sorted(self.classes)) or "none"
            raise ValueError(f"no runner class {', '.join(missing)} in [tool.haha.runners.classes] (it has: {has})"
                             f"{default}")
        return self
