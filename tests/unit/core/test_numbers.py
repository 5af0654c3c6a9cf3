"""One reading of a config's numbers: PyYAML leaves `1e-5` a string, and every check reads it as Axolotl does."""

from __future__ import annotations

import pytest
import yaml

from pipeline.core.numbers import as_number


@pytest.mark.parametrize(("yaml_text", "number"), [
    ("1e-5", 0.00001), ("9.5e-05", 0.000095), ("32", 32.0), ("'0.1'", 0.1), ("-2", -2.0),
    ("true", None), ("null", None), ("adamw_torch", None), (".inf", None), ("'nan'", None), ("[1]", None),
])
def test_a_yaml_value_reads_as_the_number_it_means(yaml_text: str, number: float | None) -> None:
    assert as_number(yaml.safe_load(f"value: {yaml_text}")["value"]) == number
