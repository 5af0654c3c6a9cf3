"""`haha evaluate --base`: the base model's own sweep, made once per base model, eval spec and prompt format,
and shown in the index as the reference row fine-tunes are read against."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core.settings import load_settings
from pipeline.orchestration.context import EvalOptions, make_context
from pipeline.orchestration.runner import run_stages
from pipeline.orchestration.stages import BaseReferenceStage, single
from pipeline.results.readme import render_readme
from pipeline.results.scan import scan_results


def test_the_base_reference_is_made_once_and_indexed_as_a_reference(haha_repo: Path, tiny_model_dir: Path,
                                                                     tmp_path: Path) -> None:
    settings = load_settings(haha_repo)
    ctx = make_context(settings, workspace=tmp_path / "ws",
                       eval_options=EvalOptions(base_model=str(tiny_model_dir), max_new_tokens=4))
    config = settings.config_dir / "jokes-001.yml"
    first = run_stages(ctx, config, single(BaseReferenceStage()))
    assert not first.failed, first.error
    assert first.stages["evaluate"] == "evaluated"
    assert first.evaluation is not None
    path = first.evaluation.results_path
    assert path.parent == settings.results_dir / "base"
    meta = json.loads(path.read_text())["meta"]
    assert (meta["reference"], meta["base_model"], meta["adapter_source"]) == ("base", str(tiny_model_dir), None)

    again = run_stages(ctx, config, single(BaseReferenceStage()))
    assert again.stages["evaluate"] == "skipped" and again.evaluation is not None
    assert again.evaluation.results_path == path  # the same base model, spec and prompt format: one reference

    dry = config.read_text().replace("chatml", "chatml\ndefault_system_message: Be dry.")
    (config.parent / "jokes-002.yml").write_text(dry)
    other = run_stages(ctx, config.parent / "jokes-002.yml", single(BaseReferenceStage()))
    assert other.evaluation is not None and other.evaluation.results_path != path  # another prompt format

    scan = scan_results(settings.results_dir)
    assert [(e.name, e.reference) for e in scan.entries] == [
        (f"base/{p.stem}", True) for p in sorted((settings.results_dir / "base").glob("*.json"))]
    assert "(base model, no adapter)" in render_readme(scan)
