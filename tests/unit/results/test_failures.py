"""A config whose runs keep failing stops taking a GPU job on every push: `haha run` counts its failures in
`<basename>.failed.json`, the commit job keeps the record, and after three in a row of the same config the
plan leaves it out, the index lists it, and only a dispatch naming it runs it again."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config.loading import config_sha256
from pipeline.core.settings import load_settings
from pipeline.formats.results import ResultsDoc, dumps_results
from pipeline.gitops.collect import collect_results
from pipeline.orchestration.validation import validate
from pipeline.results.failures import (
    GIVE_UP_AFTER,
    failure_path,
    note_outcomes,
    read_failure,
    record_failure,
)
from pipeline.results.page import index_payload
from pipeline.results.pending import pending, verdicts
from pipeline.results.readme import render_readme
from pipeline.results.scan import scan_results


def test_failures_count_in_a_row_per_config_hash_and_a_success_clears_them(haha_repo: Path) -> None:
    config = haha_repo / "train" / "config" / "jokes-001.yml"
    results = haha_repo / "train" / "results"
    for count in range(1, GIVE_UP_AFTER + 1):
        note_outcomes(results, [(config, f"train: it broke\nmore detail {count}")], run_id="4242")
        record = read_failure(results, "jokes-001")
        assert record is not None and record.count == count and record.reason == "train: it broke"
    assert record.last_run == "4242" and record.gives_up(config_sha256(config))
    config.write_text(config.read_text() + "learning_rate: 0.0003\n")  # a changed config starts counting again
    assert not record.gives_up(config_sha256(config))
    assert record_failure(results, "jokes-001", config_sha256(config), "again").count == 1
    note_outcomes(results, [(config, None)])
    assert not failure_path(results, "jokes-001").exists()


def test_three_failures_in_a_row_leave_a_config_out_of_pending(haha_repo: Path) -> None:
    config = haha_repo / "train" / "config" / "jokes-001.yml"
    results = haha_repo / "train" / "results"
    for _ in range(GIVE_UP_AFTER - 1):
        note_outcomes(results, [(config, "evaluate: out of memory")], run_id="4242")
    assert [p.path for p in pending([config], results)] == [config]
    note_outcomes(results, [(config, "evaluate: out of memory")], run_id="4242")
    assert pending([config], results) == []
    [(_, verdict)] = verdicts([config], results)
    assert verdict.note == ("failed 3 runs in a row (last: run 4242): evaluate: out of memory; not retried: change "
                            "it, or run it by dispatch")


def _results_text(name: str) -> str:
    return dumps_results(ResultsDoc.model_validate({"config": {"name": name}, "results": []}))


def test_the_commit_job_keeps_a_failure_record_until_the_config_runs_through(tmp_path: Path) -> None:
    results = tmp_path / "results"
    record = record_failure(tmp_path / "job", "jokes-001", "a" * 64, "train: it broke")
    failed = tmp_path / "up-1" / "results-jokes-001"
    failed.mkdir(parents=True)
    (failed / "jokes-001.failed.json").write_text(record.model_dump_json())
    (failed / "jokes-001.json").write_text(_results_text("jokes-001"))  # the results its checkout had
    assert sorted(collect_results([failed], results).copied) == ["jokes-001.failed.json", "jokes-001.json"]
    assert read_failure(results, "jokes-001") == record
    ran = tmp_path / "up-2" / "results-jokes-001"
    ran.mkdir(parents=True)
    (ran / "jokes-001.json").write_text(_results_text("jokes-001"))
    collect_results([ran], results)
    assert not failure_path(results, "jokes-001").exists()
    forged = tmp_path / "up-3" / "results-jokes-001"
    forged.mkdir(parents=True)
    (forged / "jokes-001.failed.json").write_text('{"count": 1, "count": 9}')
    [why] = collect_results([forged], results).refused
    assert "jokes-001.failed.json is not a readable failure record" in why


def test_the_index_lists_failing_configs_and_validate_accepts_their_records(haha_repo: Path) -> None:
    config = haha_repo / "train" / "config" / "jokes-001.yml"
    results = haha_repo / "train" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "jokes-001.json").write_text(_results_text("jokes-001"))
    note_outcomes(results, [(config, "validate: <b>bad</b> [x](https://evil.example)")], run_id="4242")
    scan = scan_results(results)
    assert [entry.name for entry in scan.entries] == ["jokes-001"] and scan.broken == []
    readme = render_readme(scan)
    assert "## Failing configs" in readme
    assert ("- `jokes-001`: failed 1 runs in a row (last: run 4242): validate: &lt;b>bad&lt;/b> "
            "\\[x\\](https\\://evil.example)") in readme
    assert index_payload(scan)["failed"] == [
        "jokes-001: failed 1 runs in a row (last: run 4242): validate: <b>bad</b> [x](https://evil.example)"]
    report = validate([str(config)], load_settings(haha_repo), count_lengths=False)
    assert [p for p in report.problems if p.file.startswith("train/results")] == []
    (results / "jokes-001.failed.json").write_text(json.dumps({"count": "many"}))
    report = validate([str(config)], load_settings(haha_repo), count_lengths=False)
    assert [(p.file, p.key) for p in report.problems if p.file.startswith("train/results")] == [
        ("train/results/jokes-001.failed.json", "failure record")]
