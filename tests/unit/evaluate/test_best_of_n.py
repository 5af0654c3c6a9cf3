"""The `best_of_n` eval task: N candidates per cell, each scored by a reward model's adapter; batch-invariant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config.loading import load_config
from pipeline.core.runs import AdapterRef
from pipeline.core.settings import load_settings
from pipeline.evaluate.best_of_n import SEED_STRIDE, BestOfNTask, Candidate, candidate_seed
from pipeline.evaluate.model import EvalError, load_model
from pipeline.evaluate.spec import Cell
from pipeline.evaluate.tasks import EvalJob, Scorer
from pipeline.formats.results import ConfigBlock, ResultsDoc

SPEC = {"kind": "best_of_n", "prompts": ["It was 100 degrees today.", "My printer jammed."],
        "settings": [{"temperature": 0.7, "max_new_tokens": 6}, {"temperature": 1.0, "max_new_tokens": 6}],
        "seedVariants": 2, "n": 3, "rewardModel": "jokes-rm-001"}


@pytest.fixture(scope="module")
def reward_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sequence-classification LoRA on the tiny model (its score head saved with it)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    folder = tmp_path_factory.mktemp("reward-adapter")
    get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], task_type="SEQ_CLS")).save_pretrained(folder)
    return folder


def job(repo: Path, tiny_model_dir: Path, reward_adapter: Path, out: Path, batch_size: int = 64) -> EvalJob:
    ref = AdapterRef(basename="jokes-rm-001", repo_id="haha-lab/jokes-rm-001", revision="r1")
    return EvalJob(load_config(repo / "train" / "config" / "jokes-001.yml"), "jokes-001", str(tiny_model_dir), None,
                   out, batch_size, scorers={"jokes-rm-001": Scorer(ref, str(tiny_model_dir), reward_adapter)})


def run_task(repo: Path, tiny_model_dir: Path, reward_adapter: Path, out: Path, cells: list[Cell] | None = None,
             batch_size: int = 64) -> tuple[object, ResultsDoc]:
    task = BestOfNTask()
    path = repo / "train" / "eval" / "best.json"
    path.write_text(json.dumps(SPEC))
    spec, problems = task.check(path, "best.json")
    assert spec is not None, problems
    the_job = job(repo, tiny_model_dir, reward_adapter, out, batch_size)
    model = load_model(str(tiny_model_dir), None)
    output = task.run(the_job, spec, cells or task.plan(spec), model, lambda _p: None)
    return output, ResultsDoc(config=ConfigBlock(name="jokes-001"), results=[])


def test_a_cell_alone_equals_the_same_cell_in_the_full_task(haha_repo: Path, tiny_model_dir: Path,
                                                             reward_adapter: Path, tmp_path: Path) -> None:
    full, _ = run_task(haha_repo, tiny_model_dir, reward_adapter, tmp_path / "full.json", batch_size=7)
    cell = Cell(1, 1, 2)
    alone, _ = run_task(haha_repo, tiny_model_dir, reward_adapter, tmp_path / "alone.json", [cell], batch_size=1)
    for index in range(SPEC["n"]):
        together, single = full.scored[Candidate(cell, index)], alone.scored[Candidate(cell, index)]  # type: ignore[attr-defined]
        assert together.text == single.text
        assert together.reward == pytest.approx(single.reward, abs=2e-4)  # padding changes float32 sums slightly
    assert len(full.scored) == 2 * 2 * 2 * 3  # type: ignore[attr-defined]


def test_candidate_zero_is_the_sweeps_seed_and_the_rest_never_collide() -> None:
    assert candidate_seed(5, 0) == 5
    seeds = {candidate_seed(seed, index) for seed in range(1, 1001) for index in range(64)}
    assert len(seeds) == 1000 * 64 and SEED_STRIDE > 1000


def test_assemble_keeps_every_candidate_and_picks_the_best(haha_repo: Path, tiny_model_dir: Path,
                                                           reward_adapter: Path, tmp_path: Path) -> None:
    output, doc = run_task(haha_repo, tiny_model_dir, reward_adapter, tmp_path / "r.json")
    task = BestOfNTask()
    spec, _ = task.check(haha_repo / "train" / "eval" / "best.json", "best.json")
    the_job = job(haha_repo, tiny_model_dir, reward_adapter, tmp_path / "r.json")
    part = task.assemble(the_job, spec, output, doc).evals["best"]  # type: ignore[arg-type]
    assert part["rewardModel"] == {"config": "jokes-rm-001", "repo": "haha-lab/jokes-rm-001", "revision": "r1"}
    assert len(part["cells"]) == 8 and all(len(c["candidates"]) == 3 for c in part["cells"])
    for cell in part["cells"]:
        rewards = [c["reward"] for c in cell["candidates"]]
        assert rewards[cell["chosen"]] == max(rewards)
    metrics = part["metrics"]
    assert metrics["mean_best_reward"] >= metrics["mean_reward"] >= min(
        c["reward"] for cell in part["cells"] for c in cell["candidates"])
    assert metrics["gain"] == pytest.approx(metrics["mean_best_reward"] - metrics["mean_first_reward"], abs=1e-4)


def test_a_task_without_its_reward_model_says_which(haha_repo: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    task = BestOfNTask()
    path = haha_repo / "train" / "eval" / "best.json"
    path.write_text(json.dumps(SPEC))
    spec, _ = task.check(path, "best.json")
    bare = EvalJob(load_config(haha_repo / "train" / "config" / "jokes-001.yml"), "jokes-001", str(tiny_model_dir),
                   None, tmp_path / "r.json")
    with pytest.raises(EvalError, match="the reward model jokes-rm-001 has no published adapter"):
        task.run(bare, spec, task.plan(spec), load_model(str(tiny_model_dir), None), lambda _p: None)  # type: ignore[arg-type]


def test_validation_checks_the_spec_and_that_the_reward_model_is_one(haha_repo: Path) -> None:
    from pipeline.orchestration.validation import check_eval_tasks

    text = json.dumps({**SPEC, "n": 0}, indent=2)
    (haha_repo / "train" / "eval" / "best.json").write_text(text)
    line = {key: number for number, row in enumerate(text.splitlines(), start=1)
            for key in ("n", "rewardModel") if row.strip().startswith(f'"{key}"')}
    problems = [(p.line, p.key, p.message) for p in check_eval_tasks(load_settings(haha_repo))]
    assert (line["n"], "n", "Input should be greater than or equal to 1") in problems
    assert (line["rewardModel"], "rewardModel", "no readable config jokes-rm-001.yml in train/config") in problems
    (haha_repo / "train" / "eval" / "best.json").write_text(json.dumps({**SPEC, "rewardModel": "jokes-001"}))
    problems = [(p.key, p.message) for p in check_eval_tasks(load_settings(haha_repo))]
    assert ("rewardModel", "jokes-001 does not train a reward model (it needs reward_model: true)") in problems
    for escape in ("../config/jokes-001", "/tmp/elsewhere/rm-001"):
        (haha_repo / "train" / "eval" / "best.json").write_text(json.dumps({**SPEC, "rewardModel": escape}))
        problems = [(p.key, p.message) for p in check_eval_tasks(load_settings(haha_repo))]
        assert ("rewardModel", "must be the basename of a reward config in train/config (like "
                f"haha-llama-3-8b-reward-001), got {escape!r}") in problems
