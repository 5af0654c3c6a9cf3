"""Where each config's run lives on disk; one place so train, publish and evaluate agree.

    <workspace>/<basename>/config.yml     effective config Axolotl runs
    <workspace>/<basename>/adapter/       Axolotl output_dir (checkpoints, final adapter)
    <workspace>/<basename>/prepared/      tokenized dataset cache
    <workspace>/<basename>/train.log      full training log (secrets scrubbed)
    <workspace>/<basename>/overrides.txt  every setting the effective config changed, one per line, and why
    <workspace>/<basename>/losses.jsonl   every logged loss (and GRPO's mean reward) by step, across resumed attempts
    <workspace>/<basename>/complete.json  completion record: config sha256, losses, times, samples generated in training
    <workspace>/<basename>/published.json what the last push left on the hub (repo, revision, adapter hash)
    <workspace>/.parents/<parent>-<rev>/  a parent's adapter merged into the base model (shared by its children)
    <workspace>/.rewards/<reward>-<rev>/  a reward config's adapter merged into its base: GRPO's reward model
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, computed_field

# What makes a folder a LoRA adapter for every stage: the files Axolotl's final save writes. Publish sends them,
# evaluate loads them, and their bytes are the adapter's identity.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapter_problem(adapter_dir: Path) -> str | None:
    """Why `adapter_dir` is not a complete adapter (naming the missing files), or None."""
    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    return f"{adapter_dir} has no {', '.join(missing)}" if missing else None


def adapter_sha256(adapter_dir: Path) -> str:
    """The adapter's identity, its config and weight bytes: a retrained adapter has another, whatever its config."""
    digest = hashlib.sha256()
    for name in ADAPTER_FILES:
        if (adapter_dir / name).is_file():
            digest.update(name.encode())
            digest.update((adapter_dir / name).read_bytes())
    return digest.hexdigest()


class AdapterRef(BaseModel):
    """A config's published adapter, as its results file recorded it: a `haha_parent` a config started from, or the
    reward model a best-of-N eval or a GRPO run scored with."""

    basename: str
    repo_id: str
    revision: str  # the hub revision the results recorded; for a parent, a new one makes the child pending


class TrainingSample(BaseModel):
    """One completion Axolotl generated during training (`generate_samples`); `index` counts from 1 within a step."""

    step: int
    index: int
    prompt: str
    generated: str


class RunCost(BaseModel):
    """What a config's run took on its box: `gpus` 0 is a CPU run (smoke), whose GPU-seconds are 0."""

    gpu_type: str | None = None  # as nvidia-smi names it, e.g. "NVIDIA H100 80GB HBM3"
    gpus: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpu_seconds(self) -> float:
        """Training holds every GPU of the run; the eval runs on one."""
        return round(self.train_seconds * self.gpus + (self.eval_seconds if self.gpus else 0.0), 1)

    def describe(self) -> str:
        """`8 x NVIDIA H100 80GB HBM3, 2.41 GPU-h`, or `CPU` for a run on no GPU."""
        if not self.gpus:
            return "CPU"
        return f"{self.gpus} x {self.gpu_type}, {self.gpu_seconds / 3600:.2f} GPU-h"


class TrainRecord(BaseModel):
    """`complete.json`: written last by a training that produced its adapter; what makes a re-run skip."""

    config_sha256: str
    finished: str  # ISO 8601, UTC
    seconds: float
    steps: int
    losses: list[float] = Field(default_factory=list)
    loss_steps: list[int] = Field(default_factory=list)
    smoke: bool = False  # trained on a smoke stand-in: never the adapter of a real run
    parent: AdapterRef | None = None  # the parent adapter it started from (haha_parent)
    reward_model: AdapterRef | None = None  # GRPO: the reward adapter that scored its answers (haha_reward)
    rewards: list[float] = Field(default_factory=list)  # GRPO: the mean reward of each logged step's answers
    reward_steps: list[int] = Field(default_factory=list)
    samples: list[TrainingSample] = Field(default_factory=list)  # generated during training, by step
    packing_efficiency: float | None = None  # Axolotl's estimate of the packed token slots filled (sample_packing)
    gpu_type: str | None = None  # the GPUs it trained on (None: CPU)
    gpus: int = 0  # how many; 0 on CPU
    # What trained it beyond the config: the effective config without its tracking keys, and the files of the
    # model it trained on (a smoke stand-in's change with --smoke-model). Another recipe retrains.
    recipe: str | None = None
    trained_on: str | None = None  # the base model as Axolotl loaded it: a smoke stand-in's folder, or the Hub id
    max_steps: int | None = None  # the steps a smoke run was cut to

    def cost(self) -> RunCost:
        """The training's share of the run's cost; the eval adds its own seconds."""
        return RunCost(gpu_type=self.gpu_type, gpus=self.gpus, train_seconds=self.seconds)


@dataclass(frozen=True)
class RunPaths:
    workspace: Path
    basename: str

    @property
    def run_dir(self) -> Path:
        return self.workspace / self.basename

    @property
    def config(self) -> Path:
        return self.run_dir / "config.yml"

    @property
    def adapter_dir(self) -> Path:
        return self.run_dir / "adapter"

    @property
    def prepared_dir(self) -> Path:
        return self.run_dir / "prepared"

    @property
    def log(self) -> Path:
        return self.run_dir / "train.log"

    @property
    def overrides(self) -> Path:
        return self.run_dir / "overrides.txt"

    @property
    def losses(self) -> Path:
        return self.run_dir / "losses.jsonl"

    @property
    def record(self) -> Path:
        return self.run_dir / "complete.json"

    def adapter_complete(self) -> bool:
        return adapter_problem(self.adapter_dir) is None

    @property
    def published(self) -> Path:
        return self.run_dir / "published.json"

    def completion(self) -> TrainRecord | None:
        try:
            return TrainRecord.model_validate_json(self.record.read_bytes())
        except (OSError, ValidationError):
            return None

    def trained(self, config_sha256: str, smoke: bool) -> TrainRecord | None:
        """The completion record when it names this exact config, the same kind of run (smoke or real), and the
        adapter files are really there."""
        record = self.completion()
        return (record if record and record.config_sha256 == config_sha256 and record.smoke == smoke
                and self.adapter_complete() else None)

    def trained_from(self, config_sha256: str, smoke: bool, parent: AdapterRef | None,
                     recipe: str | None = None) -> TrainRecord | None:
        """As `trained`, and started from this parent adapter revision (None: from the base model) with this recipe
        (None: any; a real run's record from before recipes were recorded still counts)."""
        record = self.trained(config_sha256, smoke)
        if record is None or record.parent != parent:
            return None
        if recipe is not None and record.recipe != recipe and (smoke or record.recipe is not None):
            return None
        return record
