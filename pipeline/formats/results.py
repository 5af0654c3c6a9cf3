"""The results file `train/results/<basename>.json`: one config's eval sweep, typed.

The shape is the existing haha one (`config`, `results`), which outside readers already
parse, plus one `meta` object that says where the numbers came from. Old files have no
`meta` and must keep loading; unknown keys are kept (`extra="allow"`) and fields are dumped
only when they were present, so loading and dumping a file does not change what a reader sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.core.errors import HahaError
from pipeline.core.runs import AdapterRef, RunCost
from pipeline.core.strict_json import StrictJsonError, dumps_strict, loads_strict
from pipeline.formats.sampling import SamplingParams

# The hyperparameters echoed into the results file, in the order the haha files list them.
CONFIG_KEYS = (
    "default_system_message",
    "sequence_len",
    "gradient_accumulation_steps",
    "micro_batch_size",
    "num_epochs",
    "optimizer",
    "lr_scheduler",
    "learning_rate",
    "load_in_8bit",
    "load_in_4bit",
    "adapter",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
)

# Keys that say where a run lived or who ran it, not how the model was trained: left out of the recorded
# hyperparameters, so the same config evaluated on two machines records the same ones.
RUN_PLACE_KEYS = frozenset({"output_dir", "dataset_prepared_path", "wandb_name", "wandb_project", "wandb_entity",
                            "wandb_mode", "wandb_run_id", "hub_model_id", "hub_strategy"})

# Config values are echoed as the YAML gave them: PyYAML reads `1e-5` as a string, so a
# narrower type would call a perfectly good old file broken.
Scalar = bool | int | float | str | None


class ResultsError(HahaError, ValueError):
    """A results file that cannot be read; the message names the file and what is wrong."""


class _Open(BaseModel):
    """Keeps keys this code does not know, so a reader of the old format loses nothing."""

    model_config = ConfigDict(extra="allow")


class ConfigBlock(_Open):
    name: str
    default_system_message: Scalar = None
    sequence_len: Scalar = None
    gradient_accumulation_steps: Scalar = None
    micro_batch_size: Scalar = None
    num_epochs: Scalar = None
    optimizer: Scalar = None
    lr_scheduler: Scalar = None
    learning_rate: Scalar = None
    load_in_8bit: Scalar = None
    load_in_4bit: Scalar = None
    adapter: Scalar = None
    lora_r: Scalar = None
    lora_alpha: Scalar = None
    lora_dropout: Scalar = None

    def hyperparameters(self) -> dict[str, Scalar]:
        """Every key but `name`, known ones first: what two configs can differ in."""
        return {key: value for key, value in self.model_dump().items() if key != "name"}


class SettingResult(SamplingParams, _Open):
    """One generation setting of one prompt: the settings keys, then one completion per seed.

    The generation keys come before `completions` (in eval.json's order) because pydantic dumps
    declared fields in that order: a file keeps its key order when rewritten.
    """

    completions: list[str]

    @property
    def setting(self) -> dict[str, Any]:
        """The settings object as the file wrote it: the generation parameters, and any keys an older writer added."""
        return {key: value for key, value in self.model_dump(exclude_none=True).items() if key != "completions"}


class PromptResult(_Open):
    prompt: str
    # A prompt with a picture: its path under train/data and the sha256 of the bytes the model was shown.
    image: str | None = None
    image_sha256: str | None = None
    settingsResults: list[SettingResult]  # the haha format's camelCase key

    @property
    def label(self) -> str:
        """How judges, raters and people tell prompts apart: one caption question over five pictures is five
        prompts, so a picture's path joins the text (a text prompt's label is its text, as before pictures)."""
        return f"{self.prompt} [image: {self.image}]" if self.image else self.prompt

    @property
    def identity(self) -> tuple[str, str | None]:
        """Two sweeps asked the same question only with the same text and the same picture bytes."""
        return self.prompt, self.image_sha256


class Diversity(_Open):
    setting: dict[str, Any]
    repeated_share: float


class Quality(_Open):
    """How one setting's completions look over all prompts and seeds (results/quality.py says why each)."""

    setting: dict[str, Any]
    completions: int
    empty_share: float
    never_stopped_share: float | None = None  # None: the file did not record where generation stopped
    repeated_share: float
    distinct_2: float
    mean_chars: float


class LossCurve(_Open):
    """The training loss as the Trainer logged it, step by step (across resumed attempts)."""

    steps: list[int]
    loss: list[float]
    reward: list[float] | None = None  # GRPO: the mean reward of the step's generated answers (TRL's `reward`)


class Meta(_Open):
    """Where a results file came from. Every field is optional: a sweep cut off half way has no `finished`.

    `wandb_run` is `entity/project/run_id` when a W&B page exists to link (older files may hold a bare name);
    `started` and `finished` are ISO 8601 timestamps with a UTC offset.
    """

    config_sha256: str | None = None
    base_model: str | None = None
    hub_repo: str | None = None
    hub_revision: str | None = None
    adapter_source: str | None = None
    adapter_sha256: str | None = None  # the adapter's files the completions came from (core/runs.py adapter_sha256)
    wandb_run: str | None = None
    seeds: list[int] = Field(default_factory=list)
    backend: str | None = None
    device: str | None = None
    started: str | None = None
    finished: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    pipeline_version: str | None = None
    diversity: list[Diversity] = Field(default_factory=list)
    quality: list[Quality] = Field(default_factory=list)
    training_loss: LossCurve | None = None
    eval_sha256: str | None = None  # the sweep spec the completions were made for
    reference: str | None = None  # "base": the base model without an adapter, the reference fine-tunes are read against
    parent: AdapterRef | None = None  # haha_parent: the adapter revision this one started from; a new one re-runs it
    reward_model: AdapterRef | None = None  # haha_reward: the reward adapter revision GRPO trained against; likewise
    cost: RunCost | None = None  # the GPUs it trained on and the seconds training and eval held them
    # How eval prompts were made (the training strategy cut where the answer starts, or why not), and the exact
    # text of the first sweep prompt as the model was shown it.
    prompt_format: str | None = None
    prompt_example: str | None = None
    # What training really ran where the pipeline changed the written config (a smoke run's stand-in model, steps,
    # optimizer, precision): the `config` block shows the config as written.
    trained_with: dict[str, Scalar] | None = None
    # The sweep's batch size as it ended: the configured one, or what out-of-memory back-off left.
    eval_batch_size: int | None = None
    # The whole config as its author wrote it, flattened to dotted keys (`datasets[0].type.system_prompt`),
    # credentials dropped: what two results files are compared on.
    hyperparameters: dict[str, Scalar] | None = None


class JudgeScores(_Open):
    """The judge's reward for every sweep completion (`[tool.haha] judge`), named by the judge's adapter revision
    and the sweep spec: scores from another judge, revision or spec are never compared with these."""

    judge: AdapterRef
    eval_sha256: str | None = None
    mean_reward: float
    n: int
    rewards: list[list[list[Annotated[float, Field(allow_inf_nan=False)]]]]  # [prompt][setting][seed]

    @model_validator(mode="after")
    def _figures_agree(self) -> JudgeScores:
        flat = [reward for settings in self.rewards for seeds in settings for reward in seeds]
        if self.n != len(flat):
            raise ValueError(f"n is {self.n} but there are {len(flat)} rewards")
        if flat and abs(self.mean_reward - sum(flat) / len(flat)) > 1e-3:
            raise ValueError(f"mean_reward {self.mean_reward} is not the mean of the rewards")
        return self


class Winner(StrEnum):
    """Which side of a judged pair won, after asking in both orders: a split or a tie is a TIE."""

    THIS = "this"
    OTHER = "other"
    TIE = "tie"


class PairVerdict(_Open):
    """One matched cell (same prompt, setting and seed) as the judge saw it, in both orders."""

    prompt: str
    setting: dict[str, Any]
    seed: int
    winner: Winner
    reason: str


Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class PairwiseJudgment(_Open):
    """An LLM judge's verdicts on this config's completions against `other`'s, cell by cell (judges/run.py).

    `win_rate` is (wins + ties/2) / n with a 95 % interval resampling prompts; `first_position_share` is the
    share of decisive answers that picked whichever punchline was shown first (0.5: no position bias); the mean
    lengths show a length bias; `reward_agreement` is how often the reward judge's scores pick the same winner
    among the decisive pairs both judged.
    """

    judge: str
    model: str
    prompt_sha256: str
    other: str
    n: int = Field(ge=0)
    wins: int = Field(ge=0)
    losses: int = Field(ge=0)
    ties: int = Field(ge=0)
    unreadable: int = Field(ge=0)  # answers with no verdict, each making its pair a tie
    win_rate: Share
    interval: tuple[Share, Share]
    first_position_share: Share | None
    mean_length: float
    other_mean_length: float
    reward_agreement: Share | None = None
    reward_pairs: int = 0
    verdicts: list[PairVerdict] = Field(default_factory=list)

    @model_validator(mode="after")
    def _counts_add_up(self) -> PairwiseJudgment:
        if self.wins + self.losses + self.ties != self.n or len(self.verdicts) != self.n:
            raise ValueError(f"wins + losses + ties and the verdicts must number n ({self.n})")
        return self


class ResultsDoc(_Open):
    config: ConfigBlock
    results: list[PromptResult]
    meta: Meta | None = None
    evals: dict[str, Any] = Field(default_factory=dict)  # eval tasks other than the sweep, by task file name
    judge: JudgeScores | None = None
    judgments: list[PairwiseJudgment] = Field(default_factory=list)  # LLM judges against other configs

    @model_validator(mode="after")
    def _judge_lines_up(self) -> ResultsDoc:
        """One reward per completion, in the same places: scores that do not line up are never compared."""
        if self.judge is not None:
            shape = [[len(setting.completions) for setting in prompt.settingsResults] for prompt in self.results]
            if [[len(seeds) for seeds in settings] for settings in self.judge.rewards] != shape:
                raise ValueError("judge: its rewards do not line up with the results' completions")
        return self

    @property
    def has_pictures(self) -> bool:
        """A sweep whose prompts showed pictures: a judge that reads text cannot see what its captions are about."""
        return any(prompt.image for prompt in self.results)


def config_block(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The `config` object of a results file: the name, then every hyperparameter (null when unset).

    All keys are always written so that readers comparing two files see the same columns.
    """
    return {"name": name, **{key: config.get(key) for key in CONFIG_KEYS}}


def flatten(value: Any, prefix: str = "") -> dict[str, Scalar]:
    """Nested mappings and lists as dotted keys with scalar values, in the order they were written."""
    if isinstance(value, Mapping):
        items = [(f"{prefix}.{key}" if prefix else str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(f"{prefix}[{index}]", item) for index, item in enumerate(value)]
    else:
        return {prefix: value if isinstance(value, bool | int | float | str) or value is None else str(value)}
    if not items:
        return {prefix: None} if prefix else {}
    flat: dict[str, Scalar] = {}
    for key, item in items:
        flat.update(flatten(item, key))
    return flat


def hyperparameters_of(config: Mapping[str, Any]) -> dict[str, Scalar]:
    """What a results file records of its config: everything but where it ran, credentials dropped."""
    from pipeline.core.secrets import scrub_config

    kept = {key: value for key, value in config.items() if key not in RUN_PLACE_KEYS}
    return flatten(scrub_config(kept))


def repeated_share(completions_by_prompt: Sequence[Sequence[str]]) -> float:
    """Share of completions identical to another seed's completion of the same prompt.

    A model that ignores the seed scores 1.0, one that never repeats itself 0.0. Empty
    completions are not repeats (they are counted as empty, see quality.py); an empty sweep
    counts as 0.0 so a half-written file still has a figure.
    """
    total = repeated = 0
    for completions in completions_by_prompt:
        total += len(completions)
        repeated += sum(1 for text in completions if text.strip() and completions.count(text) > 1)
    return repeated / total if total else 0.0


def setting_key(setting: Mapping[str, Any]) -> str:
    """A hashable, order-independent identity for a settings object."""
    return json.dumps(setting, sort_keys=True)


def diversity(results: Sequence[PromptResult]) -> list[Diversity]:
    """`repeated_share` per setting over all prompts, in the order the settings first appear."""
    settings: dict[str, dict[str, Any]] = {}
    by_setting: dict[str, list[list[str]]] = {}
    for prompt in results:
        for result in prompt.settingsResults:
            key = setting_key(result.setting)
            settings.setdefault(key, result.setting)
            by_setting.setdefault(key, []).append(result.completions)
    return [Diversity(setting=settings[key], repeated_share=round(repeated_share(by_setting[key]), 4))
            for key in settings]


def parse_results(text: str, source: str) -> ResultsDoc:
    """Validate a results file's text; `source` names it in the error. Strict JSON (core/strict_json.py): a NaN
    would blank index.html, a repeated key would read differently elsewhere."""
    try:
        raw = loads_strict(text)
    except StrictJsonError as exc:
        raise ResultsError(f"{source}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{source}: top level: not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ResultsError(f"{source}: top level: nested too deeply") from None
    try:
        return ResultsDoc.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        others = exc.error_count() - 1
        more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
        raise ResultsError(f"{source}: {where}: {first['msg']}{more}") from None


def load_results(path: Path, display: str | None = None) -> ResultsDoc:
    """Read one results file, old format (no `meta`) or new.

    Raises ResultsError naming the file as `display` (default: the path), so an index
    committed to git can name files without the machine's folder layout.
    """
    source = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{source}: cannot read: {exc}") from None
    return parse_results(text, source)


def dumps_results(doc: ResultsDoc) -> str:
    """The file's text: `config`, `results`, `meta` in that order, 2-space indent, UTF-8 kept readable.

    Only keys that were present (or set) are written, so an old file comes back without a
    `meta` and without nulls it never had.
    """
    data = doc.model_dump(mode="json", exclude_unset=True)
    ordered = {key: data.pop(key) for key in ("config", "results", "meta", "evals") if key in data} | data
    return dumps_strict(ordered, indent=2, ensure_ascii=False) + "\n"


# The keys that say how a run really trained, when the pipeline changed them (config/effective.py smoke overrides).
TRAINED_KEYS = ("base_model", "max_steps", "optimizer", "bf16", "fp16", "load_in_8bit", "load_in_4bit", "adapter",
                "micro_batch_size", "gradient_accumulation_steps")


def trained_settings(written: Mapping[str, Any], effective: Mapping[str, Any]) -> dict[str, Scalar]:
    """Pure: the TRAINED_KEYS whose effective value differs from the written one, as the effective value."""
    return {key: effective.get(key) for key in TRAINED_KEYS
            if key in effective and effective.get(key) != written.get(key)
            and isinstance(effective.get(key), str | int | float | bool)}


def not_comparable(name_a: str, a: Meta | None, name_b: str, b: Meta | None) -> str | None:
    """Why two results' losses and completions are not like for like: trained on other models or step counts."""
    def how(meta: Meta | None) -> tuple[object, object]:
        trained = (meta.trained_with if meta else None) or {}
        return trained.get("base_model", meta.base_model if meta else None), trained.get("max_steps")

    (model_a, steps_a), (model_b, steps_b) = how(a), how(b)
    if (model_a, steps_a) == (model_b, steps_b):
        return None
    def said(name: str, model: object, steps: object) -> str:
        return f"{name} trained {f'{steps} steps' if steps else 'as written'} on {model}"
    return f"not like for like: {said(name_a, model_a, steps_a)}, {said(name_b, model_b, steps_b)}"
