"""`haha sweep`: a grid written as the next configs of BASE's family, each BASE's own text with only its swept values
and a header line changed, validated, and all-or-nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pipeline.config.sweep import (
    HEADER_PREFIX,
    SweepError,
    check_size,
    grid,
    next_names,
    parse_set,
    plan_sweep,
    set_value,
    split_values,
)
from pipeline.core.errors import UsageError
from pipeline.core.naming import ConfigName, parse_config_name
from pipeline.core.settings import load_settings
from tests.support.haha_cli import HAHA, copy_repo

BASE = "haha-llama-3-8b-lora-001"


def haha(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HAHA, *args], cwd=root, env={**os.environ, "HAHA_ROOT": str(root)}, capture_output=True,
                          text=True, timeout=600)


def folder_state(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def key_line(lines: list[str], key: str) -> int:
    return next(index for index, line in enumerate(lines) if line.startswith(f"{key}:"))


def test_a_zipped_two_by_two_grid_writes_four_configs_each_base_but_its_values(tmp_path: Path) -> None:
    from pipeline.orchestration.sweeping import plan, write

    root = copy_repo(tmp_path)
    config_dir = root / "train" / "config"
    before = folder_state(config_dir)
    variables = [parse_set("learning_rate=0.0002,1e-4"), parse_set("lora_r=8,16"), parse_set("lora_alpha=16,32")]
    settings = load_settings(root)
    done = write(plan(config_dir / f"{BASE}.yml", variables, [["lora_r", "lora_alpha"]], settings), settings)
    added = sorted(set(folder_state(config_dir)) - set(before))
    assert added == [f"haha-llama-3-8b-lora-00{n}.yml" for n in (2, 3, 4, 5)] == [p.name for p in done.paths]
    assert folder_state(config_dir).items() >= before.items()  # nothing else touched
    base_lines = (config_dir / f"{BASE}.yml").read_text().splitlines(keepends=True)
    expected = [("0.0002", "8", "16"), ("0.0002", "16", "32"), ("1e-4", "8", "16"), ("1e-4", "16", "32")]
    for name, (rate, rank, alpha) in zip(added, expected, strict=True):
        lines = (config_dir / name).read_text().splitlines(keepends=True)
        header = (f"{HEADER_PREFIX}of {BASE} (haha-llama-3-8b-lora-002..005): learning_rate={rate}, lora_r={rank}, "
                  f"lora_alpha={alpha}\n")
        assert lines[0] == header
        want = list(base_lines)
        for key, value in (("learning_rate", rate), ("lora_r", rank), ("lora_alpha", alpha)):
            want[key_line(want, key)] = f"{key}: {value}\n"
        assert lines[1:] == want, name  # byte for byte: comments, blank lines, quoting and order kept


def test_dry_run_prints_the_grid_and_writes_nothing_and_a_refusal_names_its_key(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    before = folder_state(root / "train" / "config")
    done = haha(root, "sweep", f"train/config/{BASE}.yml", "--set", "lora_target_modules=[q_proj,v_proj],[k_proj]",
                "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "haha-llama-3-8b-lora-002.yml" in done.stdout and "[q_proj,v_proj]" in done.stdout
    assert "[k_proj]" in done.stdout and "would write 2 configs" in done.stdout
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text() + "\n[tool.haha.budgets]\n"
                                                                                 "sweep_configs = 3\n")
    refused = haha(root, "sweep", f"train/config/{BASE}.yml", "--set", "lora_r=8,16", "--set", "lora_dropout=0,0.1")
    assert refused.returncode == 1
    assert refused.stderr.startswith("sweep_configs: the grid's number of configs is 4, over the budget of 3 "), \
        refused.stderr
    assert folder_state(root / "train" / "config") == before


@pytest.mark.parametrize(("option", "key"), [("learning_rate=0.0002,fast", "learning_rate"),
                                             ("trust_remote_code=false,true", "trust_remote_code")])
def test_a_refused_value_writes_no_config_at_all(tmp_path: Path, option: str, key: str) -> None:
    """One config the schema or the policy refuses: the other, valid one is not kept either."""
    from pipeline.orchestration.sweeping import SweepRefused, plan, write

    root = copy_repo(tmp_path)
    config_dir = root / "train" / "config"
    before = folder_state(config_dir)
    settings = load_settings(root)
    planned = plan(config_dir / f"{BASE}.yml", [parse_set(option)], [], settings)
    with pytest.raises(SweepRefused) as refused:
        write(planned, settings)
    assert folder_state(config_dir) == before
    [problem] = refused.value.problems
    assert problem.file == "train/config/haha-llama-3-8b-lora-003.yml" and problem.key == key
    assert problem.line == key_line(planned.configs[1].text.splitlines(), key) + 1
    assert f"train/config/haha-llama-3-8b-lora-003.yml:{problem.line}: {key}:" in str(refused.value)


def test_numbers_past_999_and_grids_over_budget_are_refused_with_their_key() -> None:
    base = ConfigName("jokes", 997)
    assert [n.basename for n in next_names(base, [1, 997, 998], 1)] == ["jokes-999"]
    with pytest.raises(SweepError, match=r"^filename: family 'jokes' would need 999-1000 for 2 configs"):
        next_names(base, [998], 2)
    assignments = grid([parse_set("lora_r=1,2,3,4"), parse_set("lora_dropout=0,0.1,0.2")], [])
    assert len(assignments) == 12
    check_size(assignments, 12)
    with pytest.raises(SweepError, match=r"^sweep_configs: the grid's number of configs is 12, over the budget of "
                                         r"10 \(\[tool.haha.budgets\] sweep_configs"):
        check_size(assignments, 10)


def test_zip_moves_keys_together_and_the_first_set_varies_slowest() -> None:
    assignments = grid([parse_set("a=1,2"), parse_set("b=x,y,z"), parse_set("c=10,20")], [["a", "c"]])
    assert assignments == [{"a": "1", "c": "10", "b": "x"}, {"a": "1", "c": "10", "b": "y"},
                           {"a": "1", "c": "10", "b": "z"}, {"a": "2", "c": "20", "b": "x"},
                           {"a": "2", "c": "20", "b": "y"}, {"a": "2", "c": "20", "b": "z"}]
    with pytest.raises(UsageError, match="zipped keys need as many values each"):
        grid([parse_set("a=1,2"), parse_set("b=x,y,z")], [["a", "b"]])
    with pytest.raises(UsageError, match="--zip a,d: d has no --set"):
        grid([parse_set("a=1,2")], [["a", "d"]])
    with pytest.raises(UsageError, match="given twice"):
        grid([parse_set("a=1,2"), parse_set("a=3")], [])
    with pytest.raises(UsageError, match="a value is given twice"):
        parse_set("a=1,1")
    with pytest.raises(UsageError, match="write KEY=V1,V2"):
        parse_set("no equals sign")
    with pytest.raises(UsageError, match="spans lines"):
        parse_set("system_prompt='one\nb: 2'")
    assert split_values("[q_proj,v_proj], {a: 1, b: 2},'x,y'") == ["[q_proj,v_proj]", "{a: 1, b: 2}", "'x,y'"]


TEXT = """\
# my config
lr: 0.1  # the rate
entity:
targets:
  - q_proj  # attention
  - v_proj
# about the prompt
prompt: |
  line one
  line two
datasets:
  - path: a.jsonl
    type: {field: x}
shared: &anchor 5
copy: *anchor
"""


def test_values_are_edited_in_place_whatever_their_style() -> None:
    assert set_value(TEXT, "lr", "0.2").splitlines()[1] == "lr: 0.2  # the rate"
    assert set_value(TEXT, "entity", "me").splitlines()[2] == "entity: me"
    lists = set_value(TEXT, "targets", "[k_proj]").splitlines()
    assert lists[3:5] == ["targets: [k_proj]", "# about the prompt"]
    assert set_value(TEXT, "prompt", "short").splitlines()[6:9] == ["# about the prompt", "prompt: short", "datasets:"]
    assert set_value(TEXT, "datasets[0].type.field", "y").splitlines()[12] == "    type: {field: y}"
    assert set_value(TEXT, "weight_decay", "0.01").endswith("copy: *anchor\nweight_decay: 0.01\n")
    with pytest.raises(SweepError, match=r"^datasets\[0\]\.split: the base config does not set it"):
        set_value(TEXT, "datasets[0].split", "train")


def test_an_edit_that_would_change_another_key_is_refused_and_a_header_is_replaced_not_stacked() -> None:
    base = parse_config_name("jokes-001.yml")
    assert base is not None
    with pytest.raises(SweepError, match=r"^shared: cannot be changed in place"):
        plan_sweep(TEXT, base, [1], [parse_set("shared=6,7")], [], 64)
    [first] = plan_sweep(TEXT, base, [1, 2], [parse_set("lr=0.3")], [], 64)
    assert first.name.basename == "jokes-003"
    [again] = plan_sweep(first.text, ConfigName("jokes", 3), [1, 2, 3], [parse_set("lr=0.4")], [], 64)
    assert again.text.splitlines()[0] == f"{HEADER_PREFIX}of jokes-003 (jokes-004): lr=0.4"
    lines = first.text.splitlines()
    assert again.text.splitlines()[1:] == [lines[1], "lr: 0.4  # the rate", *lines[3:]]
