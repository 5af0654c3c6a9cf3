"""The judge across configs: `[tool.haha] judge` scores every results file's sweep completions.

Runs after a `haha run` (and as `haha judge`): the judge is a reward config of the repo, so it
must have been trained, published and evaluated first. Each results file gets a top-level
`judge` block naming the judge's adapter revision and the sweep spec it scored; a file already
scored by this revision for its current sweep is left alone, so a new judge revision rescores
everything and old scores are never mixed with new ones.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field

from pipeline.core.files import write_atomic
from pipeline.core.runs import AdapterRef
from pipeline.evaluate.best_of_n import rounded_mean, score_batched
from pipeline.evaluate.model import ModelHandle, load_model
from pipeline.formats.results import JudgeScores, ResultsDoc, ResultsError, dumps_results, load_results
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.evaluating import scorer_for
from pipeline.orchestration.state import Status, Step, ignore
from pipeline.results.scan import results_files


@dataclass
class JudgeReport:
    judge: AdapterRef
    scored: list[str] = field(default_factory=list)  # results files scored now
    current: list[str] = field(default_factory=list)  # already scored by this judge revision
    seconds: float = 0.0


def needs_scores(doc: ResultsDoc, judge: AdapterRef) -> bool:
    """A sweep this judge revision has not scored for its current spec. A sweep with pictures is never scored: the
    reward model reads text, and would score captions without seeing what they caption."""
    if not doc.results or doc.has_pictures:
        return False
    spec = doc.meta.eval_sha256 if doc.meta else None
    return doc.judge is None or doc.judge.judge != judge or doc.judge.eval_sha256 != spec


def score_sweep(scorer: ModelHandle, doc: ResultsDoc, judge: AdapterRef, batch_size: int) -> JudgeScores:
    """The judge's reward for every completion, nested as the results hold them."""
    prompts, answers = [], []
    for prompt in doc.results:
        for setting in prompt.settingsResults:
            prompts += [prompt.label] * len(setting.completions)
            answers += setting.completions
    rewards = iter(score_batched(scorer, prompts, answers, batch_size))
    nested = [[[round(next(rewards), 4) for _ in setting.completions] for setting in prompt.settingsResults]
              for prompt in doc.results]
    flat = [reward for settings in nested for seeds in settings for reward in seeds]
    return JudgeScores(judge=judge, eval_sha256=doc.meta.eval_sha256 if doc.meta else None,
                       mean_reward=rounded_mean(flat), n=len(flat), rewards=nested)


def judge_results(ctx: RunContext, on_status: Status = ignore,
                  only: Collection[str] | None = None) -> JudgeReport | None:
    """Score every results file the judge has not scored yet (of the configs `only` names, and the base-model
    references, when given); None when no judge is set."""
    if not ctx.settings.judge:
        return None
    clock = time.monotonic()
    scorer_ref = scorer_for(ctx, ctx.settings.config_dir / f"{ctx.settings.judge}.yml", "the judge")
    judge = scorer_ref.ref
    report = JudgeReport(judge)
    scorer: ModelHandle | None = None
    configs, references = results_files(ctx.results_dir)
    configs = [path for path in configs if only is None or path.stem in only]
    files = [*configs, *references]
    for done, path in enumerate(files):
        try:
            doc = load_results(path)
        except ResultsError:
            continue  # the index reports unreadable files; the judge scores what it can read
        if not needs_scores(doc, judge):
            report.current += [path.stem] if doc.results and not doc.has_pictures else []
            continue
        if scorer is None:
            on_status(Step(f"loading the judge {judge.basename}"))
            scorer = load_model(scorer_ref.base_model, scorer_ref.adapter_dir, scorer=True)
        on_status(Step("judge scoring results files", done, len(files), path.stem))
        scores = score_sweep(scorer, doc, judge, ctx.eval.batch_size)
        write_atomic(path, dumps_results(doc.model_copy(update={"judge": scores})))
        report.scored.append(path.stem)
    if report.scored:
        on_status(Step("judge scoring results files", len(files), len(files)))
    report.seconds = time.monotonic() - clock
    return report
