"""The results file format: old files load and round-trip, new ones carry meta, writes are atomic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.core.files import write_atomic
from pipeline.formats.results import (
    CONFIG_KEYS,
    ConfigBlock,
    Meta,
    PromptResult,
    ResultsDoc,
    ResultsError,
    SettingResult,
    config_block,
    diversity,
    dumps_results,
    load_results,
    parse_results,
    repeated_share,
)
from tests.support.sample_results import results_doc, write_doc


def test_config_block_names_every_key_in_order_and_nulls_the_unset() -> None:
    block = config_block("haha-017", {"learning_rate": 0.000095, "lora_r": 32, "base_model": "not echoed"})
    assert list(block) == ["name", *CONFIG_KEYS]
    assert block["name"] == "haha-017"
    assert (block["learning_rate"], block["lora_r"], block["adapter"]) == (0.000095, 32, None)
    assert "base_model" not in block


@pytest.mark.parametrize(("by_prompt", "share"), [
    ([["a", "a", "b"]], 2 / 3),
    ([["a", "b", "c"], ["x", "x", "x"]], 0.5),
    ([["same", "same"], ["same", "other"]], 0.5),  # identical across prompts does not count
    ([["a", "b"]], 0.0),
    ([], 0.0),
])
def test_repeated_share(by_prompt: list[list[str]], share: float) -> None:
    assert repeated_share(by_prompt) == pytest.approx(share)


def test_diversity_is_per_setting_in_first_seen_order() -> None:
    doc = ResultsDoc.model_validate(results_doc("haha-001", meta=False, repeat_cold=True))
    figures = diversity(doc.results)
    assert [f.setting for f in figures] == [{"temperature": 0.1}, {"temperature": 0.9, "top_p": 0.95}]
    assert [f.repeated_share for f in figures] == [0.6667, 0.0]


def test_old_format_file_loads_and_round_trips_unchanged(tmp_path: Path) -> None:
    raw = results_doc("haha-old-003", meta=False)
    raw["results"][0]["settingsResults"][0]["note"] = "kept"  # keys this code does not know survive
    path = write_doc(tmp_path, "haha-old-003", raw)
    doc = load_results(path)
    assert doc.meta is None
    assert doc.config.name == "haha-old-003"
    assert doc.results[0].settingsResults[1].setting == {"temperature": 0.9, "top_p": 0.95}
    assert dumps_results(doc) == path.read_text(encoding="utf-8")


def test_new_format_round_trips_byte_for_byte(tmp_path: Path) -> None:
    raw = results_doc("haha-017")
    raw["config"]["learning_rate"] = "1e-5"  # PyYAML reads this as a string; it stays one
    raw["results"][0]["settingsResults"][0]["completions"][0] = "Ünïcödé \"quotes\" </script>"
    raw["meta"]["hub_revision"] = None
    path = write_doc(tmp_path, "haha-017", raw)
    doc = load_results(path)
    assert doc.meta is not None and doc.meta.seeds == [1, 2, 3]
    assert doc.config.learning_rate == "1e-5" and doc.config.load_in_8bit is True and doc.config.lora_r == 32
    assert dumps_results(doc) == path.read_text(encoding="utf-8")


def test_dumps_orders_config_results_meta_and_writes_fields_set_later() -> None:
    meta = Meta(base_model="tiny")
    meta.finished = "2025-03-02T10:00:00+00:00"
    doc = ResultsDoc(
        meta=meta,
        results=[PromptResult(prompt="p", settingsResults=[SettingResult(temperature=0.1, completions=["a"])])],
        config=ConfigBlock(**config_block("haha-001", {})),
    )
    data = json.loads(dumps_results(doc))
    assert list(data) == ["config", "results", "meta"]
    assert data["meta"] == {"base_model": "tiny", "finished": "2025-03-02T10:00:00+00:00"}


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "haha-bad.json: top level: not JSON: Expecting property name enclosed in double quotes at line 1"),
    ('{"config": {"name": "x"}}', "haha-bad.json: results: Field required"),
    ('{"config": {"name": "x"}, "results": [{"prompt": 3}]}', "results.0.prompt: Input should be a valid string "
                                                               "(and 1 more problem)"),
])
def test_broken_files_raise_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "haha-bad.json"
    path.write_text(text)
    with pytest.raises(ResultsError, match=r"^haha-bad\.json: ") as caught:
        load_results(path, display="haha-bad.json")
    assert message in str(caught.value)


def test_missing_file_is_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="cannot read"):
        load_results(tmp_path / "absent.json")


def test_parse_results_accepts_text() -> None:
    assert parse_results(json.dumps(results_doc("haha-001")), "x").config.name == "haha-001"


def test_write_atomic_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "haha-001.json"
    write_atomic(path, "first")
    write_atomic(path, "second ✓")
    assert path.read_text(encoding="utf-8") == "second ✓"
    assert [p.name for p in path.parent.iterdir()] == ["haha-001.json"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_atomic_failure_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "haha-001.json"
    write_atomic(path, "old")

    def refuse(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["haha-001.json"]


def test_quality_signals_per_setting() -> None:
    from pipeline.evaluate.quality import distinct_2, quality
    from pipeline.formats.results import PromptResult, SettingResult

    results = [PromptResult(prompt="p", settingsResults=[
        SettingResult(temperature=0.1, completions=["", "", "a cat sat"]),
        SettingResult(temperature=0.9, completions=["the cat sat down", "the cat sat down", "dogs bark loud"]),
    ])]
    cold, warm = quality(results, {(0, 1, 0): True, (0, 1, 1): True})
    assert (cold.completions, cold.empty_share, cold.repeated_share) == (3, 0.6667, 0.0)  # two empties: no repeat
    assert cold.never_stopped_share == 0.0 and cold.mean_chars == 3.0
    assert warm.never_stopped_share == 0.6667 and warm.repeated_share == 0.6667 and warm.empty_share == 0.0
    assert warm.distinct_2 == round(distinct_2(["the cat sat down", "the cat sat down", "dogs bark loud"]), 4) == 0.625
    assert quality(results)[0].never_stopped_share is None  # not recorded: unknown, not zero
