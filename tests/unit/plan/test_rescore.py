"""A judge change rescores everything: the plan adds a rescoring job after the waves when the judge trains in
the run (or scores of another revision are committed), and the commit job takes from that job's upload only
the judge blocks of results files it already has."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipeline.core.runs import AdapterRef
from pipeline.core.settings import load_settings
from pipeline.formats.results import JudgeScores, Meta, ResultsDoc, dumps_results
from pipeline.gitops.collect import apply_rescored
from pipeline.orchestration.planning import plan_pending, rescore_job

OLD, NEW = "1" * 40, "2" * 40


def doc(name: str, completion: str = "A pun.", judged_by: str | None = None, revision: str = NEW) -> ResultsDoc:
    """A results file as the eval writes it, scored by the judge at `judged_by` when given."""
    judge = None if judged_by is None else JudgeScores(
        judge=AdapterRef(basename="jokes-001", repo_id="haha-lab/jokes-001", revision=judged_by), mean_reward=0.5,
        n=1, rewards=[[[0.5]]])
    return ResultsDoc.model_validate({
        "config": {"name": name},
        "results": [{"prompt": "It was hot.", "settingsResults": [{"temperature": 0.7, "completions": [completion]}]}],
        "meta": Meta(hub_repo=f"haha-lab/{name}", hub_revision=revision, finished="2026-01-01T00:00:00+00:00"),
        **({"judge": judge} if judge else {})})


def write(folder: Path, name: str, made: ResultsDoc) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(dumps_results(made))
    return path


def test_the_plan_rescores_after_the_waves_when_the_judge_retrains_or_scores_are_stale(haha_repo: Path) -> None:
    settings = replace(load_settings(haha_repo), judge="jokes-001")  # the judge's own config, for the test
    results = settings.results_dir
    assert plan_pending(settings).rescore is not None  # jokes-001 has no results: it trains, and then rescores
    retrained = rescore_job(settings, ["jokes-001"])
    assert retrained is not None and retrained.why == ("the judge jokes-001 trains in this run: its new revision "
                                                       "scores every results file")
    assert retrained.runs_on == ["self-hosted", "gpu"]
    write(results, "jokes-001", doc("jokes-001", judged_by=NEW, revision=NEW))  # the judge, published at NEW
    write(results, "jokes-002", doc("jokes-002", judged_by=NEW))
    assert rescore_job(settings, []) is None  # everything is scored by the current revision
    write(results, "jokes-003", doc("jokes-003", judged_by=OLD))
    stale = rescore_job(settings, [])
    assert stale is not None
    assert stale.why == f"jokes-003 not scored by the judge jokes-001 at its current revision {NEW[:12]}"
    assert rescore_job(replace(settings, judge=None), ["jokes-001"]) is None


def test_the_commit_job_takes_only_the_judge_blocks_from_the_rescoring_upload(tmp_path: Path) -> None:
    results, upload = tmp_path / "results", tmp_path / "rescored"
    here = write(results, "jokes-002", doc("jokes-002", judged_by=OLD))
    write(results / "base", "llama", doc("llama"))
    write(upload, "jokes-002", doc("jokes-002", judged_by=NEW))
    write(upload / "base", "llama", doc("llama", judged_by=NEW))
    write(upload, "jokes-003", doc("jokes-003", judged_by=NEW))  # not here: nothing to rescore
    write(upload, "jokes-004", doc("jokes-004", "another pun", judged_by=NEW))
    write(results, "jokes-004", doc("jokes-004", judged_by=OLD))  # the upload changed a completion too
    rescored, refused = apply_rescored(upload, results)
    assert rescored == ["jokes-002.json", "base/llama.json"]
    assert refused == ["jokes-003.json: no such results file here to rescore",
                       "jokes-004.json: differs in more than its judge scores"]
    assert here.read_text() == dumps_results(doc("jokes-002", judged_by=NEW))
    assert "another pun" not in (results / "jokes-004.json").read_text()


def test_until_the_rescoring_runs_the_index_shows_one_revision_and_says_which(tmp_path: Path) -> None:
    from pipeline.results.readme import render_readme
    from pipeline.results.scan import scan_results

    results = tmp_path / "results"
    for name, revision in (("jokes-001", NEW), ("jokes-002", NEW), ("jokes-003", OLD)):
        write(results, name, doc(name, judged_by=revision))
    readme = render_readme(scan_results(results))
    assert f"the judge jokes-001 at {NEW[:12]}'s mean score" in readme
    assert (f"Scores from jokes-001 at {NEW[:12]} only: jokes-003 carry another revision's (or spec's) scores until "
            "the rescoring job of the next training run scores them again.") in readme
