"""`haha_parent`: the rules a parent must meet, the order parents run in, and when a child is pending again."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config.effective import ParentModel, RunPlan, effective_config
from pipeline.config.lineage import needs_first, own_needs
from pipeline.config.loading import load_config
from pipeline.core.files import write_atomic
from pipeline.core.runs import AdapterRef
from pipeline.core.settings import load_settings
from pipeline.formats.results import ConfigBlock, Meta, ResultsDoc, config_block, dumps_results
from pipeline.formats.tracking import WandbMode
from pipeline.orchestration.validation import validate
from pipeline.results.pending import PARENT_CHANGED, PARENT_PENDING, pending, verdicts, with_pending_needs
from tests.support.repo_edits import write_config


def write_results(repo: Path, config: Path, revision: str = "rev-a", parent: AdapterRef | None = None,
                  finished: bool = True) -> None:
    """A finished results file for the config as it is now, made by the results writer."""
    loaded = load_config(config)
    meta = Meta(config_sha256=loaded.sha256, hub_repo=f"haha-lab/{config.stem}", hub_revision=revision,
                finished="2026-11-20T10:00:00+00:00" if finished else None, parent=parent)
    doc = ResultsDoc(config=ConfigBlock(**config_block(config.stem, loaded.data)), results=[], meta=meta)
    write_atomic(repo / "train" / "results" / f"{config.stem}.json", dumps_results(doc))


def errors_of(repo: Path, path: Path) -> list[tuple[int | None, str, str]]:
    report = validate([str(path)], load_settings(repo), check_eval_file=False, count_lengths=False)
    return [(p.line, p.key, p.message) for p in report.problems if p.severity == "error"]


def test_a_child_of_a_real_parent_validates_and_haha_parent_is_not_an_unknown_key(haha_repo: Path) -> None:
    child = write_config(haha_repo, "jokes-dpo-001", haha_parent="jokes-001")
    assert errors_of(haha_repo, child) == []


@pytest.mark.parametrize(("parent", "changes", "key", "message"), [
    ("jokes-dpo-001", {}, "haha_parent", "a config cannot start from itself"),
    ("jokes-404", {}, "haha_parent", "no readable config jokes-404.yml"),
    ("Not A Name", {}, "haha_parent", "must be the basename of another config"),
    ("jokes-001", {"base_model": "someone/else"}, "base_model", "must be jokes-001's base_model"),
    ("jokes-001", {"lora_model_dir": "./adapter"}, "lora_model_dir", "leave it out"),
])
def test_parent_problems_name_the_key_and_line(haha_repo: Path, parent: str, changes: dict[str, object], key: str,
                                               message: str) -> None:
    child = write_config(haha_repo, "jokes-dpo-001", haha_parent=parent, **changes)
    lines = child.read_text().splitlines()
    found = [(line, k, m) for line, k, m in errors_of(haha_repo, child) if k == key]
    assert found and message in found[0][2], errors_of(haha_repo, child)
    assert lines[found[0][0] - 1].startswith(f"{key}:")


def test_a_parent_loop_and_a_reward_model_parent_are_refused(haha_repo: Path) -> None:
    write_config(haha_repo, "jokes-a-001", haha_parent="jokes-b-001")
    b = write_config(haha_repo, "jokes-b-001", haha_parent="jokes-a-001")
    assert any("loops: jokes-b-001 → jokes-a-001 → jokes-b-001" in m for _, _, m in errors_of(haha_repo, b))
    write_config(haha_repo, "jokes-rm-001", reward_model=True)
    child = write_config(haha_repo, "jokes-c-001", haha_parent="jokes-rm-001")
    assert any("trains a reward model" in m for _, _, m in errors_of(haha_repo, child))


def test_the_effective_config_drops_haha_parent_and_trains_on_the_merged_parent(haha_repo: Path,
                                                                                 tmp_path: Path) -> None:
    child = load_config(write_config(haha_repo, "jokes-dpo-001", haha_parent="jokes-001"))
    ref = AdapterRef(basename="jokes-001", repo_id="haha-lab/jokes-001", revision="0123456789abcdef")
    plan = RunPlan(tmp_path / "adapter", tmp_path / "prepared", haha_repo / "train" / "data", WandbMode.DISABLED,
                   parent=ParentModel(ref, tmp_path / "merged"))
    effective, overrides = effective_config(child.data, "jokes-dpo-001", load_settings(haha_repo), plan)
    assert "haha_parent" not in effective
    assert effective["base_model"] == str(tmp_path / "merged")
    shown = [str(o) for o in overrides]
    assert "haha_parent: 'jokes-001' -> None (read by haha, not Axolotl)" in shown
    assert any(line.startswith("base_model: 'haha-test/not-a-real-model' -> ") and
               "jokes-001's adapter 0123456789ab merged into haha-test/not-a-real-model" in line for line in shown)


def test_needs_first_puts_parents_before_children_and_keeps_the_rest_in_order(tmp_path: Path) -> None:
    paths = [tmp_path / f"{name}.yml" for name in ("a-001", "c-001", "b-001", "d-001")]
    needs = {"a-001": ["b-001"], "b-001": ["c-001"], "d-001": ["zz-001"]}
    ordered = needs_first(paths, lambda path: needs.get(path.stem, []))
    assert [p.stem for p in ordered] == ["c-001", "b-001", "a-001", "d-001"]


def test_pending_lists_a_parent_before_its_child_whatever_their_names(haha_repo: Path) -> None:
    config_dir = haha_repo / "train" / "config"
    write_config(haha_repo, "aaa-dpo-001", haha_parent="jokes-001")
    found = pending(sorted(config_dir.glob("*.yml")), haha_repo / "train" / "results")
    assert [p.path.stem for p in found] == ["jokes-001", "aaa-dpo-001"]
    assert found[1].reason == "no results"  # its own reason first; the parent's is for a child that has results


def test_a_child_is_pending_again_when_its_parent_publishes_another_adapter(haha_repo: Path) -> None:
    parent = haha_repo / "train" / "config" / "jokes-001.yml"
    child = write_config(haha_repo, "jokes-dpo-001", haha_parent="jokes-001")
    write_results(haha_repo, parent, revision="rev-a")
    write_results(haha_repo, child, parent=AdapterRef(basename="jokes-001", repo_id="haha-lab/jokes-001",
                                                      revision="rev-a"))
    results = haha_repo / "train" / "results"
    assert [v.reason for _, v in verdicts([parent, child], results)] == [None, None]
    write_results(haha_repo, parent, revision="rev-b")  # the parent was retrained and published again
    judged = dict(verdicts([parent, child], results))
    assert judged[parent].reason is None
    changed = PARENT_CHANGED.format(key="haha_parent", parent="jokes-001")
    assert judged[child].reason == f"{changed} (adapter rev-a → rev-b)"
    parent.write_text(parent.read_text() + "learning_rate: 0.0002\n")  # the parent's config changes: pending both
    judged = dict(verdicts([parent, child], results))
    assert judged[parent].reason is not None
    assert (judged[child].reason or "").startswith(PARENT_PENDING.format(key="haha_parent", parent="jokes-001"))


def test_an_explicit_run_pulls_in_a_pending_parent_first(haha_repo: Path) -> None:
    child = write_config(haha_repo, "jokes-dpo-001", haha_parent="jokes-001")
    grandchild = write_config(haha_repo, "jokes-dpo-002", haha_parent="jokes-dpo-001")
    ordered, added = with_pending_needs([grandchild], haha_repo / "train" / "results", own_needs)
    assert [p.stem for p in ordered] == ["jokes-001", "jokes-dpo-001", "jokes-dpo-002"]
    assert [p.path.stem for p in added] == ["jokes-dpo-001", "jokes-001"]
    write_results(haha_repo, haha_repo / "train" / "config" / "jokes-001.yml")
    ordered, added = with_pending_needs([child], haha_repo / "train" / "results", own_needs)
    assert [p.stem for p in ordered] == ["jokes-dpo-001"] and added == []  # a done parent is not run again


def test_a_chain_of_parents_and_a_reward_model_with_a_parent_are_refused(haha_repo: Path) -> None:
    write_config(haha_repo, "jokes-dpo-001", haha_parent="jokes-001")
    grandchild = write_config(haha_repo, "jokes-dpo-002", haha_parent="jokes-dpo-001")
    assert any("jokes-dpo-001 starts from jokes-001 itself" in m for _, _, m in errors_of(haha_repo, grandchild))
    reward = write_config(haha_repo, "jokes-rm-001", haha_parent="jokes-001", reward_model=True)
    assert any("a reward model cannot start from a parent" in m for _, _, m in errors_of(haha_repo, reward))
