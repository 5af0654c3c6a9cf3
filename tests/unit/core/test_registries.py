"""The registries are the seams the next kinds plug into: a new eval task or training kind is one class or one
entry, and validation, the evaluate stage and the results file pick it up with no other change."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.config.kinds import KINDS, SFT, TrainingKind, UnknownKindError, kind_of, register_kind
from pipeline.core.problems import Problem
from pipeline.core.registry import Registry, RegistryClashError, UnknownNameError
from pipeline.core.settings import load_settings
from pipeline.evaluate.model import ModelHandle
from pipeline.evaluate.tasks import TASKS, EvalJob, EvalTask, OnProgress, TaskOutput, register_task, registered
from pipeline.formats.results import ResultsDoc
from pipeline.orchestration.context import EvalOptions, make_context
from pipeline.orchestration.runner import run_stages
from pipeline.orchestration.stages import EvaluateStage, single
from pipeline.orchestration.validation import validate


@dataclass
class EchoOutput(TaskOutput):
    tokens: dict[str, int] | None = None


class EchoTask(EvalTask[dict[str, Any], str, EchoOutput]):
    """Counts the tokens of each word in its file: a task that needs the model's tokenizer and nothing else."""

    kind = "echo"

    def check(self, path: Path, display: str) -> tuple[dict[str, Any] | None, list[Problem]]:
        spec = json.loads(path.read_text())
        if not isinstance(spec.get("words"), list):
            return None, [Problem(display, None, "words", "a list of words is required")]
        return spec, []

    def plan(self, spec: dict[str, Any]) -> Sequence[str]:
        return spec["words"]

    def run(self, job: EvalJob, spec: dict[str, Any], units: Sequence[str], model: ModelHandle,
            on_progress: OnProgress) -> EchoOutput:
        return EchoOutput(computed=len(units), tokens={w: len(model.tokenizer(w)["input_ids"]) for w in units})

    def assemble(self, job: EvalJob, spec: dict[str, Any], output: EchoOutput, doc: ResultsDoc) -> ResultsDoc:
        return doc.model_copy(update={"evals": {**doc.evals, "echo": {"tokens": output.tokens}}})


@pytest.fixture
def echo_registered() -> Iterator[None]:
    register_task(EchoTask)
    yield
    TASKS.remove("echo")


def test_a_registered_task_is_validated_planned_run_and_written_into_the_results(
        haha_repo: Path, tiny_model_dir: Path, echo_registered: None, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    eval_dir = haha_repo / "train" / "eval"
    (eval_dir / "echo.json").write_text(json.dumps({"kind": "echo", "configs": ["jokes-*"], "words": ["pun", "gag"]}))
    (eval_dir / "broken.json").write_text(json.dumps({"kind": "echo", "configs": ["nothing-*"]}))
    (eval_dir / "nope.json").write_text(json.dumps({"kind": "nope"}))
    settings = load_settings(haha_repo)
    other = {(p.file, p.key): p.message for p in validate([str(settings.config_dir)], settings).other}
    assert other[("train/eval/broken.json", "words")] == "a list of words is required"
    assert other[("train/eval/nope.json", "kind")] == \
        "unknown kind 'nope'; known kinds: best_of_n, echo, multiple_choice, pairwise, sweep"
    (eval_dir / "broken.json").unlink()
    (eval_dir / "nope.json").unlink()

    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                   LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(adapter)
    ctx = make_context(settings, workspace=tmp_path / "ws", force=True,
                       eval_options=EvalOptions(adapter_dir=adapter, base_model=str(tiny_model_dir), max_new_tokens=4))
    outcome = run_stages(ctx, settings.config_dir / "jokes-001.yml", single(EvaluateStage()))
    assert not outcome.failed, outcome.error
    assert outcome.evaluation is not None and outcome.evaluation.report is not None
    assert outcome.evaluation.report.units == 2 + 2  # the sweep's 1 prompt x 1 setting x 2 seeds, and two words
    doc = json.loads(outcome.evaluation.results_path.read_text())
    assert list(doc) == ["config", "results", "meta", "evals"]
    assert set(doc["evals"]["echo"]["tokens"]) == {"pun", "gag"}


def test_a_registered_training_kind_is_chosen_by_its_axolotl_keys(haha_repo: Path) -> None:
    config = haha_repo / "train" / "config" / "jokes-001.yml"
    config.write_text(config.read_text() + "rl: gdpo\n")
    settings = load_settings(haha_repo)
    refused = validate([str(config)], settings).problems
    assert any(p.key == "rl" and "haha has no training kind for this yet (it runs: sft, preference, kto, reward, "
               "grpo)" in p.message for p in refused)

    gdpo = register_kind(TrainingKind("online", lambda c: c.get("rl") == "gdpo", "SFTDataset", ("sweep",)))
    try:
        assert kind_of({"rl": "gdpo"}) is gdpo and kind_of({}).name == "sft"
        assert [str(p) for p in validate([str(config)], settings).problems if p.key == "rl"] == []
    finally:
        KINDS.remove("online")


def test_a_second_sweep_for_the_same_config_is_refused(haha_repo: Path, tmp_path: Path) -> None:
    eval_dir = haha_repo / "train" / "eval"
    spec = json.loads((eval_dir / "eval.json").read_text())
    for name in ("cold", "warm"):  # a sweep naming the config replaces eval.json for it; two such sweeps clash
        (eval_dir / f"{name}.json").write_text(json.dumps({**spec, "kind": "sweep", "configs": ["jokes-*"]}))
    settings = load_settings(haha_repo)
    assert validate([str(settings.config_dir)], settings).other == []  # a sweep in its own file is valid
    ctx = make_context(settings, workspace=tmp_path / "ws", eval_options=EvalOptions(adapter_dir=tmp_path))
    outcome = run_stages(ctx, settings.config_dir / "jokes-001.yml", single(EvaluateStage()))
    assert outcome.error == ('jokes-001: cold.json, warm.json are all sweeps for it; a config gets one sweep '
                             '(limit the others with "configs")')


class OtherSweep(EchoTask):
    kind = "sweep"  # taken by haha's own sweep


def test_a_second_registrant_of_a_name_is_refused_and_both_are_named() -> None:
    sweep = registered()["sweep"]
    with pytest.raises(RegistryClashError) as refused:
        register_task(OtherSweep)
    assert str(refused.value) == ("kind 'sweep' is registered twice: by pipeline.evaluate.sweep.SweepTask and by "
                                  f"{__name__}.OtherSweep; rename one of them")
    with pytest.raises(RegistryClashError) as refused:
        register_kind(TrainingKind("sft", lambda c: False, "SFTDataset", ("sweep",)))
    assert str(refused.value) == (f"training kind 'sft' is registered twice: by pipeline.config.kinds and by "
                                  f"{__name__}; rename one of them")
    assert TASKS["sweep"] is sweep and KINDS["sft"] is SFT  # the first registrations stand


def test_an_unknown_name_lists_the_known_ones_and_suggests_the_nearest() -> None:
    with pytest.raises(UnknownNameError) as unknown:
        registered()["sweeep"]
    assert str(unknown.value) == ("unknown kind 'sweeep'; known kinds: best_of_n, multiple_choice, pairwise, "
                                  "sweep; did you mean 'sweep'?")
    assert TASKS.get("nothing-like-it") is None and "sweeep" not in TASKS
    assert TASKS.unknown("zzz").endswith("sweep")  # no near name: no suggestion


def test_a_typo_in_rl_is_answered_with_the_value_it_likely_meant() -> None:
    with pytest.raises(UnknownKindError) as unknown:
        kind_of({"rl": "dpp"})
    assert str(unknown.value) == ("rl: dpp: haha has no training kind for this yet (it runs: sft, preference, kto, "
                                  "reward, grpo); did you mean rl: dpo?")


def test_a_registry_keeps_the_order_names_were_registered_in() -> None:
    registry: Registry[int] = Registry("judge")
    for number, name in enumerate(("zeta", "alpha", "mid")):
        registry.register(name, number, "here")
    registry.remove("alpha")
    registry.register("alpha", 9, "here")
    assert list(registry) == ["zeta", "mid", "alpha"]
    assert list(registry.values()) == [0, 2, 9]
    assert list(KINDS) == ["sft", "preference", "kto", "reward", "grpo"]  # find_kind tries them in this order
