"""Which configs an LLM judge compares, and where its verdicts land (judges/ has the rules and the calls).

A newly evaluated config is compared with the previous config of its family and with its base-model reference
(the same base model, sweep spec and prompt format, without an adapter); `haha judge A B` compares any two. The
verdicts go into the first config's results file under `judgments`, one entry per judge and opponent, replaced
when judged again; the answers behind them are cached under `<results>/judgments/<judge>/`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import UsageError
from pipeline.core.files import write_atomic
from pipeline.core.judge_settings import LlmJudgeSettings
from pipeline.core.retry import Backoff
from pipeline.core.settings import Settings, results_path
from pipeline.formats.results import PairwiseJudgment, ResultsDoc, ResultsError, dumps_results, load_results
from pipeline.judges.cache import AnswerCache
from pipeline.judges.client import ChatJudge
from pipeline.judges.prompt import load_template
from pipeline.judges.run import Comparison, JudgingOutcome, judge_comparisons
from pipeline.results.family import previous_in_family
from pipeline.results.scan import results_files

JUDGMENTS = "judgments"


@dataclass(frozen=True)
class Opponent:
    name: str  # a config's basename, or `base/<file stem>` for a base-model reference
    path: Path


def llm_judge(settings: Settings, name: str | None) -> tuple[str, LlmJudgeSettings]:
    """The LLM judge `name`, or the only one declared; a UsageError says which exist."""
    declared = {key: judge for key, judge in settings.judges.items() if isinstance(judge, LlmJudgeSettings)}
    if name is not None:
        if name not in declared:
            raise UsageError(f"no LLM judge {name!r} in [tool.haha.judges]; declared: "
                             f"{', '.join(declared) or 'none'}")
        return name, declared[name]
    if len(declared) != 1:
        known = f"declared: {', '.join(declared)}" if declared else 'declare one with kind = "llm"'
        raise UsageError(f"name the judge with --judge; {known}")
    return next(iter(declared.items()))


def base_reference(results_dir: Path, doc: ResultsDoc) -> Opponent | None:
    """The base model's reference made for the same sweep spec and prompt format as `doc`, if one is finished."""
    meta = doc.meta
    if meta is None or not meta.base_model:
        return None
    for path in sorted((results_dir / "base").glob("*.json")):
        try:
            ref = load_results(path).meta
        except ResultsError:
            continue
        if (ref is not None and ref.finished and ref.reference == "base" and ref.base_model == meta.base_model
                and ref.eval_sha256 == meta.eval_sha256 and ref.prompt_example == meta.prompt_example):
            return Opponent(f"base/{path.stem}", path)
    return None


def opponents(results_dir: Path, basename: str, doc: ResultsDoc) -> list[Opponent]:
    """What a newly evaluated config is judged against: its family's previous config and its base reference."""
    found = []
    if (previous := previous_in_family(results_dir, basename)) is not None:
        found.append(Opponent(previous[0], results_path(results_dir, previous[0])))
    if (reference := base_reference(results_dir, doc)) is not None:
        found.append(reference)
    return found


def _load(path: Path, who: str) -> ResultsDoc:
    try:
        doc = load_results(path)
    except ResultsError as exc:
        raise UsageError(f"{who}: {exc}") from None
    if not doc.results:
        raise UsageError(f"{who}: {path} has no sweep completions to judge")
    return doc


def comparisons(results_dir: Path, basenames: Sequence[str], against: str | None = None) -> list[Comparison]:
    """Each config in `basenames` against `against` when given, else against its opponents."""
    found = []
    for basename in basenames:
        doc = _load(results_path(results_dir, basename), basename)
        others = [Opponent(against, results_path(results_dir, against))] if against else opponents(
            results_dir, basename, doc)
        found += [Comparison(basename, other.name, doc, _load(other.path, other.name)) for other in others]
    return found


def record(results_dir: Path, judgments: Sequence[tuple[Comparison, PairwiseJudgment]]) -> list[Path]:
    """Each judgment into its config's results file, replacing the one by the same judge against the same other."""
    written = []
    by_config: dict[str, list[PairwiseJudgment]] = {}
    for comparison, judgment in judgments:
        by_config.setdefault(comparison.this, []).append(judgment)
    for basename, fresh in by_config.items():
        path = results_path(results_dir, basename)
        doc = load_results(path)
        replaced = {(j.judge, j.other) for j in fresh}
        kept = [j for j in doc.judgments if (j.judge, j.other) not in replaced]
        write_atomic(path, dumps_results(doc.model_copy(update={"judgments": [*kept, *fresh]})))
        written.append(path)
    return written


def judge_with_llm(settings: Settings, results_dir: Path, judge_name: str | None,
                   basenames: Sequence[str] | None = None, against: str | None = None, backoff: Backoff | None = None,
                   on_progress: Callable[[int, int], None] = lambda _done, _total: None) -> JudgingOutcome:
    """Judge `basenames` (default: every config with results) against `against`, or against their opponents;
    cache every answer, record complete verdicts."""
    name, judge_settings = llm_judge(settings, judge_name)
    if basenames is None:
        basenames = [path.stem for path in results_files(results_dir)[0]]
    template = load_template(settings.root, judge_settings.prompt, judge_settings.prompt_sha256)
    judge = ChatJudge(name, judge_settings, backoff or Backoff())
    cache = AnswerCache(results_dir / JUDGMENTS / name)
    outcome = judge_comparisons(judge, template, cache, comparisons(results_dir, basenames, against), on_progress)
    record(results_dir, outcome.judgments)
    return outcome
