"""The end of a run: the `RunReport` (what report.json holds), the per-config table, the sample completions and
the Actions job summary, as values and markdown; the CLI draws them on the terminal."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.files import write_atomic
from pipeline.core.markdown import cell, fenced, table
from pipeline.core.runs import TrainingSample, TrainRecord
from pipeline.evaluate.tasks import headlines
from pipeline.formats.results import ResultsError, load_results
from pipeline.orchestration.judging import JudgeReport
from pipeline.orchestration.outcome import Outcome, Sample, StageName
from pipeline.orchestration.runner import Chosen
from pipeline.results.family import FamilyComparison, compare_with_previous
from pipeline.results.values import loss_change

TABLE_HEADER = ["config", *(str(name) for name in StageName), "loss first → last", "trained on", "error / warning"]


@dataclass(frozen=True)
class RunReport:
    """What a run did: each config's outcome in the order they ran, why they ran, each one beside the previous
    config of its family, and the judge after them. report.json is its `to_json()`."""

    outcomes: tuple[Outcome, ...]
    chosen: Chosen
    finished: str  # ISO 8601, UTC
    comparisons: Mapping[str, FamilyComparison] = field(default_factory=dict)
    judge: JudgeReport | None = None
    judge_skipped: str = ""  # why the judge set in [tool.haha] did not score after this run
    path: Path | None = None  # where report.json was written

    @property
    def failed(self) -> bool:
        return any(outcome.failed for outcome in self.outcomes)

    @property
    def interrupted(self) -> bool:
        return any(outcome.interrupted for outcome in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        """report.json: every config's outcome, and (`previous`) its signals beside the previous config of its
        family."""
        configs = []
        for outcome in self.outcomes:
            entry = outcome.to_json()
            comparison = self.comparisons.get(outcome.config)
            entry["previous"] = None if comparison is None else {
                "config": comparison.previous, "caveat": comparison.caveat, "signals": [
                    {"signal": r.label, "previous": r.previous, "current": r.current, "change": r.change}
                    for r in comparison.rows]}
            configs.append(entry)
        judge = self.judge
        return {"finished": self.finished, "configs": configs,
                "judge": None if judge is None else {
                    "judge": judge.judge.model_dump(), "scored": judge.scored, "current": judge.current,
                    "seconds": round(judge.seconds, 1)},
                "judge_skipped": self.judge_skipped}


def write_report(report: RunReport, path: Path) -> None:
    write_atomic(path, json.dumps(report.to_json(), indent=2))


def train_loss(outcome: Outcome) -> str:
    """The training loss from its first logged step to its last, or "" when the config did not train."""
    return (loss_change(outcome.train.record.losses) or "") if outcome.train else ""


def trained_on(outcome: Outcome) -> str:
    """The GPUs the training held and for how long (the eval's share is in the results file's meta.cost)."""
    if outcome.train is None:
        return ""
    return outcome.train.record.cost().describe()


def warnings_of(outcome: Outcome) -> tuple[str, ...]:
    return outcome.train.warnings if outcome.train else ()


def first_problem(outcome: Outcome) -> str:
    """The error's first line, else the first warning's: what the table's last column shows."""
    if outcome.error:
        return outcome.error.strip().splitlines()[0]
    warnings = warnings_of(outcome)
    return f"warning: {warnings[0]}" if warnings else ""


def outcome_table(outcomes: Sequence[Outcome]) -> list[list[str]]:
    """Rows for the terminal table and the job summary: one per config, a column per stage."""
    return [[outcome.config, *(str(outcome.stages[name]) for name in StageName), train_loss(outcome),
             trained_on(outcome), first_problem(outcome)] for outcome in outcomes]


def sample_table(samples: Sequence[Sample], before: str = "base model") -> tuple[list[str], list[list[str]]]:
    """Header and rows of the sample completions; the model it started from beside fine-tuned when the run made
    both."""
    if all(s.base is not None for s in samples):
        return (["prompt", "temperature", before, "fine-tuned"],
                [[s.prompt, str(s.temperature), s.base or "", s.completion] for s in samples])
    return ["prompt", "temperature", "completion"], [[s.prompt, str(s.temperature), s.completion] for s in samples]


def training_sample_table(samples: Sequence[TrainingSample]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the samples Axolotl generated during training, step by step: how completions changed."""
    return ["step", "prompt", "generated"], [[str(s.step), s.prompt.strip(), s.generated.strip()] for s in samples]


def packing_line(record: TrainRecord) -> str:
    if record.packing_efficiency is None:
        return ""
    return f"sample packing filled {round(record.packing_efficiency * 100)} % of the token slots (Axolotl's estimate)"


def eval_headlines(outcome: Outcome) -> list[str]:
    """The eval tasks' figures from the config's results file (none when it was not evaluated or is unreadable)."""
    if outcome.evaluation is None:
        return []
    try:
        return headlines(load_results(outcome.evaluation.results_path).evals)
    except ResultsError:
        return []


def family_comparisons(outcomes: Sequence[Outcome]) -> dict[str, FamilyComparison]:
    """Each evaluated config's signals beside the previous config of its family (from the same results folder)."""
    found = {}
    for outcome in outcomes:
        evaluation = outcome.evaluation
        if evaluation is None:
            continue
        try:
            doc = load_results(evaluation.results_path)
        except ResultsError:
            continue
        comparison = compare_with_previous(evaluation.results_path.parent, outcome.config, doc)
        if comparison is not None:
            found[outcome.config] = comparison
    return found


def markdown_summary(outcomes: Sequence[Outcome], comparisons: Mapping[str, FamilyComparison] | None = None) -> str:
    """The job summary GitHub Actions shows for the run."""
    lines = table(TABLE_HEADER, outcome_table(outcomes))
    for outcome in outcomes:
        name = cell(outcome.config)  # a misnamed config file is reported too, so even the name is escaped
        if warnings := warnings_of(outcome):
            lines += ["", f"**{name}**: warnings", "", *(f"- {cell(warning)}" for warning in warnings)]
        if comparison := (comparisons or {}).get(outcome.config):
            lines += ["", f"**{name}** beside **{cell(comparison.previous)}**, the previous config of its family",
                      "", *table(["signal", comparison.previous, outcome.config, "change"],
                                 [[r.label, r.previous, r.current, r.change] for r in comparison.rows])]
            if comparison.caveat:
                lines += ["", f"> {cell(comparison.caveat)}"]
        if outcome.train and (packing := packing_line(outcome.train.record)):
            lines += ["", f"**{name}**: {packing}"]
        if evals := eval_headlines(outcome):
            lines += ["", f"**{name}**: evals", "", *(f"- {cell(line)}" for line in evals)]
        if outcome.train and outcome.train.record.samples:
            header, rows = training_sample_table(outcome.train.record.samples)
            lines += ["", f"**{name}**: samples generated during training", "", *table(header, rows)]
        if outcome.evaluation and outcome.evaluation.samples:
            header, rows = sample_table(outcome.evaluation.samples, outcome.evaluation.before)
            lines += ["", f"**{name}**: sample completions (seed 1)", "", *table(header, rows)]
        if outcome.error:
            lines += ["", f"<details><summary>{name} failed</summary>", "", fenced(outcome.error), "", "</details>"]
    return "\n".join(lines) + "\n"
